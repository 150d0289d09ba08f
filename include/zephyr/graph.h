// The expression graph: immutable nodes built by the DSL, consumed by trace, jit and the compiler.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "zephyr/array.h"
#include "zephyr/dtype.h"
#include "zephyr/error.h"

namespace zephyr {

enum class OpKind : uint8_t {
#define ZEPHYR_OP(kind, mnemonic) kind,
#include "zephyr/op_kinds.def"
#undef ZEPHYR_OP
};

/// "add", "matmul", ...
const char* mnemonic(OpKind op);

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct CustomRule;  // z::custom_vjp's gradient (zephyr/custom_vjp.h)
struct Loop;        // a control-flow node's body (below)

/// Per-op attributes; each op reads only the fields its comment names.
struct Attrs {
  std::vector<int64_t> axes;     ///< ReduceSum/ReduceMax/Reverse: axes (sorted); Transpose: permutation
  std::vector<int64_t> starts;   ///< Slice
  std::vector<int64_t> strides;  ///< Slice
  /// \var low
  /// Pad: elements before, per axis.
  /// \var high
  /// Pad: elements after, per axis.
  /// \var interior
  /// Pad: elements between neighbours, per axis.
  std::vector<int64_t> low, high, interior;  // Pad: elements before, after and between (per axis)
  int64_t axis = 0;              ///< Iota, Concat
  /// Constant: a scalar (splat) or a dense array of the node's shape; Pad: the scalar fill.
  Array value;
  std::string name;              ///< Argument: parameter path or input name
  std::shared_ptr<const CustomRule> rule;  ///< CustomVjp: the user's gradient
  std::shared_ptr<const Loop> loop;        ///< Scan, While, Cond: the body (Loop, below)
};

/// One value of the graph. Shape and dtype are static and known when the node is built.
struct Node {
  OpKind op;                    ///< what the node computes
  DType dtype;                  ///< its value's element type
  Shape shape;                  ///< its value's shape
  std::vector<NodePtr> inputs;  ///< the operands, in the op's order
  Attrs attrs;                  ///< the op's attributes
  SourceLoc loc;                ///< where user code built it
};

/// Builds a node; shape rules have already been checked by the op's builder.
NodePtr make_node(OpKind op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attrs attrs,
                  SourceLoc loc);

/// A function over the graph: arguments in calling order and results.
struct Function {
  std::string name = "main";       ///< the entry point's symbol in object files and headers
  std::vector<NodePtr> arguments;  ///< the Argument nodes, in calling order
  std::vector<NodePtr> results;    ///< the returned values, in order
  /// Per result, where it sits in the value the traced function returned ("0/dense/weights",
  /// "loss"), or empty: AOT headers name results by it.
  std::vector<std::string> result_names;
};

/// The body of a control-flow node (lib/primitives/scan.cpp, control_flow.cpp), compiled once
/// whatever the number of steps. Scan: the node's operands are the initial carry, the `xs`
/// scanned-over values (their axis 0 is the step), then the values the body reads from outside;
/// the body's arguments are the carry, one step's slice of each scanned value, then those captured
/// values, and its one result is the next carry. While: operands [initial carry, captured...],
/// results [whether to go on, next carry]. Cond: operands [predicate, values...], arguments
/// [values...], results [the value if true, the value if false].
struct Loop {
  Function body;         ///< compiled once, run every step (arguments and results as above)
  size_t xs = 0;         ///< Scan: how many operands after the carry are scanned over
  bool reverse = false;  ///< steps T-1 down to 0
  bool stacked = true;   ///< the node's value is every step's carry ([T, carry...]), else the last one
};

/// `function` with nodes replaced (`replacements`: old node -> new node of the same shape and
/// dtype); every user of a replaced node is rebuilt. Arguments that are replaced are dropped.
Function substitute(const Function& function, const std::unordered_map<const Node*, NodePtr>& replacements);
/// `function` with results renamed: each name that starts with a `from` prefix (a whole path
/// component) gets `to` instead ("0/w" with {"0", "params"} -> "params/w").
Function rename_results(const Function& function, const std::vector<std::pair<std::string, std::string>>& prefixes);
/// `function` with its arguments renamed (old name -> new name).
Function rename_arguments(const Function& function, const std::vector<std::pair<std::string, std::string>>& names);

/// `function` with the arguments named in `values` replaced by constants of those arrays (shapes
/// and dtypes must match): weights baked into ahead-of-time code.
Function bind_constants(const Function& function, const std::vector<std::pair<std::string, Array>>& values);

/// Nodes reachable from `results`, inputs before users (a topological order).
std::vector<const Node*> topological_order(const std::vector<NodePtr>& results);

/// The verifier: every node's arity, attributes, dtype and shape, re-checked by its primitive's
/// shape rule. Throws Error naming the op and the node's file:line. The compiler and the
/// interpreter run it first; a transform that builds nodes directly may call it too.
void verify(const Function& function);
/// Our graph printed readably: one line per node, arguments by name, with source locations.
std::string print_graph(const Function& function, bool with_locations = false);
/// The graph as Graphviz DOT: ops with shapes and file:line, parameters in clusters by path.
std::string graph_dot(const Function& function);

}  // namespace zephyr
