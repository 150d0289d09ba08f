// While and Cond: region ops whose body (Attrs::loop) has two results. A While node's are whether
// to go on and the next carry; a Cond node's are its value if the predicate holds and if not.
// Their rules are built from the bodies', as Scan's are (scan.cpp): forward mode through a while
// loop carries the tangent beside the carry; a cond's VJP and JVP are conds of its branches'.
#include <fmt/format.h>

#include "region.h"
#include "rules.h"
#include "zephyr/autodiff.h"
#include "zephyr/interpret.h"
#include "zephyr/vmap.h"

namespace zephyr {
namespace primitives {
namespace {

const Function& body_of(const Node& n) { return n.attrs.loop->body; }

// The body with only result k: what the interpreter runs, and what a rule differentiates.
Function part_of(const Function& body, size_t k) {
  Function f;
  f.arguments = body.arguments;
  f.results = {body.results[k]};
  return f;
}

// Shape rule shared by both: `first` is the index of the first operand the body's arguments take.
void expect_body(const Call& c, size_t first) {
  if (!c.attrs.loop) fail_at(c.loc, mnemonic(c.op), "has no body");
  const Function& body = c.attrs.loop->body;
  if (c.inputs.empty() || c.inputs.size() < first || body.arguments.size() != c.inputs.size() - first ||
      body.results.size() != 2)
    fail_at(c.loc, mnemonic(c.op), fmt::format("has {} operands, but its body takes {} arguments and returns {} results",
                                               c.inputs.size(), body.arguments.size(), body.results.size()));
  for (size_t i = first; i < c.inputs.size(); ++i) {
    const Node& operand = *c.inputs[i];
    const Node& arg = *body.arguments[i - first];
    if (arg.op != OpKind::Argument || arg.dtype != operand.dtype || arg.shape != operand.shape)
      fail_at(c.loc, mnemonic(c.op), fmt::format("operand {} is {}, but the body's argument {} is {}", i,
                                                 describe(operand.dtype, operand.shape), i - first,
                                                 describe(arg.dtype, arg.shape)));
  }
}
void expect_bool_scalar(const Call& c, const Node& n, const char* what) {
  if (n.dtype != DType::bool_ || !n.shape.empty())
    fail_at(c.loc, mnemonic(c.op), fmt::format("{} must be a bool scalar, got {}", what, describe(n.dtype, n.shape)));
}

// ---- While: operands [init, captured...]; body arguments [carry, captured...] ----

NodeType while_infer(const Call& c) {
  expect_body(c, 0);
  const Function& body = c.attrs.loop->body;
  const Node& init = *c.inputs[0];
  expect_bool_scalar(c, *body.results[0], "the condition");
  const Node& next = *body.results[1];
  if (next.dtype != init.dtype || next.shape != init.shape)
    fail_at(c.loc, "while", fmt::format("the body returns {} for a carry of {}", describe(next.dtype, next.shape),
                                        describe(init.dtype, init.shape)));
  return NodeType{init.dtype, init.shape};
}

Tensor while_jvp(const NodePtr& n, std::span<const Tensor> t) {
  // The tangent travels beside the carry: the carry of the new loop is [carry; tangent].
  const Function& body = body_of(*n);
  const Node& carry = *n->inputs[0];
  const Tensor both = stand_in(carry.dtype, with_batch(2, carry.shape), "while/carry_and_tangent", n->loc);
  const Tensor value = row(both, 0), direction = row(both, 1);
  std::vector<Tensor> primals{Tensor(body.arguments[0])}, directions{stand_in_like(carry, "while/tangent")};
  Replacements bound{{body.arguments[0].get(), value.node()}, {directions[0].node().get(), direction.node()}};
  for (size_t i = 1; i < n->inputs.size(); ++i) {
    bound[body.arguments[i].get()] = n->inputs[i];
    if (!t[i].defined() || !is_float(n->inputs[i]->dtype)) continue;
    primals.push_back(Tensor(body.arguments[i]));
    directions.push_back(stand_in_like(*n->inputs[i], fmt::format("while/tangent{}", i)));
    bound[directions.back().node().get()] = t[i].node();
  }
  const Tensor next_tangent = jvp({Tensor(body.results[1])}, primals, directions)[0];
  const Tensor next = concat({expand_dims(substituted(Tensor(body.results[1]), bound), 0),
                              expand_dims(substituted(next_tangent, bound), 0)}, 0);
  const Tensor init = concat({expand_dims(input(n, 0), 0), expand_dims(tangent(n, t, 0), 0)}, 0);
  return row(while_node(init, both, substituted(Tensor(body.results[0]), bound), next, n->loc), 1);
}

Tensor while_batch(const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
  // Every example steps until its condition fails; the loop runs while any example goes on, and
  // an example that is done keeps its carry.
  const Function& body = body_of(*n);
  const int64_t size = batch_size(in, batched);
  const Tensor carries = stand_in(n->dtype, with_batch(size, n->shape), "while/carries", n->loc);
  std::vector<Tensor> examples{Tensor(body.arguments[0])}, batches{carries};
  Replacements bound;
  for (size_t i = 1; i < n->inputs.size(); ++i) {
    if (!batched[i]) {
      bound[body.arguments[i].get()] = in[i].node();
      continue;
    }
    const Tensor shared = stand_in(in[i].dtype(), in[i].shape(), fmt::format("while/batched{}", i), n->loc);
    examples.push_back(Tensor(body.arguments[i]));
    batches.push_back(shared);
    bound[shared.node().get()] = in[i].node();
  }
  const std::vector<Tensor> per = batch({Tensor(body.results[0]), Tensor(body.results[1])}, examples, batches);
  Shape lanes(n->shape.size() + 1, 1);
  lanes[0] = size;
  const Tensor go_on = substituted(per[0], bound);  // [batch]
  const Tensor next = where(reshape(go_on, lanes), substituted(per[1], bound), carries);
  const Tensor any = greater(max(cast(go_on, DType::i32)), scalar(0.0, DType::i32));
  return while_node(batched_input(in, batched, 0), carries, any, next, n->loc);
}

Array while_evaluate(const Node& n, std::span<const Array> in) {
  const Function& body = body_of(n);
  const Function go_on = part_of(body, 0), next = part_of(body, 1);
  std::vector<Array> args(in.size());
  for (size_t i = 1; i < in.size(); ++i) args[i] = in[i].astype(body.arguments[i]->dtype);
  Array carry = in[0];
  for (;;) {
    args[0] = carry.astype(body.arguments[0]->dtype);
    if (interpret(go_on, args)[0].at(0) == 0) return carry;
    carry = interpret(next, args)[0].astype(DType::f64);
  }
}

// ---- Cond: operands [pred, values...]; body arguments [values...] ----

NodeType cond_infer(const Call& c) {
  expect_body(c, 1);
  expect_bool_scalar(c, *c.inputs[0], "the predicate");
  const Function& body = c.attrs.loop->body;
  const Node &if_true = *body.results[0], &if_false = *body.results[1];
  if (if_true.dtype != if_false.dtype || if_true.shape != if_false.shape)
    fail_at(c.loc, "cond", fmt::format("its branches return {} and {}", describe(if_true.dtype, if_true.shape),
                                       describe(if_false.dtype, if_false.shape)));
  return NodeType{if_true.dtype, if_true.shape};
}

std::vector<Tensor> cond_vjp(const NodePtr& n, const Tensor& g) {
  // Each branch's cotangents for the operands, packed per dtype into one cond.
  const Function& body = body_of(*n);
  const Tensor u = stand_in_like(*n, "cond/cotangent");
  std::vector<Tensor> wrt;
  for (const NodePtr& a : body.arguments)
    if (is_float(a->dtype)) wrt.push_back(Tensor(a));
  std::vector<Tensor> out(n->inputs.size());
  if (wrt.empty() || !is_float(n->dtype)) return out;
  const std::vector<Tensor> on_true = vjp(Tensor(body.results[0]), u, wrt), on_false = vjp(Tensor(body.results[1]), u, wrt);
  std::vector<Tensor> stand_ins{u}, values{g};
  for (const NodePtr& a : body.arguments) stand_ins.push_back(Tensor(a));
  for (size_t i = 1; i < n->inputs.size(); ++i) values.push_back(input(n, i));
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    std::vector<size_t> operands;
    std::vector<Tensor> t, f;
    for (size_t w = 0, i = 0; i < body.arguments.size(); ++i) {
      if (!is_float(body.arguments[i]->dtype)) continue;
      if (body.arguments[i]->dtype == dtype) {
        operands.push_back(i + 1);
        t.push_back(reshape(on_true[w], {-1}));
        f.push_back(reshape(on_false[w], {-1}));
      }
      ++w;
    }
    if (operands.empty()) continue;
    const Tensor packed = cond_node(input(n, 0), stand_ins, values, pack(t), pack(f), n->loc);
    std::vector<Shape> shapes;
    for (size_t i : operands) shapes.push_back({numel(n->inputs[i]->shape)});
    for (size_t p = 0; p < operands.size(); ++p)
      out[operands[p]] = reshape(unpack(packed, shapes, p), n->inputs[operands[p]]->shape);
  }
  return out;
}

Tensor cond_jvp(const NodePtr& n, std::span<const Tensor> t) {
  const Function& body = body_of(*n);
  std::vector<Tensor> primals, directions, stand_ins, values;
  for (size_t i = 1; i < n->inputs.size(); ++i) {
    stand_ins.push_back(Tensor(body.arguments[i - 1]));
    values.push_back(input(n, i));
    if (!t[i].defined() || !is_float(n->inputs[i]->dtype)) continue;
    primals.push_back(Tensor(body.arguments[i - 1]));
    directions.push_back(stand_in_like(*n->inputs[i], fmt::format("cond/tangent{}", i)));
    stand_ins.push_back(directions.back());
    values.push_back(t[i]);
  }
  const Tensor on_true = jvp({Tensor(body.results[0])}, primals, directions)[0];
  const Tensor on_false = jvp({Tensor(body.results[1])}, primals, directions)[0];
  return cond_node(input(n, 0), stand_ins, values, on_true, on_false, n->loc);
}

Tensor cond_batch(const NodePtr& n, std::span<const Tensor> in, const std::vector<bool>& batched) {
  const Function& body = body_of(*n);
  std::vector<Tensor> examples, batches, stand_ins, values;
  for (size_t i = 1; i < n->inputs.size(); ++i) {
    if (!batched[i]) {
      stand_ins.push_back(Tensor(body.arguments[i - 1]));
      values.push_back(in[i]);
      continue;
    }
    const Tensor shared = stand_in(in[i].dtype(), in[i].shape(), fmt::format("cond/batched{}", i), n->loc);
    examples.push_back(Tensor(body.arguments[i - 1]));
    batches.push_back(shared);
    stand_ins.push_back(shared);
    values.push_back(in[i]);
  }
  const int64_t size = batch_size(in, batched);
  // A result neither branch computes from a batched operand is broadcast to every example.
  auto batched_result = [&](size_t k) {
    if (examples.empty()) return broadcast_to(Tensor(body.results[k]), with_batch(size, n->shape));
    return batch({Tensor(body.results[k])}, examples, batches)[0];
  };
  const Tensor on_true = batched_result(0), on_false = batched_result(1);
  if (!batched[0]) return cond_node(in[0], stand_ins, values, on_true, on_false, n->loc);
  // A predicate per example: both branches run, and each example takes its own (as jax.vmap does).
  Replacements bound;
  for (size_t i = 0; i < stand_ins.size(); ++i) bound[stand_ins[i].node().get()] = values[i].node();
  Shape lanes(n->shape.size() + 1, 1);
  lanes[0] = size;
  return where(reshape(in[0], lanes), substituted(on_true, bound), substituted(on_false, bound));
}

Array cond_evaluate(const Node& n, std::span<const Array> in) {
  const Function& body = body_of(n);
  std::vector<Array> args;
  for (size_t i = 1; i < in.size(); ++i) args.push_back(in[i].astype(body.arguments[i - 1]->dtype));
  return interpret(part_of(body, in[0].at(0) != 0 ? 0 : 1), args)[0].astype(DType::f64);
}

}  // namespace

namespace records {

extern const Primitive While{
    .attributes = kLoop,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = while_infer,
    .vjp = [](const NodePtr& n, const Tensor&) -> std::vector<Tensor> {
      fail_at(n->loc, "while_loop", "is forward-only: reverse-mode differentiation through a loop whose number of "
                                    "steps is decided as it runs is not defined (as in JAX); use z::scan or "
                                    "z::fori_loop, whose number of steps is fixed");
    },
    .jvp = while_jvp,
    .batch = while_batch,
    .evaluate = while_evaluate,
};

extern const Primitive Cond{
    .attributes = kLoop,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = cond_infer,
    .vjp = cond_vjp,
    .jvp = cond_jvp,
    .batch = cond_batch,
    .evaluate = cond_evaluate,
};

}  // namespace records

Tensor while_node(const Tensor& init, const Tensor& carry, const Tensor& go_on, const Tensor& next,
                  const SourceLoc& where) {
  Loop how;
  how.stacked = false;
  return region_node(OpKind::While, {init.node()}, region_of({carry}, {go_on, next}, where), std::move(how),
                     "while_body", where);
}

Tensor cond_node(const Tensor& pred, const std::vector<Tensor>& stand_ins, const std::vector<Tensor>& values,
                 const Tensor& if_true, const Tensor& if_false, const SourceLoc& where,
                 const std::unordered_set<const Node*>* made) {
  std::vector<NodePtr> operands{pred.node()};
  for (const Tensor& v : values) operands.push_back(v.node());
  Loop how;
  how.stacked = false;
  return region_node(OpKind::Cond, std::move(operands), region_of(stand_ins, {if_true, if_false}, where, made),
                     std::move(how), "cond_branches", where);
}

}  // namespace primitives
}  // namespace zephyr
