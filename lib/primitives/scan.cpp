// Scan: a loop whose body is a graph of its own (Attrs::loop), run once per slice of its scanned
// operands. Its rules are built from the body's: the VJP is a scan in the other direction over
// the saved carries, the JVP a scan of the body's JVP, the batching rule a scan of the batched
// body. Only the loop over the carry runs step by step; what can be computed for every step at
// once (the cotangents of xs) is, by vmap of the body's VJP.
#include <fmt/format.h>

#include <cstring>
#include <unordered_map>

#include "region.h"
#include "rules.h"
#include "zephyr/autodiff.h"
#include "zephyr/interpret.h"
#include "zephyr/vmap.h"

namespace zephyr {
namespace primitives {
namespace {

const Loop& loop_of(const Node& n) { return *n.attrs.loop; }
int64_t steps(const Node& n) { return n.inputs[1]->shape[0]; }
Shape step_shape(const Shape& s) { return Shape(s.begin() + 1, s.end()); }

Tensor zeros_like(const Tensor& t) { return full(t.shape(), 0.0, t.dtype()); }

// The scan node `n` with every step's carry as its value, whatever n's own.
Tensor stacked_twin(const NodePtr& n) {
  if (loop_of(*n).stacked) return Tensor(n);
  auto loop = std::make_shared<Loop>(loop_of(*n));
  loop->stacked = true;
  Attrs attrs;
  attrs.loop = std::move(loop);
  return build(OpKind::Scan, n->inputs, std::move(attrs), n->loc);
}

// The cotangent each step's result gets from the step after it: `from_entry[t]` is the
// cotangent of the carry step t started from, and `last` the cotangent of the final carry.
Tensor cotangent_after(const Tensor& from_entry, const Tensor& last, bool reverse) {
  const int64_t T = from_entry.shape()[0];
  const Tensor end = expand_dims(last, 0);
  if (T == 1) return end;
  return reverse ? concat({end, slice(from_entry, 0, 0, T - 1)}, 0) : concat({slice(from_entry, 0, 1, T), end}, 0);
}

// The VJP: cotangents of the initial carry, of each xs and of each captured value.
std::vector<Tensor> scan_vjp(const NodePtr& n, const Tensor& g) {
  const Loop& loop = loop_of(*n);
  const Function& body = loop.body;
  const size_t k = loop.xs, operands = n->inputs.size();
  if (!is_float(n->dtype)) return {};
  const Node& carry = *n->inputs[0];
  const Tensor init(n->inputs[0]);
  const Tensor stacked = stacked_twin(n);
  const Tensor entry = previous_carries(stacked, init, loop.reverse);  // [T, carry]

  // The body's VJP, in terms of its own arguments and u, the cotangent of its result.
  const Tensor u = stand_in_like(carry, "scan/cotangent");
  std::vector<Tensor> wrt;
  for (const NodePtr& a : body.arguments)
    if (is_float(a->dtype)) wrt.push_back(Tensor(a));
  const std::vector<Tensor> found = vjp(Tensor(body.results[0]), u, wrt);
  std::vector<Tensor> grad(operands);  // per body argument
  for (size_t i = 0, next = 0; i < operands; ++i)
    if (is_float(body.arguments[i]->dtype)) grad[i] = found[next++];
  Replacements captured;  // the body's captured arguments are the node's operands outside it
  for (size_t j = 1 + k; j < operands; ++j) captured[body.arguments[j].get()] = n->inputs[j];

  // 1. The cotangent of the carry each step started from: a scan in the other direction.
  const Tensor last = loop.stacked ? zeros_like(init) : g;
  const Tensor a = stand_in_like(carry, "scan/carry_cotangent");
  const Tensor step_g = stand_in_like(carry, "scan/step_cotangent");
  Replacements at_step = captured;
  at_step[u.node().get()] = (loop.stacked ? a + step_g : a).node();
  std::vector<Tensor> xs{entry}, variants{a, Tensor(body.arguments[0])};
  for (size_t i = 1; i <= k; ++i) {
    xs.push_back(input(n, i));
    variants.push_back(Tensor(body.arguments[i]));
  }
  if (loop.stacked) {
    xs.push_back(g);
    variants.push_back(step_g);
  }
  const Tensor from_entry = scan_node(last, xs, variants, substituted(grad[0], at_step), !loop.reverse,
                                              true, n->loc);
  Tensor after = cotangent_after(from_entry, last, loop.reverse);  // of each step's result
  if (loop.stacked) after = after + g;

  std::vector<Tensor> out(operands);
  out[0] = row(from_entry, loop.reverse ? steps(*n) - 1 : 0);

  // 2. The cotangents of xs, every step at once.
  std::vector<Tensor> examples{Tensor(body.arguments[0])}, batched{entry}, per_step;
  for (size_t i = 1; i <= k; ++i) {
    examples.push_back(Tensor(body.arguments[i]));
    batched.push_back(input(n, i));
    if (grad[i].defined()) per_step.push_back(substituted(grad[i], captured));
  }
  examples.push_back(u);
  batched.push_back(after);
  if (!per_step.empty()) {
    const std::vector<Tensor> done = batch(per_step, examples, batched);
    for (size_t i = 1, next = 0; i <= k; ++i)
      if (grad[i].defined()) out[i] = done[next++];
  }

  // 3. The captured values' cotangents, summed over the steps by a scan that carries the sum (a
  // vmap would hold one per step). One scan per dtype, since the sum is one packed vector.
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    std::vector<size_t> of_dtype;
    std::vector<Tensor> parts;
    for (size_t j = 1 + k; j < operands; ++j)
      if (grad[j].defined() && n->inputs[j]->dtype == dtype) {
        of_dtype.push_back(j);
        parts.push_back(substituted(grad[j], captured));
      }
    if (parts.empty()) continue;
    for (Tensor& part : parts) part = reshape(part, {-1});
    const Tensor packed = pack(parts);
    const Tensor sum = stand_in(dtype, packed.shape(), "scan/captured_cotangent", n->loc);
    std::vector<Tensor> sum_variants = variants;  // the carry's cotangent stand-in becomes the sum's
    sum_variants[0] = sum;
    std::vector<Tensor> sum_xs{entry};
    for (size_t i = 1; i <= k; ++i) sum_xs.push_back(input(n, i));
    sum_xs.push_back(after);
    sum_variants.resize(k + 2);  // the sum, the entry carry and xs; then u
    sum_variants.push_back(u);
    const Tensor total = scan_node(zeros_like(packed), sum_xs, sum_variants, sum + packed, false, false, n->loc);
    int64_t offset = 0;
    for (size_t p = 0; p < of_dtype.size(); ++p) {
      const Node& value = *n->inputs[of_dtype[p]];
      const int64_t size = numel(value.shape);
      out[of_dtype[p]] = reshape(slice(total, 0, offset, offset + size), value.shape);
      offset += size;
    }
  }
  return out;
}

Tensor scan_jvp(const NodePtr& n, std::span<const Tensor> t) {
  const Loop& loop = loop_of(*n);
  const Function& body = loop.body;
  const size_t k = loop.xs, operands = n->inputs.size();
  if (!is_float(n->dtype)) return {};
  const Tensor entry = previous_carries(stacked_twin(n), input(n, 0), loop.reverse);
  const Tensor carry_tangent = stand_in_like(*n->inputs[0], "scan/carry_tangent");
  std::vector<Tensor> primals{Tensor(body.arguments[0])}, directions{carry_tangent};
  std::vector<Tensor> xs{entry}, variants{carry_tangent, Tensor(body.arguments[0])};
  for (size_t i = 1; i <= k; ++i) {
    xs.push_back(input(n, i));
    variants.push_back(Tensor(body.arguments[i]));
  }
  Replacements bound;
  for (size_t i = 1; i < operands; ++i) {
    if (i > k) bound[body.arguments[i].get()] = n->inputs[i];
    if (!t[i].defined() || !is_float(n->inputs[i]->dtype)) continue;
    const Node& arg = *body.arguments[i];
    const Tensor direction = stand_in_like(arg, fmt::format("scan/tangent{}", i));
    primals.push_back(Tensor(body.arguments[i]));
    directions.push_back(direction);
    if (i <= k) {  // a tangent per step, scanned with its xs
      xs.push_back(t[i]);
      variants.push_back(direction);
    } else {  // the same for every step
      bound[direction.node().get()] = t[i].node();
    }
  }
  const Tensor next = substituted(jvp({Tensor(body.results[0])}, primals, directions)[0], bound);
  return scan_node(tangent(n, t, 0), xs, variants, next, loop.reverse, loop.stacked, n->loc);
}

Tensor scan_batch(const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
  const Loop& loop = loop_of(*n);
  const Function& body = loop.body;
  const size_t k = loop.xs, operands = n->inputs.size();
  const int64_t size = batch_size(in, batched);
  // The carry is batched whatever else is: one batched operand makes every example's carry its own.
  const Tensor carry = stand_in(n->dtype, with_batch(size, n->inputs[0]->shape), "scan/carries", n->loc);
  std::vector<Tensor> examples{Tensor(body.arguments[0])}, batches{carry};
  std::vector<Tensor> xs, variants{carry};
  Replacements bound;
  for (size_t i = 1; i < operands; ++i) {
    const NodePtr& arg = body.arguments[i];
    if (!batched[i]) {
      if (i <= k) {
        xs.push_back(in[i]);
        variants.push_back(Tensor(arg));
      } else {
        bound[arg.get()] = in[i].node();
      }
      continue;
    }
    const Tensor examples_of = stand_in(arg->dtype, with_batch(size, arg->shape), fmt::format("scan/batched{}", i), n->loc);
    examples.push_back(Tensor(arg));
    batches.push_back(examples_of);
    if (i <= k) {  // [batch, T, ...] scanned as [T, batch, ...]
      xs.push_back(moveaxis(in[i], 0, 1));
      variants.push_back(examples_of);
    } else {
      bound[examples_of.node().get()] = in[i].node();
    }
  }
  const Tensor next = substituted(batch({Tensor(body.results[0])}, examples, batches)[0], bound);
  const Tensor out = scan_node(batched_input(in, batched, 0), xs, variants, next, loop.reverse, loop.stacked,
                                       n->loc);
  return loop.stacked ? moveaxis(out, 0, 1) : out;
}

// Step t of a scanned operand (an f64 Array, as the interpreter holds values).
Array step_of(const Array& xs, int64_t t) {
  Array slice_t(step_shape(xs.shape()), DType::f64);
  std::memcpy(slice_t.raw(), xs.data<double>() + t * slice_t.size(), slice_t.nbytes());
  return slice_t;
}

Array scan_evaluate(const Node& n, std::span<const Array> in) {
  const Loop& loop = loop_of(n);
  const Function& body = loop.body;
  const int64_t T = steps(n);
  std::vector<Array> args(in.size());
  for (size_t j = 1 + loop.xs; j < in.size(); ++j) args[j] = in[j].astype(body.arguments[j]->dtype);
  Array carry = in[0];
  Array out = loop.stacked ? Array(n.shape, DType::f64) : Array();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = loop.reverse ? T - 1 - s : s;
    args[0] = carry.astype(body.arguments[0]->dtype);
    for (size_t i = 1; i <= loop.xs; ++i) args[i] = step_of(in[i], t).astype(body.arguments[i]->dtype);
    carry = interpret(body, args)[0].astype(DType::f64);
    if (loop.stacked) std::memcpy(out.data<double>() + t * carry.size(), carry.raw(), carry.nbytes());
  }
  return loop.stacked ? out : carry;
}

NodeType scan_infer(const Call& c) {
  if (!c.attrs.loop) fail_at(c.loc, "scan", "has no body");
  const Loop& loop = *c.attrs.loop;
  const Function& body = loop.body;
  if (loop.xs == 0 || c.inputs.size() < 1 + loop.xs)
    fail_at(c.loc, "scan", fmt::format("needs a carry and at least one scanned operand, got {} operands with {} scanned",
                                       c.inputs.size(), loop.xs));
  if (body.arguments.size() != c.inputs.size() || body.results.size() != 1)
    fail_at(c.loc, "scan", fmt::format("has {} operands, but its body takes {} arguments and returns {} results",
                                       c.inputs.size(), body.arguments.size(), body.results.size()));
  const Node& init = *c.inputs[0];
  const Shape& first = c.inputs[1]->shape;
  if (first.empty() || first[0] < 1)
    fail_at(c.loc, "scan", fmt::format("scans over axis 0, which {} does not have a step of",
                                       describe(c.inputs[1]->dtype, first)));
  const int64_t T = first[0];
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Node& operand = *c.inputs[i];
    Shape expected = operand.shape;
    if (i >= 1 && i <= loop.xs) {
      if (operand.shape.empty() || operand.shape[0] != T)
        fail_at(c.loc, "scan", fmt::format("scanned operand {} is {}, but operand 1 has {} steps", i,
                                           describe(operand.dtype, operand.shape), T));
      expected = step_shape(operand.shape);
    }
    const Node& arg = *body.arguments[i];
    if (arg.op != OpKind::Argument || arg.dtype != operand.dtype || arg.shape != expected)
      fail_at(c.loc, "scan", fmt::format("operand {} gives each step {}, but the body's argument {} is {}", i,
                                         describe(operand.dtype, expected), i, describe(arg.dtype, arg.shape)));
  }
  const Node& next = *body.results[0];
  if (next.dtype != init.dtype || next.shape != init.shape)
    fail_at(c.loc, "scan", fmt::format("the body returns {} for a carry of {}", describe(next.dtype, next.shape),
                                       describe(init.dtype, init.shape)));
  return NodeType{init.dtype, loop.stacked ? with_batch(T, init.shape) : init.shape};
}

}  // namespace

namespace records {

extern const Primitive Scan{
    .attributes = kLoop,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = scan_infer,
    .vjp = scan_vjp,
    .jvp = scan_jvp,
    .batch = scan_batch,
    .evaluate = scan_evaluate,
};

}  // namespace records


Tensor scan_node(const Tensor& init, const std::vector<Tensor>& xs, const std::vector<Tensor>& variants,
                 const Tensor& next, bool reverse, bool stacked, const SourceLoc& where) {
  // Nodes that read a variant are the body's; what they read that does not is computed outside
  // the loop, once, and captured.
  std::vector<NodePtr> operands{init.node()};
  for (const Tensor& x : xs) operands.push_back(x.node());
  Loop how;
  how.xs = xs.size();
  how.reverse = reverse;
  how.stacked = stacked;
  return region_node(OpKind::Scan, std::move(operands), region_of(variants, {next}, where), std::move(how), "scan_body",
                     where);
}

Tensor previous_carries(const Tensor& stacked, const Tensor& init, bool reverse) {
  const int64_t T = stacked.shape()[0];
  const Tensor first = expand_dims(init, 0);
  if (T == 1) return first;
  return reverse ? concat({slice(stacked, 0, 1, T), first}, 0) : concat({first, slice(stacked, 0, 0, T - 1)}, 0);
}

}  // namespace primitives
}  // namespace zephyr
