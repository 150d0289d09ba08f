// Tensor: a symbolic value. Ops on Tensors build graph nodes; nothing is computed.
#pragma once

#include <source_location>

#include "zephyr/graph.h"

namespace zephyr {

class Params;
using Loc = std::source_location;

/// A handle to a graph node with a static shape and dtype.
class Tensor {
 public:
  Tensor() = default;
  /// A handle to `node`.
  explicit Tensor(NodePtr node) : node_(std::move(node)) {}
  /// A parameter leaf used as a value; the location is where the model used it.
  Tensor(const Params& p, Loc loc = Loc::current());  // NOLINT: Params read as Tensors

  /// Extent of every axis.
  const Shape& shape() const { return node_->shape; }
  /// Extent of `axis`; negative counts from the end.
  int64_t shape(int64_t axis) const;
  /// Number of axes.
  int64_t ndim() const { return static_cast<int64_t>(node_->shape.size()); }
  /// Element type.
  DType dtype() const { return node_->dtype; }
  /// The graph node it stands for.
  const NodePtr& node() const { return node_; }
  /// False for a default-constructed Tensor, which has no node ("no mask", "no gradient").
  bool defined() const { return node_ != nullptr; }

 private:
  NodePtr node_;
};

/// The left operand of an operator, with the place the user wrote the expression.
/// (Operators cannot take a defaulted source_location; an implicit conversion can.)
struct Operand {
  Tensor tensor;  ///< the operand's value
  SourceLoc loc;  ///< where the expression was written
  /// A Tensor, at the caller's expression.
  Operand(Tensor t, Loc l = Loc::current()) : tensor(std::move(t)), loc(SourceLoc::from(l)) {}
  /// A parameter leaf read as a Tensor, at the caller's expression.
  Operand(const Params& p, Loc l = Loc::current());
};

Tensor operator+(Operand a, Operand b);
Tensor operator-(Operand a, Operand b);
Tensor operator*(Operand a, Operand b);
Tensor operator/(Operand a, Operand b);
Tensor operator+(Operand a, double b);
Tensor operator-(Operand a, double b);
Tensor operator*(Operand a, double b);
Tensor operator/(Operand a, double b);
Tensor operator+(double a, Operand b);
Tensor operator-(double a, Operand b);
Tensor operator*(double a, Operand b);
Tensor operator/(double a, Operand b);
Tensor operator-(Operand a);
Tensor operator<(Operand a, Operand b);
Tensor operator<=(Operand a, Operand b);
Tensor operator>(Operand a, Operand b);
Tensor operator>=(Operand a, Operand b);
Tensor operator<(Operand a, double b);
Tensor operator<=(Operand a, double b);
Tensor operator>(Operand a, double b);
Tensor operator>=(Operand a, double b);

}  // namespace zephyr
