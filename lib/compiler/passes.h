// Internal to lib/compiler: zephyr's own rewrites as registered MLIR passes (passes.cpp). Each
// has a command-line name (in parentheses) for zephyr-opt.
#pragma once

#include <memory>

#include "mlir/Pass/Pass.h"

namespace zephyr::compiler {

std::unique_ptr<mlir::Pass> create_fuse_elementwise_pass();        // zephyr-fuse-elementwise
std::unique_ptr<mlir::Pass> create_fold_transposed_lhs_pass();    // zephyr-fold-transposed-lhs
std::unique_ptr<mlir::Pass> create_pack_aliased_rhs_pass(int threads);  // zephyr-pack-aliased-rhs{threads=N}
std::unique_ptr<mlir::Pass> create_approximate_math_pass();        // zephyr-approximate-math
std::unique_ptr<mlir::Pass> create_split_long_reductions_pass();   // zephyr-split-long-reductions
std::unique_ptr<mlir::Pass> create_mark_threads_pass(int threads);  // zephyr-mark-threads{threads=N}
std::unique_ptr<mlir::Pass> create_split_matmul_rows_pass(int threads);  // zephyr-split-matmul-rows{threads=N}
std::unique_ptr<mlir::Pass> create_mark_vectorization_pass();      // zephyr-mark-vectorization
std::unique_ptr<mlir::Pass> create_tile_and_vectorize_pass(int threads);  // zephyr-tile-and-vectorize{threads=N}
std::unique_ptr<mlir::Pass> create_lower_vectors_pass();           // zephyr-lower-vectors
std::unique_ptr<mlir::Pass> create_split_accumulators_pass();      // zephyr-split-accumulators
std::unique_ptr<mlir::Pass> create_separate_returned_buffers_pass();  // zephyr-separate-returned-buffers
std::unique_ptr<mlir::Pass> create_math_to_libm_pass();            // zephyr-math-to-libm

/// Makes the passes above known by name to MLIR's pass parser (zephyr-opt).
void register_passes();

}  // namespace zephyr::compiler
