// The default Executable::bind, for executables with nothing to work out ahead of a run (the
// interpreter, one function for the whole graph): it keeps the pointers and calls run().
#include "zephyr/compiler.h"

namespace zephyr::compiler {
namespace {

class PlainBoundRun final : public BoundRun {
 public:
  PlainBoundRun(const Executable& executable, std::vector<void*> arguments, std::vector<void*> results)
      : executable_(executable), arguments_(std::move(arguments)), results_(std::move(results)) {}
  void run() override { executable_.run(arguments_.data(), results_.data()); }

 private:
  const Executable& executable_;  // outlived by the BoundCall's entry, which holds it
  std::vector<void*> arguments_, results_;
};

}  // namespace

std::unique_ptr<BoundRun> Executable::bind(std::vector<void*> arguments, std::vector<void*> results) const {
  return std::make_unique<PlainBoundRun>(*this, std::move(arguments), std::move(results));
}

}  // namespace zephyr::compiler
