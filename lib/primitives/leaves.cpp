// Leaves: function arguments, literals and index ramps. Their type is the one declared by the
// builder; the rules check that it is consistent with the attributes.
#include "host.h"
#include "rules.h"

namespace zephyr::primitives::records {

extern const Primitive Argument{
    .attributes = kName,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 0);
      if (c.attrs.name.empty()) fail_at(c.loc, "argument", "has no name");
      return c.declared;
    },
    .vjp = no_gradient,
    .jvp = no_tangent,
    .batch = leaf_batch,
    .evaluate = [](const Node& n, std::span<const Array>) -> Array {
      throw Error(fmt::format("[interpret] argument '{}' has no value", n.attrs.name));
    },
};

extern const Primitive Constant{
    .attributes = kValue,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 0);
      const Array& v = c.attrs.value;
      if (!v.defined()) fail_at(c.loc, "constant", "has no value");
      if (v.dtype() != c.declared.dtype || (v.size() != 1 && v.shape() != c.declared.shape))
        fail_at(c.loc, "constant", fmt::format("value {} does not fill {}", describe(v.dtype(), v.shape()),
                                               describe(c.declared.dtype, c.declared.shape)));
      return c.declared;
    },
    .vjp = no_gradient,
    .jvp = no_tangent,
    .batch = leaf_batch,
    .evaluate = [](const Node& n, std::span<const Array>) {
      Array out = host::zeros(n.shape);
      const Array& v = n.attrs.value;
      for (int64_t i = 0; i < out.size(); ++i) out.data<double>()[i] = v.at(v.size() == 1 ? 0 : i);
      return out;
    },
};

extern const Primitive Iota{
    .attributes = kAxis,
    .elementwise = false, .low_precision = LowPrecision::as_stored,
    .infer = [](const Call& c) {
      expect_operands(c, 0);
      const int64_t rank = static_cast<int64_t>(c.declared.shape.size());
      if (rank == 0) fail_at(c.loc, "iota", "needs a shape of rank >= 1");
      if (c.declared.dtype == DType::bool_) fail_at(c.loc, "iota", "counts in a numeric dtype, not bool");
      if (c.attrs.axis < 0 || c.attrs.axis >= rank)
        fail_at(c.loc, "iota", fmt::format("axis {} is out of range for rank {}", c.attrs.axis, rank));
      return c.declared;
    },
    .vjp = no_gradient,
    .jvp = no_tangent,
    .batch = leaf_batch,
    .evaluate = [](const Node& n, std::span<const Array>) {
      Array out = host::zeros(n.shape);
      double* o = out.data<double>();
      host::for_each_index(n.shape, [&, i = int64_t{0}](const std::vector<int64_t>& index) mutable {
        o[i++] = static_cast<double>(index[n.attrs.axis]);
      });
      return out;
    },
};

}  // namespace zephyr::primitives::records
