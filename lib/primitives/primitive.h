// The record of a primitive op: everything the core knows about it, in one place (as MLX gives
// each primitive a class). One record per line of include/zephyr/op_kinds.def, defined in
// lib/primitives/<group>.cpp; its lowering is an entry in lib/compiler/lowering_table.cpp.
//
// A record cannot leave a rule out: every field is a `Rule`, which has no default, so a record
// missing one does not compile, and a kind without a record does not link (table.cpp names each).
#pragma once

#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "zephyr/graph.h"
#include "zephyr/tensor.h"

namespace zephyr::primitives {

/// What a node is: the result of a shape and dtype rule.
struct NodeType {
  DType dtype;
  Shape shape;
};

/// The arguments of a shape rule: a node about to be built (by an op) or checked (by the
/// verifier). `declared` is the type the builder asks for: leaves read it, casts its dtype, and
/// reshapes, broadcasts, slices and scatters its shape.
struct Call {
  OpKind op;
  std::span<const NodePtr> inputs;
  const Attrs& attrs;
  const SourceLoc& loc;
  NodeType declared;
};

/// The fields of `Attrs` an op reads. The printer and the verifier go by this list, so a field
/// an op sets without declaring it is a verifier error rather than silently unprinted.
enum AttrField : unsigned {
  kNoAttrs = 0,
  kAxes = 1u << 0,     // axes (sorted) or a permutation
  kStarts = 1u << 1,   // Slice
  kStrides = 1u << 2,  // Slice
  kPadding = 1u << 3,  // low, high, interior
  kAxis = 1u << 4,     // one axis
  kValue = 1u << 5,    // an Array: a literal or a fill value
  kName = 1u << 6,     // an argument's path or name
  kRule = 1u << 7,     // CustomVjp: the user's gradient
  kLoop = 1u << 8,     // Scan, While, Cond: the body
};

/// A required rule: a function pointer with no default and no null value, so a record that
/// omits a rule does not compile. Captureless lambdas convert.
template <class Signature>
class Rule {
 public:
  Rule() = delete;
  template <class F>
    requires(std::is_convertible_v<F, Signature*> && !std::is_null_pointer_v<F>)
  constexpr Rule(F f) : fn_(f) {}  // NOLINT: records are written with designated initializers
  Signature* get() const { return fn_; }

 private:
  Signature* fn_;
};

/// Cotangents of the node's inputs, given the node and the cotangent of its result; an
/// undefined Tensor means "no gradient" for that input.
using VjpFn = std::vector<Tensor>(const NodePtr& node, const Tensor& cotangent);
/// The tangent of the node's result, given the tangents of its inputs (undefined: zero). Called
/// for float results with at least one tangent defined; a tangent of an input's broadcastable
/// shape is broadcast to the node's by the sweep.
using JvpFn = Tensor(const NodePtr& node, std::span<const Tensor> tangents);
/// The node applied to a batch of examples (vmap): `batched[i]` says whether input i carries a
/// leading batch axis (the others are as in the node, shared by every example); the result has
/// the batch as its leading axis. Called only when some input is batched.
using BatchFn = Tensor(const NodePtr& node, std::span<const Tensor> inputs, const std::vector<bool>& batched);
/// The reference evaluation: the node's value from its inputs' values, all as f64 Arrays
/// whatever the dtype (integers and bools hold exact whole numbers). The interpreter rounds
/// the result to the node's dtype, so a rule computes as exactly as it can.
using EvaluateFn = Array(const Node& node, std::span<const Array> inputs);
using InferFn = NodeType(const Call& call);

/// What an op does with bf16 and f16 inputs: computes in f32 (the builder widens them and rounds
/// the float result back), or handles them as stored (data movement, selects, casts).
enum class LowPrecision { in_f32, as_stored };

struct Primitive {
  /// The fields of Attrs the op reads.
  unsigned attributes;
  /// Computed independently per element from the same element of each (broadcast) input:
  /// the partitioner may recompute or fuse it freely.
  bool elementwise;
  LowPrecision low_precision;
  /// Checks the inputs and attributes and gives the result type; errors name the op and the
  /// user's file:line.
  Rule<InferFn> infer;
  Rule<VjpFn> vjp;
  Rule<JvpFn> jvp;
  Rule<BatchFn> batch;
  Rule<EvaluateFn> evaluate;
};

/// Owning pointers for `roots` and for every input of the nodes in `order`: a sweep walks raw
/// pointers in topological order, while rules take NodePtr (the graphs they build keep what
/// they read alive).
std::unordered_map<const Node*, NodePtr> owners(const std::vector<NodePtr>& roots,
                                                const std::vector<const Node*>& order);

/// The record of `op`.
const Primitive& primitive(OpKind op);

/// Builds a node of `op` after its shape rule has checked it: the one way ops create nodes.
Tensor build(OpKind op, std::vector<NodePtr> inputs, Attrs attrs, const SourceLoc& loc, NodeType declared = {});

/// `attrs` as text (" axes=[0,1] axis=2"), the fields `op` declares only.
std::string print_attrs(OpKind op, const Attrs& attrs);

}  // namespace zephyr::primitives
