#include "readers.h"

#include <algorithm>

#include "../primitives/primitive.h"

namespace zephyr::compiler {
namespace {
bool elementwise(const Node* n) { return primitives::primitive(n->op).elementwise; }
}  // namespace

Readers::Readers(const std::vector<const Node*>& order, const std::vector<NodePtr>& results) {
  for (const NodePtr& r : results) results_.insert(r.get());
  std::unordered_map<const Node*, std::vector<const Node*>> users;  // distinct, in order
  for (const Node* n : order)
    for (const NodePtr& in : n->inputs) {
      std::vector<const Node*>& u = users[in.get()];
      if (u.empty() || u.back() != n) u.push_back(n);
    }
  // Users come after their operands: in reverse order, a comparison's readers are known.
  for (auto n = order.rbegin(); n != order.rend(); ++n) {
    std::vector<const Node*>& readers = readers_[*n];
    auto add = [&readers](const Node* r) {
      if (std::find(readers.begin(), readers.end(), r) == readers.end()) readers.push_back(r);
    };
    if (auto u = users.find(*n); u != users.end())
      for (const Node* user : u->second)
        if (copied_into_users(user)) std::ranges::for_each(readers_.at(user), add);
        else add(user);
  }
}

const std::vector<const Node*>& Readers::of(const Node* n) const {
  static const std::vector<const Node*> none;
  auto it = readers_.find(n);
  return it == readers_.end() ? none : it->second;
}

bool Readers::copied_into_users(const Node* n) const {
  return elementwise(n) && n->dtype == DType::bool_ && !is_result(n);
}

bool Readers::one_elementwise_loop(const Node* n) const {
  const std::vector<const Node*>& readers = of(n);
  return !is_result(n) && readers.size() == 1 && elementwise(readers[0]);
}

}  // namespace zephyr::compiler
