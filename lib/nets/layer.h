// What every layer implementation shares: errors that name the layer's parameter path, and
// per-axis settings given once for all axes.
#pragma once

#include <fmt/format.h>

#include "zephyr/params.h"

namespace zephyr::nets::detail {

/// Runs a layer body; an Error from any op inside gets the layer's parameter path appended
/// (once: the innermost layer names itself, enclosing layers leave the message alone).
template <class F>
auto in_layer(const Params& p, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    std::string message = e.what();
    if (message.find(" (layer '") != std::string::npos) throw;
    throw Error(fmt::format("{} (layer '{}')", message, p.path().empty() ? "<root>" : p.path()));
  }
}

/// `values` with one entry per axis: a single value repeats; otherwise the count must be `axes`.
inline Shape per_axis(const Shape& values, size_t axes, const SourceLoc& where, const char* layer, const char* what) {
  if (values.size() == 1) return Shape(axes, values[0]);
  if (values.size() != axes)
    fail_at(where, layer, fmt::format("{} {} needs 1 or {} entries (one per spatial axis)", what, to_string(values), axes));
  return values;
}

}  // namespace zephyr::nets::detail
