// The reference interpreter. Each value is held as an f64 Array whatever its dtype, computed by
// its primitive's reference evaluation and then rounded to the dtype here: f32 to the nearest
// float, i32 wrapped as two's complement, bool to 0 or 1. So a rule computes exactly and the
// dtype's semantics live in one place.
#include "zephyr/interpret.h"

#include <fmt/format.h>

#include <unordered_map>

#include "host.h"
#include "primitive.h"

namespace zephyr {
namespace {

void round_to(Array& value, DType dtype, bool keep_f64) {
  double* v = value.data<double>();
  const int64_t n = value.size();
  switch (dtype) {
    case DType::f64: return;
    case DType::f32:
      if (keep_f64) return;
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(v[i]);
      return;
    case DType::bf16:  // through f32, as Arrays store it
      if (keep_f64) return;
      for (int64_t i = 0; i < n; ++i) v[i] = to_float(to_bfloat16(static_cast<float>(v[i])));
      return;
    case DType::f16:
      if (keep_f64) return;
      for (int64_t i = 0; i < n; ++i) v[i] = to_float(to_float16(static_cast<float>(v[i])));
      return;
    case DType::i32: case DType::i64: case DType::u8: case DType::i8:
      for (int64_t i = 0; i < n; ++i) v[i] = primitives::host::wrap(v[i], dtype);
      return;
    case DType::bool_:
      for (int64_t i = 0; i < n; ++i) v[i] = v[i] != 0 ? 1.0 : 0.0;
      return;
  }
}

}  // namespace

std::vector<Array> interpret(const Function& fn, std::span<const Array> arguments, const InterpretOptions& options) {
  zephyr::verify(fn);
  if (arguments.size() != fn.arguments.size())
    throw Error(fmt::format("[interpret] the function takes {} arguments, got {}", fn.arguments.size(), arguments.size()));
  std::unordered_map<const Node*, Array> values;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const Node& a = *fn.arguments[i];
    const Array& given = arguments[i];
    if (!given.defined() || given.dtype() != a.dtype || given.shape() != a.shape)
      throw Error(fmt::format("[interpret] argument {} ('{}') is {} but the function takes {}", i, a.attrs.name,
                              given.defined() ? describe(given.dtype(), given.shape()) : "an empty Array",
                              describe(a.dtype, a.shape)));
    values[&a] = given.astype(DType::f64);
  }
  // A value is dropped after its last use, so a training step holds what a compiled one does.
  const std::vector<const Node*> order = topological_order(fn.results);
  std::unordered_map<const Node*, size_t> uses;
  for (const Node* n : order)
    for (const NodePtr& in : n->inputs) ++uses[in.get()];
  for (const NodePtr& r : fn.results) ++uses[r.get()];
  std::vector<Array> inputs;
  for (const Node* n : order) {
    if (values.count(n)) continue;
    inputs.clear();
    for (const NodePtr& in : n->inputs) inputs.push_back(values.at(in.get()));
    Array out = primitives::primitive(n->op).evaluate.get()(*n, inputs);
    round_to(out, n->dtype, options.f64);
    values[n] = std::move(out);
    for (const NodePtr& in : n->inputs)
      if (--uses[in.get()] == 0) values.erase(in.get());
  }
  std::vector<Array> results;
  for (const NodePtr& r : fn.results) results.push_back(values.at(r.get()).astype(r->dtype));
  return results;
}

}  // namespace zephyr
