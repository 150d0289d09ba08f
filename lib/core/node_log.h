// The nodes made while a log is open, in the order they were made: a topological order, since a
// node reads only nodes made before it. z::checkpoint finds its function's own nodes this way,
// without walking the (possibly whole-model) graph that the function reads from.
#pragma once

#include <vector>

#include "zephyr/graph.h"

namespace zephyr::detail {

class NodeLog {
 public:
  NodeLog();   // from now on, nodes made on this thread are recorded here
  ~NodeLog();  // hands them on to the log it was opened inside (nested checkpoints)
  NodeLog(const NodeLog&) = delete;
  NodeLog& operator=(const NodeLog&) = delete;

  const std::vector<NodePtr>& nodes() const { return nodes_; }
  /// Called by make_node.
  static void record(const NodePtr& node);

 private:
  NodeLog* enclosing_;
  std::vector<NodePtr> nodes_;
};

}  // namespace zephyr::detail
