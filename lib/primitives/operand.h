// Internal to lib/ops: how an operand is named in an error. A function argument (a parameter
// leaf, by its path, or an input) is named as well as typed, so a shape error on a parameter
// says which one: "f32[3, 4] ('encoder/0/weights')".
#pragma once

#include <fmt/format.h>

#include <string>

#include "zephyr/tensor.h"

namespace zephyr::detail {

inline std::string operand(const Tensor& t) {
  std::string text = describe(t.dtype(), t.shape());
  const Node& node = *t.node();
  if (node.op == OpKind::Argument && !node.attrs.name.empty()) text += fmt::format(" ('{}')", node.attrs.name);
  return text;
}

}  // namespace zephyr::detail
