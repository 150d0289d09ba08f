// The defaults of Executable::bind and the listened run, for executables with nothing to work out
// ahead of a run and no kernels to report between (the interpreter, one function for the whole
// graph).
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

void Executable::run(void* const* arguments, void* const* results, RunListener&) const { run(arguments, results); }

std::unique_ptr<BoundRun> Executable::bind(std::vector<void*> arguments, std::vector<void*> results) const {
  return std::make_unique<PlainBoundRun>(*this, std::move(arguments), std::move(results));
}

}  // namespace zephyr::compiler
