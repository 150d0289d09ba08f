// The graph as Graphviz DOT (`zephyr ir --stage graph --format dot|svg`): one box per op with
// its shape and the user's file:line, parameters grouped in nested clusters by their paths, and
// each control-flow body drawn as a cluster of its own under the node that runs it.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <unordered_map>

#include "primitive.h"

namespace zephyr {
namespace {

// A DOT string literal: quotes and backslashes escaped, line breaks as DOT's centred "\n".
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// "lib/model.cpp:12:7" -> "model.cpp:12": enough to find the line, short enough for a box.
std::string short_location(const SourceLoc& loc) {
  if (!loc.line) return "";
  std::string file = loc.file;
  if (size_t slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  return fmt::format("{}:{}", file, loc.line);
}

// Arguments by path: "encoder/mlp_1/0/weights" sits in cluster encoder, inside it mlp_1, inside
// that 0. Names without '/' (inputs, "step") stay outside every cluster.
struct PathCluster {
  std::vector<std::string> nodes;  // DOT statements of the arguments directly here
  std::map<std::string, std::unique_ptr<PathCluster>> children;
};

class DotWriter {
 public:
  std::string graph(const Function& fn) {
    out_ = fmt::format("digraph {} {{\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", quoted(fn.name));
    function(fn, "", 1);
    out_ += "}\n";
    return out_;
  }

 private:
  // Writes `fn`'s nodes, prefixing ids with `prefix` so a body's nodes never collide with the
  // outer graph's; returns the ids of its results.
  std::vector<std::string> function(const Function& fn, const std::string& prefix, int depth) {
    const std::string indent(2 * depth, ' ');
    std::unordered_map<const Node*, std::string> ids;
    PathCluster params;
    for (size_t i = 0; i < fn.arguments.size(); ++i) {
      const Node* a = fn.arguments[i].get();
      std::string id = fmt::format("{}a{}", prefix, i);
      ids[a] = id;
      const std::string& name = a->attrs.name;
      PathCluster* cluster = &params;
      size_t begin = 0;
      for (size_t slash; (slash = name.find('/', begin)) != std::string::npos; begin = slash + 1) {
        auto& child = cluster->children[name.substr(begin, slash - begin)];
        if (!child) child = std::make_unique<PathCluster>();
        cluster = child.get();
      }
      cluster->nodes.push_back(fmt::format("{} [shape=ellipse, label={}, tooltip={}];", id,
                                           quoted(name.substr(begin) + "\n" + describe(a->dtype, a->shape)),
                                           quoted(name)));
    }
    clusters(params, prefix + "p", depth);

    int counter = 0;
    for (const Node* n : topological_order(fn.results)) {
      if (ids.count(n)) continue;
      std::string id = fmt::format("{}n{}", prefix, counter++);
      ids[n] = id;
      std::string label = mnemonic(n->op) + primitives::print_attrs(n->op, n->attrs);
      label += "\n" + describe(n->dtype, n->shape);
      if (std::string where = short_location(n->loc); !where.empty()) label += "\n" + where;
      out_ += fmt::format("{}{} [label={}, tooltip={}];\n", indent, id, quoted(label), quoted(n->loc.str()));
      for (const NodePtr& in : n->inputs) out_ += fmt::format("{}{} -> {};\n", indent, ids.at(in.get()), id);
      if (n->attrs.loop) {  // the body, in a dashed box joined to its node
        out_ += fmt::format("{}subgraph {} {{\n{}  label={}; style=dashed;\n", indent, quoted("cluster_" + id), indent,
                            quoted(std::string("body of ") + mnemonic(n->op)));
        for (const std::string& result : function(n->attrs.loop->body, id + "_", depth + 1))
          out_ += fmt::format("{}  {} -> {} [style=dashed];\n", indent, result, id);
        out_ += indent + "}\n";
      }
    }
    std::vector<std::string> results;
    for (size_t i = 0; i < fn.results.size(); ++i) {
      std::string name = i < fn.result_names.size() && !fn.result_names[i].empty() ? fn.result_names[i]
                                                                                   : fmt::format("result {}", i);
      std::string id = fmt::format("{}r{}", prefix, i);
      out_ += fmt::format("{}{} [shape=plaintext, label={}];\n{}{} -> {};\n", indent, id, quoted(name), indent,
                          ids.at(fn.results[i].get()), id);
      results.push_back(id);
    }
    return results;
  }

  void clusters(const PathCluster& cluster, const std::string& id, int depth) {
    const std::string indent(2 * depth, ' ');
    for (const std::string& node : cluster.nodes) out_ += indent + node + "\n";
    int i = 0;
    for (const auto& [component, child] : cluster.children) {
      std::string child_id = fmt::format("{}_{}", id, i++);
      out_ += fmt::format("{}subgraph {} {{\n{}  label={}; style=rounded; color=gray;\n", indent,
                          quoted("cluster_" + child_id), indent, quoted(component));
      clusters(*child, child_id, depth + 1);
      out_ += indent + "}\n";
    }
  }

  std::string out_;
};

}  // namespace

std::string graph_dot(const Function& function) { return DotWriter().graph(function); }

}  // namespace zephyr
