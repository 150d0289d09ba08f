#include "zephyr/graph.h"

#include <fmt/format.h>

#include "node_log.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace zephyr {

const char* mnemonic(OpKind op) {
  switch (op) {
#define ZEPHYR_OP(kind, text) case OpKind::kind: return text;
#include "zephyr/op_kinds.def"
#undef ZEPHYR_OP
  }
  return "?";
}

namespace detail {

namespace {
thread_local NodeLog* open_log = nullptr;
}  // namespace

NodeLog::NodeLog() : enclosing_(open_log) { open_log = this; }

NodeLog::~NodeLog() {
  open_log = enclosing_;
  if (enclosing_) enclosing_->nodes_.insert(enclosing_->nodes_.end(), nodes_.begin(), nodes_.end());
}

void NodeLog::record(const NodePtr& node) {
  if (open_log) open_log->nodes_.push_back(node);
}

}  // namespace detail

NodePtr make_node(OpKind op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attrs attrs,
                  SourceLoc loc) {
  NodePtr node = std::make_shared<const Node>(Node{op, dtype, std::move(shape), std::move(inputs), std::move(attrs), loc});
  detail::NodeLog::record(node);
  return node;
}

std::vector<const Node*> topological_order(const std::vector<NodePtr>& results) {
  // Iterative DFS: graphs of deep networks would overflow a recursive walk.
  std::vector<const Node*> order;
  std::unordered_set<const Node*> done;
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const NodePtr& root : results) {
    if (done.count(root.get())) continue;
    stack.push_back({root.get(), 0});
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->inputs.size()) {
        const Node* child = node->inputs[next++].get();
        if (!done.count(child)) stack.push_back({child, 0});
        continue;
      }
      if (done.insert(node).second) order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

Function substitute(const Function& fn, const std::unordered_map<const Node*, NodePtr>& replacements) {
  std::unordered_map<const Node*, NodePtr> rebuilt = replacements;
  Function out;
  out.name = fn.name;
  for (const NodePtr& a : fn.arguments) {
    auto it = rebuilt.find(a.get());
    if (it == rebuilt.end()) out.arguments.push_back(a);
    else if (it->second->op == OpKind::Argument) out.arguments.push_back(it->second);  // renamed, still an argument
  }
  for (const Node* n : topological_order(fn.results)) {
    if (rebuilt.count(n) || n->inputs.empty()) continue;
    bool changed = false;
    std::vector<NodePtr> inputs;
    for (const NodePtr& in : n->inputs) {
      auto it = rebuilt.find(in.get());
      inputs.push_back(it != rebuilt.end() ? it->second : in);
      changed |= it != rebuilt.end();
    }
    if (changed) rebuilt[n] = make_node(n->op, n->dtype, n->shape, std::move(inputs), n->attrs, n->loc);
  }
  for (const NodePtr& r : fn.results) {
    auto it = rebuilt.find(r.get());
    out.results.push_back(it != rebuilt.end() ? it->second : r);
  }
  out.result_names = fn.result_names;
  return out;
}

Function rename_results(const Function& fn, const std::vector<std::pair<std::string, std::string>>& prefixes) {
  Function out = fn;
  for (std::string& name : out.result_names)
    for (const auto& [from, to] : prefixes)
      if (name == from || name.starts_with(from + "/")) {
        name = to + name.substr(from.size());
        break;
      }
  return out;
}

Function rename_arguments(const Function& fn, const std::vector<std::pair<std::string, std::string>>& names) {
  std::unordered_map<const Node*, NodePtr> replacements;
  for (const NodePtr& a : fn.arguments)
    for (const auto& [from, to] : names)
      if (a->attrs.name == from) {
        Attrs attrs = a->attrs;
        attrs.name = to;
        replacements[a.get()] = make_node(OpKind::Argument, a->dtype, a->shape, {}, std::move(attrs), a->loc);
      }
  return substitute(fn, replacements);
}

Function bind_constants(const Function& fn, const std::vector<std::pair<std::string, Array>>& values) {
  std::unordered_map<const Node*, NodePtr> replacements;
  for (const NodePtr& a : fn.arguments) {
    auto it = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == a->attrs.name; });
    if (it == values.end()) continue;
    if (it->second.shape() != a->shape || it->second.dtype() != a->dtype)
      throw Error(fmt::format("[bind_constants] '{}' is {} in the function but {} in the weights", a->attrs.name,
                              describe(a->dtype, a->shape), describe(it->second.dtype(), it->second.shape())));
    Attrs attrs;
    attrs.value = it->second;
    replacements[a.get()] = make_node(OpKind::Constant, a->dtype, a->shape, {}, std::move(attrs), a->loc);
  }
  return substitute(fn, replacements);
}

}  // namespace zephyr
