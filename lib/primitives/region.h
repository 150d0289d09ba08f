// The body of a region op (scan, while, cond): a graph of its own, cut out of the graph that
// builds it, whose arguments are stand-ins and the values it reads from outside.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "zephyr/graph.h"
#include "zephyr/tensor.h"

namespace zephyr::primitives {

using Replacements = std::unordered_map<const Node*, NodePtr>;

struct Region {
  Function body;                  // arguments: the stand-ins, then one per captured value
  std::vector<NodePtr> captured;  // the outer values of the captured arguments, in order
};

/// `results` as a body whose arguments are `stand_ins` (Argument nodes), then what its nodes read
/// from outside. Its nodes are those that depend on a stand-in, or, when `made` is given, those
/// in it (the nodes a branch made as it ran: nothing is hoisted out of a branch not taken).
/// Literals stay inside; a result that is an outside value is captured.
Region region_of(const std::vector<Tensor>& stand_ins, const std::vector<Tensor>& results, const SourceLoc& where,
                 const std::unordered_set<const Node*>* made = nullptr);

/// A node of `op` whose body is `region`'s: its operands are `operands`, then the region's
/// captured values; `how` gives the loop's other fields (its body is replaced).
Tensor region_node(OpKind op, std::vector<NodePtr> operands, Region region, Loop how, const std::string& name,
                   const SourceLoc& where);

/// An Argument node of this type, for a body.
Tensor stand_in(DType dtype, const Shape& shape, const std::string& name, const SourceLoc& where);
inline Tensor stand_in_like(const Node& n, const std::string& name) { return stand_in(n.dtype, n.shape, name, n.loc); }

/// Row r of `rows` along axis 0, without that axis (a step's carry, from a stack of them).
Tensor row(const Tensor& rows, int64_t r);

/// `t` with nodes swapped for others of the same type.
Tensor substituted(const Tensor& t, const Replacements& replace);

/// Tensors of one dtype as one vector (one Tensor: as it is), and part i of such a vector back
/// (`lead`: leading axes the packed vector has before its own, [] or [T]).
Tensor pack(const std::vector<Tensor>& parts);
Tensor unpack(const Tensor& packed, const std::vector<Shape>& shapes, size_t i, const Shape& lead = {});

/// A Scan node (scan.cpp): `next` is the next carry, built from the Argument nodes `variants` (the
/// carry's, then one per `xs` for its step's slice). What else `next` reads becomes the node's
/// captured operands; values that do not change between steps are computed once, before the
/// loop. The node's value is every step's carry ([T, carry...]) when `stacked`, else the last.
Tensor scan_node(const Tensor& init, const std::vector<Tensor>& xs, const std::vector<Tensor>& variants,
                 const Tensor& next, bool reverse, bool stacked, const SourceLoc& where);
/// The carry each step of a scan started from, [T, carry...], given its stacked carries.
Tensor previous_carries(const Tensor& stacked, const Tensor& init, bool reverse);

/// A While node (control_flow.cpp): while `go_on` (a bool scalar) holds for the carry, the carry
/// becomes `next`; both are built from the Argument node `carry`, which starts as `init`.
Tensor while_node(const Tensor& init, const Tensor& carry, const Tensor& go_on, const Tensor& next,
                  const SourceLoc& where);
/// A Cond node (control_flow.cpp): `if_true` where `pred` holds, else `if_false`, both built from
/// `stand_ins`, which take `values`; `made` as for region_of.
Tensor cond_node(const Tensor& pred, const std::vector<Tensor>& stand_ins, const std::vector<Tensor>& values,
                 const Tensor& if_true, const Tensor& if_false, const SourceLoc& where,
                 const std::unordered_set<const Node*>* made = nullptr);

}  // namespace zephyr::primitives
