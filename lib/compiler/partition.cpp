#include "partition.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "../core/fnv1a.h"
#include "../primitives/primitive.h"
#include "readers.h"

namespace zephyr::compiler {
namespace {

bool elementwise(OpKind op) { return primitives::primitive(op).elementwise; }

void put(std::string& out, int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put(std::string& out, const std::vector<int64_t>& v) {
  put(out, static_cast<int64_t>(v.size()));
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
}

class Partitioner {
 public:
  Partitioner(const Function& fn, const PartitionOptions& options)
      : fn_(fn),
        order_(topological_order(fn.results)),
        readers_(order_, fn.results),
        locations_(options.locations),
        every_op_(options.every_op) {
    for (const Node* n : order_)
      for (const NodePtr& in : n->inputs) ++users_[in.get()];
    for (const NodePtr& r : fn.results) ++users_[r.get()];  // a result is one more use
    for (const NodePtr& r : fn.results) result_.insert({r.get(), true});
    for (const Node* n : order_) materialized_[n] = decide(n);
    for (const Node* n : order_) store_before_reshape(n);
    if (!every_op_)
      for (auto n = order_.rbegin(); n != order_.rend(); ++n) join_sibling(*n);
  }

  Schedule run() {
    Schedule s;
    s.arguments = fn_.arguments.size();
    for (const NodePtr& a : fn_.arguments) value_of(s, a.get());
    std::unordered_map<std::string, size_t> kernel_of_key;
    for (const Node* n : order_) {
      if (n->op == OpKind::Argument || !materialized_.at(n) || computed_in_.count(n)) continue;
      KernelCall call;
      Function kernel = kernel_rooted_at(s, n, call.inputs);
      std::string key = structural_key(kernel);
      auto [it, fresh] = kernel_of_key.try_emplace(key, s.kernels.size());
      if (fresh) {
        // The compile cache compares whole keys: a hash collision could at worst clash two
        // symbol names in one link, which the linker reports.
        kernel.name = fmt::format("zk_{:016x}", fnv1a(key.data(), key.size()));
        s.kernels.push_back(std::move(kernel));
        s.keys.push_back(std::move(key));
      }
      call.kernel = it->second;
      call.outputs.push_back(value_of(s, n));
      for (const Node* sibling : siblings_written_by(n)) call.outputs.push_back(value_of(s, sibling));
      const std::string where = n->loc.str();
      call.origin = where.empty() ? mnemonic(n->op) : fmt::format("{} at {}", mnemonic(n->op), where);
      s.calls.push_back(std::move(call));
    }
    for (const NodePtr& r : fn_.results) s.results.push_back(value_of(s, r.get()));
    return s;
  }

 private:
  // Whether `n` is a kernel's output (read by its users' kernels) or lives inside its users'.
  bool decide(const Node* n) const {
    if (n->op == OpKind::Argument || result_.count(n)) return true;
    // An ordering edge: each user's kernel reads both operands, so it runs after both exist.
    if (n->op == OpKind::After) return false;
    // Copied into each user's kernel: literals; comparisons, which the pipeline also recomputes
    // in each user rather than store as bytes; and views (reshapes) of values that are stored anyway.
    if (n->op == OpKind::Constant) return false;
    if (readers_.copied_into_users(n)) return false;
    if (n->op == OpKind::Reshape && materialized_.at(n->inputs[0].get())) return false;
    return every_op_ || (users_.at(n) > 1 && !readers_.one_elementwise_loop(n));
  }

  // A kernel whose root is a reshape stores what the reshape reads and then copies it into its
  // output (the result is a view, not a buffer bufferization can write in place): its operand
  // (the first non-reshape below it) is stored instead, and the reshape becomes a view that each
  // user's kernel applies to it. The function's results still get their own buffers, and
  // comparisons and literals stay recomputed in their users.
  void store_before_reshape(const Node* n) {
    if (n->op != OpKind::Reshape || !materialized_.at(n) || result_.count(n)) return;
    const Node* base = n->inputs[0].get();
    while (base->op == OpKind::Reshape && !materialized_.at(base)) base = base->inputs[0].get();
    if (materialized_.at(base) || base->op == OpKind::Constant || base->op == OpKind::After ||
        base->dtype == DType::bool_)
      return;
    materialized_[base] = true;
    for (const Node* v = n; v != base; v = v->inputs[0].get()) materialized_[v] = false;
  }

  // The root of the one kernel that computes `n` in the same loop as its root, or null: `n` is
  // copied into each user's kernel, or reaches its root through a view or another kind of op. Nodes
  // are asked in reverse topological order, so every user of `n` already has its answer.
  const Node* home(const Node* n) const {
    for (;;) {
      if (auto it = computed_in_.find(n); it != computed_in_.end()) return it->second;
      if (materialized_.at(n)) return n;
      if (!elementwise(n->op) || n->dtype == DType::bool_ || users_.at(n) != 1) return nullptr;
      n = readers_.users(n).front();
    }
  }

  // Siblings (see partition.h): a stored elementwise value whose users all lie in one kernel whose
  // root is elementwise and of the value's shape is computed in that kernel instead. It stays a
  // value of the schedule only if it is a result (the kernel's extra output); otherwise it is one
  // more fused node of the kernel. No cycle can form: every reader of the value is in that kernel.
  void join_sibling(const Node* n) {
    if (n->op == OpKind::Argument || !materialized_.at(n) || !elementwise(n->op) || n->dtype == DType::bool_) return;
    const std::vector<const Node*>& users = readers_.users(n);
    if (users.empty()) return;  // only a result
    const Node* root = nullptr;
    for (const Node* u : users) {
      const Node* h = home(u);
      if (!h || (root && h != root)) return;
      root = h;
    }
    if (!elementwise(root->op) || root->dtype == DType::bool_ || root->shape != n->shape) return;
    computed_in_[n] = root;
    if (result_.count(n)) {
      outputs_[root].push_back(n);
    } else {
      materialized_[n] = false;
    }
  }

  // The results computed in `root`'s kernel besides `root` itself (join_sibling).
  const std::vector<const Node*>& siblings_written_by(const Node* root) const {
    static const std::vector<const Node*> none;
    auto it = outputs_.find(root);
    return it == outputs_.end() ? none : it->second;
  }

  size_t value_of(Schedule& s, const Node* n) {
    auto [it, fresh] = values_.try_emplace(n, s.values.size());
    if (fresh) s.values.push_back({n->shape, n->dtype});
    return it->second;
  }

  // `root` and the nodes only it uses, as a Function whose arguments are the materialized values
  // it reads (their value ids go to `inputs`, in argument order).
  Function kernel_rooted_at(Schedule& s, const Node* root, std::vector<size_t>& inputs) {
    Function kernel;
    std::unordered_map<const Node*, NodePtr> clone;
    std::vector<std::pair<const Node*, size_t>> stack{{root, 0}};
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      // Read from another kernel or the caller, unless it is a sibling computed here.
      auto joined = computed_in_.find(node);
      const bool computed_here = joined != computed_in_.end() && joined->second == root;
      if (node != root && materialized_.at(node) && !computed_here) {
        if (!clone.count(node)) {
          Attrs attrs;
          attrs.name = fmt::format("k{}", kernel.arguments.size());
          clone[node] = make_node(OpKind::Argument, node->dtype, node->shape, {}, std::move(attrs), {});
          kernel.arguments.push_back(clone[node]);
          inputs.push_back(value_of(s, node));
        }
        stack.pop_back();
        continue;
      }
      if (next < node->inputs.size()) {
        const Node* child = node->inputs[next++].get();
        if (!clone.count(child)) stack.push_back({child, 0});
        continue;
      }
      if (!clone.count(node)) {
        std::vector<NodePtr> operands;
        for (const NodePtr& in : node->inputs) operands.push_back(clone.at(in.get()));
        // A kernel is shared by every place that computes the same thing, so it has no source
        // location of its own; IR dumps may show its first instance's.
        clone[node] = make_node(node->op, node->dtype, node->shape, std::move(operands), node->attrs,
                                locations_ ? node->loc : SourceLoc{});
      }
      stack.pop_back();
    }
    kernel.results.push_back(clone.at(root));
    for (const Node* sibling : siblings_written_by(root)) kernel.results.push_back(clone.at(sibling));
    return kernel;
  }

  const Function& fn_;
  std::vector<const Node*> order_;
  Readers readers_;
  bool locations_, every_op_;
  std::unordered_map<const Node*, int> users_;  // uses, counting a node read twice by one user twice
  std::unordered_map<const Node*, const Node*> computed_in_;            // sibling -> its kernel's root
  std::unordered_map<const Node*, std::vector<const Node*>> outputs_;   // root -> its sibling results
  std::unordered_map<const Node*, bool> result_;
  std::unordered_map<const Node*, bool> materialized_;
  std::unordered_map<const Node*, size_t> values_;
};

// Nodes that order or carry gradients but compute nothing, gone before partitioning: a
// custom_vjp node's value is its last operand (the gradient it carries has been taken by now), so
// its users read that operand rather than a kernel that copies it. A result that is an `after`
// edge is its operand: the results are written at the end, so there is nothing left to order.
Function without_gradient_rules(const Function& function) {
  const std::vector<const Node*> order = topological_order(function.results);
  auto is_gone = [](const NodePtr& r) { return r->op == OpKind::After; };
  if (std::none_of(order.begin(), order.end(), [](const Node* n) { return n->op == OpKind::CustomVjp; }) &&
      std::none_of(function.results.begin(), function.results.end(), is_gone))
    return function;
  std::unordered_map<const Node*, NodePtr> now;  // the node each changed one becomes
  auto current = [&](const NodePtr& n) {
    auto it = now.find(n.get());
    return it != now.end() ? it->second : n;
  };
  for (const Node* n : order) {
    if (n->op == OpKind::CustomVjp) {
      now[n] = current(n->inputs.back());
      continue;
    }
    std::vector<NodePtr> inputs;
    bool changed = false;
    for (const NodePtr& in : n->inputs) {
      inputs.push_back(current(in));
      changed |= inputs.back() != in;
    }
    if (changed) now[n] = make_node(n->op, n->dtype, n->shape, std::move(inputs), n->attrs, n->loc);
  }
  Function out = function;
  for (NodePtr& r : out.results) {
    r = current(r);
    while (is_gone(r)) r = r->inputs[0];
  }
  return out;
}

}  // namespace

Schedule partition(const Function& function, const PartitionOptions& options) {
  Schedule s = Partitioner(without_gradient_rules(function), options).run();
  order_for_memory(s);
  return s;
}

std::string structural_key(const Function& kernel) {
  std::unordered_map<const Node*, int64_t> index;
  for (size_t i = 0; i < kernel.arguments.size(); ++i) index[kernel.arguments[i].get()] = -1 - static_cast<int64_t>(i);
  std::string key;
  int64_t next = 0;
  for (const Node* n : topological_order(kernel.results)) {
    if (index.count(n)) continue;
    index[n] = next++;
    put(key, static_cast<int64_t>(n->op));
    put(key, static_cast<int64_t>(n->dtype));
    put(key, n->shape);
    std::vector<int64_t> operands;
    for (const NodePtr& in : n->inputs) operands.push_back(index.at(in.get()));
    put(key, operands);
    const Attrs& a = n->attrs;
    for (const auto* field : {&a.axes, &a.starts, &a.strides, &a.low, &a.high, &a.interior}) put(key, *field);
    put(key, a.axis);
    if (a.loop) {  // a scan: its body's own key, and how it steps
      put(key, static_cast<int64_t>(a.loop->xs * 4 + a.loop->reverse * 2 + a.loop->stacked));
      const std::string body = structural_key(a.loop->body);
      put(key, static_cast<int64_t>(body.size()));
      key += body;
    }
    if (a.value.defined()) {
      put(key, static_cast<int64_t>(a.value.dtype()));
      put(key, a.value.shape());
      key.append(static_cast<const char*>(a.value.raw()), static_cast<size_t>(a.value.nbytes()));
    } else {
      put(key, -1);
    }
  }
  for (const NodePtr& a : kernel.arguments) {  // argument types, by position
    put(key, static_cast<int64_t>(a->dtype));
    put(key, a->shape);
  }
  std::vector<int64_t> results;
  for (const NodePtr& r : kernel.results) results.push_back(index.at(r.get()));
  put(key, results);
  return key;
}

}  // namespace zephyr::compiler
