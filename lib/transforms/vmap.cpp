// The batching sweep under vmap: in topological order, each node with a batched input is
// rebuilt by its primitive's batching rule (lib/primitives/), the batch leading throughout.
#include "zephyr/vmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "../primitives/rules.h"

namespace zephyr {

using primitives::with_batch;

std::vector<Tensor> batch(const std::vector<Tensor>& outputs, const std::vector<Tensor>& examples,
                          const std::vector<Tensor>& batched) {
  if (examples.empty() || examples.size() != batched.size())
    throw Error(fmt::format("[vmap] {} examples but {} batched values", examples.size(), batched.size()));
  const int64_t size = batched[0].ndim() > 0 ? batched[0].shape()[0] : 0;
  std::unordered_map<const Node*, Tensor> value;
  for (size_t i = 0; i < examples.size(); ++i) {
    const Tensor &e = examples[i], &b = batched[i];
    if (b.shape() != with_batch(size, e.shape()) || b.dtype() != e.dtype())
      throw Error(fmt::format("[vmap] batched value {} is {}, but its example is {} in a batch of {}", i,
                              describe(b.dtype(), b.shape()), describe(e.dtype(), e.shape()), size));
    value[e.node().get()] = b;
  }
  std::vector<NodePtr> roots;
  for (const Tensor& o : outputs) roots.push_back(o.node());
  const std::vector<const Node*> order = topological_order(roots);
  const auto owner = primitives::owners(roots, order);

  std::vector<Tensor> inputs;
  std::vector<bool> is_batched;
  for (const Node* n : order) {
    if (value.count(n)) continue;
    inputs.clear();
    is_batched.clear();
    for (const NodePtr& in : n->inputs) {
      auto found = value.find(in.get());
      is_batched.push_back(found != value.end());
      inputs.push_back(found != value.end() ? found->second : Tensor(in));
    }
    if (std::find(is_batched.begin(), is_batched.end(), true) == is_batched.end()) continue;  // shared by all
    const primitives::Primitive& record = primitives::primitive(n->op);
    Tensor t = record.batch.get()(owner.at(n), inputs, is_batched);
    // A rule's contract, checked here once rather than trusted in every caller.
    if (t.shape() != with_batch(size, n->shape) || t.dtype() != n->dtype)
      fail_at(n->loc, mnemonic(n->op), fmt::format("[vmap] internal: the batching rule gave {} for {} examples of {}",
                                                   describe(t.dtype(), t.shape()), size, describe(n->dtype, n->shape)));
    value[n] = std::move(t);
  }
  std::vector<Tensor> out;
  for (const Tensor& o : outputs) {
    auto found = value.find(o.node().get());
    out.push_back(found != value.end() ? found->second : broadcast_to(o, with_batch(size, o.shape())));
  }
  return out;
}

namespace detail {

Tensor VmapArguments::example(const Tensor& x, const BatchAxis& axis, size_t index, const std::string& leaf) {
  if (!axis) return x;
  const std::string what = leaf.empty() ? fmt::format("argument {}", index) : fmt::format("argument {} at '{}'", index, leaf);
  const int64_t rank = x.ndim(), a = *axis < 0 ? *axis + rank : *axis;
  if (a < 0 || a >= rank)
    fail_at(where_, "vmap", fmt::format("{} is {}: it has no axis {} to map over", what, describe(x.dtype(), x.shape()),
                                        *axis));
  Tensor leading = a == 0 ? x : moveaxis(x, a, 0);
  const int64_t size = leading.shape()[0];
  if (!batched_.empty() && batched_[0].shape()[0] != size)
    fail_at(where_, "vmap", fmt::format("{} has {} examples on axis {} ({}), but the arguments mapped before it have {}", what, size,
                                        *axis, describe(x.dtype(), x.shape()), batched_[0].shape()[0]));
  const Shape example(leading.shape().begin() + 1, leading.shape().end());
  Attrs attrs;
  attrs.name = leaf.empty() ? fmt::format("vmap/example{}", index) : fmt::format("vmap/example{}/{}", index, leaf);
  examples_.push_back(Tensor(make_node(OpKind::Argument, x.dtype(), example, {}, std::move(attrs), where_)));
  batched_.push_back(std::move(leading));
  return examples_.back();
}

Params VmapArguments::example(const Params& p, const BatchAxis& axis, size_t index) {
  if (!axis) return p;
  std::vector<std::string> paths;
  for (const auto& [path, leaf] : p.leaves()) paths.push_back(path);
  // A leaf's stand-in is made when the model first uses it; the scope keeps it from then on.
  auto leaf = [this, p, axis, index](const std::string& path) { return example(p[path].tensor(), axis, index, path); };
  return Params(ParamScope::mapped(std::move(paths), leaf, fmt::format("argument {} of vmap", index)), "");
}

TensorTree VmapArguments::example(const TensorTree& tree, const BatchAxis& axis, size_t index) {
  if (!axis) return tree;
  std::vector<TensorTree::Leaf> leaves;
  for (const auto& [path, t] : tree) leaves.push_back({path, example(t, axis, index, path)});
  return TensorTree(std::move(leaves));
}

std::vector<Tensor> batch_results(const std::vector<Tensor>& results, const VmapArguments& arguments,
                                  int64_t out_axis) {
  if (arguments.examples().empty())
    fail_at(arguments.where(), "vmap", "no argument is batched: give at least one Tensor argument a batch axis");
  for (const Tensor& r : results)
    if (!r.defined()) fail_at(arguments.where(), "vmap", "the function returned an empty Tensor");
  std::vector<Tensor> all = results;
  for (const RuntimeCheck& c : arguments.checks()) all.push_back(c.failures);
  std::vector<Tensor> out = batch(all, arguments.examples(), arguments.batched());
  const int64_t size = arguments.batched()[0].shape()[0];
  for (size_t i = 0; i < arguments.checks().size(); ++i) {
    const RuntimeCheck& c = arguments.checks()[i];
    record_check({sum(out[results.size() + i]), c.size < 0 ? -1 : c.size * size, c.message, c.at_least});
  }
  out.resize(results.size());
  for (Tensor& t : out) {
    const int64_t rank = t.ndim(), axis = out_axis < 0 ? out_axis + rank : out_axis;
    if (axis < 0 || axis >= rank)
      fail_at(arguments.where(), "vmap", fmt::format("out_axis {} is out of range for a result of {}", out_axis,
                                                     describe(t.dtype(), t.shape())));
    if (axis != 0) t = moveaxis(t, 0, axis);
  }
  return out;
}

}  // namespace detail
}  // namespace zephyr
