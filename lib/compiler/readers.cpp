#include "readers.h"

#include <algorithm>

#include "../primitives/primitive.h"

namespace zephyr::compiler {
namespace {
bool elementwise(const Node* n) { return primitives::primitive(n->op).elementwise; }
}  // namespace

Readers::Readers(const std::vector<const Node*>& order, const std::vector<NodePtr>& results) {
  for (const NodePtr& r : results) results_.insert(r.get());
  for (const Node* n : order)
    for (const NodePtr& in : n->inputs) {
      std::vector<const Node*>& u = users_[in.get()];
      if (u.empty() || u.back() != n) u.push_back(n);
    }
  // Users come after their operands: in reverse order, a comparison's readers are known.
  for (auto n = order.rbegin(); n != order.rend(); ++n) {
    std::vector<const Node*>& readers = readers_[*n];
    auto add = [&readers](const Node* r) {
      if (std::find(readers.begin(), readers.end(), r) == readers.end()) readers.push_back(r);
    };
    for (const Node* user : users(*n))
      if (copied_into_users(user)) std::ranges::for_each(readers_.at(user), add);
      else add(user);
  }
}

namespace {
const std::vector<const Node*>& entry(const std::unordered_map<const Node*, std::vector<const Node*>>& map,
                                      const Node* n) {
  static const std::vector<const Node*> none;
  auto it = map.find(n);
  return it == map.end() ? none : it->second;
}
}  // namespace

const std::vector<const Node*>& Readers::of(const Node* n) const { return entry(readers_, n); }
const std::vector<const Node*>& Readers::users(const Node* n) const { return entry(users_, n); }

bool Readers::copied_into_users(const Node* n) const {
  return elementwise(n) && n->dtype == DType::bool_ && !is_result(n);
}

bool Readers::one_elementwise_loop(const Node* n) const {
  const std::vector<const Node*>& readers = of(n);
  return !is_result(n) && readers.size() == 1 && elementwise(readers[0]);
}

}  // namespace zephyr::compiler
