// The textual graph (`zephyr ir --stage graph`): one line per node, attributes as each op's
// record declares them, so a new attribute prints without touching the printer.
#include <fmt/format.h>

#include <unordered_map>

#include "primitive.h"

namespace zephyr {

std::string print_graph(const Function& fn, bool with_locations) {
  std::unordered_map<const Node*, std::string> names;
  std::string out = fmt::format("func @{}(", fn.name);
  for (size_t i = 0; i < fn.arguments.size(); ++i) {
    const Node* a = fn.arguments[i].get();
    names[a] = "%" + a->attrs.name;
    out += fmt::format("{}{}: {}", i ? ", " : "", names[a], describe(a->dtype, a->shape));
  }
  out += ") {\n";
  int counter = 0;
  for (const Node* n : topological_order(fn.results)) {
    if (names.count(n)) continue;
    std::string id = fmt::format("%{}", counter++);
    names[n] = id;
    std::vector<std::string> operands;
    for (const NodePtr& in : n->inputs) operands.push_back(names.at(in.get()));
    // An argument not in the signature prints its name (a declared attribute).
    out += fmt::format("  {} = {}({}){} : {}", id, mnemonic(n->op), fmt::join(operands, ", "),
                       primitives::print_attrs(n->op, n->attrs), describe(n->dtype, n->shape));
    if (with_locations && n->loc.line) out += "  // " + n->loc.str();
    out += "\n";
    if (n->attrs.loop) {  // a scan's, while's or cond's body, indented under its node
      const std::string body = print_graph(n->attrs.loop->body, with_locations);
      for (size_t at = 0, end; at < body.size(); at = end + 1) {
        end = body.find('\n', at);
        if (end == std::string::npos) end = body.size();
        out += "    " + body.substr(at, end - at) + "\n";
      }
    }
  }
  std::vector<std::string> results;
  for (const NodePtr& r : fn.results) results.push_back(names.at(r.get()));
  out += fmt::format("  return {}\n}}\n", fmt::join(results, ", "));
  return out;
}

}  // namespace zephyr
