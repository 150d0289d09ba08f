// Token embeddings (a gather whose gradient is a scatter-add) and dropout (random bits drawn
// inside the compiled code).
#include "zephyr/nets/embed.h"

#include <cmath>

#include "layer.h"
#include "zephyr/checks.h"
#include "zephyr/random_ops.h"

namespace zephyr::nets {

Tensor token_embed(Params p, const Tensor& ids, int64_t vocab, int64_t dim, const Initializer& initializer, DType dtype,
                   Loc loc) {
  return detail::in_layer(p, [&] {
    if (ids.dtype() != DType::i32)
      fail_at(SourceLoc::from(loc), "token_embed", "token ids must be i32, got " + describe(ids.dtype(), ids.shape()));
    Initializer init = initializer.fn ? initializer : init::normal(1.0 / std::sqrt(static_cast<double>(dim)));
    Tensor table = validate(p["token_embeddings"], {vocab, dim}, init, dtype, loc);
    Tensor in_range = where(greater_equal(ids, scalar(0, DType::i32, loc), loc),
                            less(ids, scalar(static_cast<double>(vocab), DType::i32, loc), loc),
                            full({}, 0, DType::bool_, loc), loc);
    runtime_check(in_range, fmt::format("[token_embed] {}: token ids outside [0, {})", p.path(), vocab));
    return take(table, ids, loc);
  });
}

Tensor dropout(const Tensor& key, const Tensor& x, double rate, bool training, Loc loc) {
  if (rate < 0.0 || rate >= 1.0)
    fail_at(SourceLoc::from(loc), "dropout", fmt::format("rate must be in [0, 1), got {}", rate));
  if (!training || rate == 0.0) return x;
  Tensor keep = greater_equal(random::uniform(key, x.shape(), 0.0, 1.0, loc), scalar(rate, DType::f32, loc), loc);
  Tensor scaled = mul(x, scalar(1.0 / (1.0 - rate), x.dtype(), loc), loc);
  return where(keep, scaled, scalar(0.0, x.dtype(), loc), loc);
}

}  // namespace zephyr::nets
