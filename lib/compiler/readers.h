// Which ops read each node of a function where it is computed. Plain C++ (no MLIR): the partition
// and the emitter ask the same question of the whole graph and of each kernel, so both lowerings
// fuse (and round) alike.
#pragma once

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "zephyr/graph.h"

namespace zephyr::compiler {

/// A node's readers are its users, each comparison among them replaced by the comparison's own
/// readers: comparisons are copied into every user's kernel (partition) and recomputed in every
/// user's loop (the pipeline), so the ops that read a comparison are what reads its operands.
class Readers {
 public:
  /// `order`: the function's nodes, operands first.
  Readers(const std::vector<const Node*>& order, const std::vector<NodePtr>& results);

  const std::vector<const Node*>& of(const Node* n) const;
  /// The ops that take `n` as an operand, each once, in order.
  const std::vector<const Node*>& users(const Node* n) const;
  bool is_result(const Node* n) const { return results_.count(n) > 0; }
  /// A comparison that is no result: computed in every kernel and loop that reads it.
  bool copied_into_users(const Node* n) const;

  /// Whether every read of `n` is by one elementwise op, at its own element (relu's select, which
  /// reads x and x <= 0; x - mean squared), and `n` is no result: then it is computed in that op's
  /// loop, and its duplicate operands fold into one.
  bool one_elementwise_loop(const Node* n) const;

 private:
  std::unordered_set<const Node*> results_;
  std::unordered_map<const Node*, std::vector<const Node*>> users_, readers_;
};

}  // namespace zephyr::compiler
