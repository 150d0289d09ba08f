// zephyr's schedule for the transform dialect: how matmuls, transposes and elementwise nests are
// split over threads, tiled for cache and registers, and vectorized. Embedded into the compiler at
// build time (lib/CMakeLists.txt) and applied by the passes zephyr-tile-and-vectorize (entry
// @tile_and_vectorize, given the thread count) and zephyr-lower-vectors (@lower_vectors). The ops
// it acts on were marked by zephyr-mark-threads and zephyr-mark-vectorization.
//
// Matmul tiling follows the recipe measured in shared/toolchain.md: cache tiles (32, 512, 256),
// register tiles (8, 32, 1), then contractions as broadcast + FMA. Remainders are peeled at both
// levels (N before M: peeling consumes the handle), so that after canonicalization every tile has
// a static shape and is vectorized: no remainder falls back to scalar loops.
//
// Elementwise nests (marked zephyr.elementwise_<rank>) are vectorized 16 lanes along the innermost
// axis, the remainder peeled into a smaller static vector, instead of leaving scalar loops for
// LLVM's loop vectorizer (runtime alias checks, epilogues, and most of a training step's compile
// time). Their tile sizes depend on the rank: one sequence per rank, 1 to 6.
module attributes {transform.with_named_sequence} {
  transform.named_sequence @peel(%loop: !transform.any_op {transform.consumed}) {
    transform.sequence %loop : !transform.any_op failures(suppress) {
    ^bb0(%l: !transform.any_op):
      %for = transform.cast %l : !transform.any_op to !transform.op<"scf.for">
      %main, %rest = transform.loop.peel %for : (!transform.op<"scf.for">) -> (!transform.any_op, !transform.any_op)
    }
    transform.yield
  }
  // The M and N cache loops take the fill that zeroes the result with them (structured.fuse): each
  // 32 x 512 tile of C is zeroed just before its K loop accumulates into it, while it is in L1 and
  // L2, where a separate fill first wrote all of C (14 MB for the CNN's input gradient).
  // structured.fuse takes every producer that is still a tileable op; the elementwise nests and
  // transposes were tiled into loops of their own above, so that is the fill, and at most an
  // unvectorized (integer) nest, which is then recomputed for every tile that reads it.
  transform.named_sequence @tile_cache(%mm: !transform.any_op {transform.consumed}) {
    %tile, %c0, %c1 = transform.structured.fuse %mm [32, 512, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    %cache, %c2 = transform.structured.tile_using_for %tile tile_sizes [0, 0, 256]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%c1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%c0) : (!transform.any_op) -> ()
    transform.yield
  }
  // A product's epilogue (marked zephyr.epilogue in passes.cpp: its one user, an elementwise nest
  // over C): the nest is tiled by C's cache tiles and the product and its fill fused into each,
  // so that each 32 x 512 tile of C is consumed right after its products, while it is in L2. The
  // product's tiles then take the matmul's way below; the nest's tiles, the elementwise way.
  transform.named_sequence @tile_epilogue(%op: !transform.any_op {transform.consumed}) {
    %tile, %c0, %c1 = transform.structured.fuse %op [32, 512]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%c1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%c0) : (!transform.any_op) -> ()
    transform.yield
  }
  // A product whose B does not fit in L2 (marked zephyr.matmul_panel) runs its cache tiles N, K,
  // then M: each 256 x 512 panel of B stays in L2 while every row block of A passes over it,
  // where the M-outer order streamed all of B from L3 (or DRAM) once per 32 rows. C is read and
  // written once per K tile instead of once; at 2048^3 the order went from 0.6x to 0.8x OpenBLAS.
  transform.named_sequence @tile_cache_panel(%mm: !transform.any_op {transform.consumed}) {
    %cache, %cn, %ck, %cm = transform.structured.tile_using_for %mm tile_sizes [32, 512, 256] interchange = [1, 2, 0]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%cm) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%cn) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_registers(%mm: !transform.any_op {transform.consumed}) {
    %reg, %r0, %r1, %r2 = transform.structured.tile_using_for %mm tile_sizes [8, 32, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%r1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%r0) : (!transform.any_op) -> ()
    transform.yield
  }
  // A product of one row (marked zephyr.matvec: batch-1 inference) reads its matrix once and is
  // bound by that read. 256 columns at a time keep 16 zmm accumulators and read 1 KB of each
  // matrix row contiguously; the matmul's 8 x 32 register tile would keep two, whose FMA latency
  // each k step waits on, and read 128 bytes of each row.
  // The k loop is marked for zephyr-split-accumulators: a row of up to 7 registers would wait on
  // its FMAs' latency with one accumulator per register.
  transform.named_sequence @tile_matvec(%mm: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2 = transform.structured.tile_using_for %mm tile_sizes [1, 256, 1]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.annotate %l2 "zephyr.matvec_k" : !transform.any_op
    transform.include @peel failures(propagate) (%l1) : (!transform.any_op) -> ()
    transform.yield
  }
  // Elementwise nests and transposes marked zephyr.parallel (enough work to share) are split into
  // one row block per thread. Matmuls are split before the script, by zephyr-split-matmul-rows,
  // into blocks of whole register tiles (the same bits on every thread count).
  transform.named_sequence @split_rows(%mm: !transform.any_op {transform.consumed},
                                       %threads: !transform.param<i64> {transform.readonly}) {
    %block, %forall = transform.structured.tile_using_forall %mm num_threads [%threads]
        : (!transform.any_op, !transform.param<i64>) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
  // Transposes of a matrix, or of a batch of them (marked zephyr.tile_transpose_<rank> in
  // passes.cpp), move 16x16 blocks through registers instead of striding through memory element
  // by element; the edges are peeled into static smaller blocks.
  transform.named_sequence @tile_transpose_2(%t: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1 = transform.structured.tile_using_for %t tile_sizes [16, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l1) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_transpose_3(%t: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2 = transform.structured.tile_using_for %t tile_sizes [1, 16, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l2) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%l1) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_transpose_4(%t: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %t tile_sizes [1, 1, 16, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l3) : (!transform.any_op) -> ()
    transform.include @peel failures(propagate) (%l2) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_elementwise_1(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0 = transform.structured.tile_using_for %op tile_sizes [16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l0) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_elementwise_2(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1 = transform.structured.tile_using_for %op tile_sizes [1, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l1) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_elementwise_3(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2 = transform.structured.tile_using_for %op tile_sizes [1, 1, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l2) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_elementwise_4(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2, %l3 = transform.structured.tile_using_for %op tile_sizes [1, 1, 1, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l3) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @tile_elementwise_5(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2, %l3, %l4 = transform.structured.tile_using_for %op tile_sizes [1, 1, 1, 1, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l4) : (!transform.any_op) -> ()
    transform.yield
  }
  // Rank 6: 2x2 pooling's gradient, [n, h/2, 2, w/2, 2, c] (lib/ops/conv.cpp).
  transform.named_sequence @tile_elementwise_6(%op: !transform.any_op {transform.consumed}) {
    %tile, %l0, %l1, %l2, %l3, %l4, %l5 = transform.structured.tile_using_for %op tile_sizes [1, 1, 1, 1, 1, 16]
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op, !transform.any_op)
    transform.include @peel failures(propagate) (%l5) : (!transform.any_op) -> ()
    transform.yield
  }
  transform.named_sequence @vectorize_one(%op: !transform.any_op {transform.consumed}) {
    transform.sequence %op : !transform.any_op failures(suppress) {
    ^bb0(%target: !transform.any_op):
      transform.structured.vectorize %target : !transform.any_op
    }
    transform.yield
  }
  transform.named_sequence @tile_and_vectorize(%root: !transform.any_op {transform.readonly},
                                               %threads: !transform.param<i64> {transform.readonly}) {
    %shared = transform.structured.match attributes {zephyr.parallel} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %shared : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @split_rows failures(propagate) (%mm, %threads) : (!transform.any_op, !transform.param<i64>) -> ()
    }
    %transposes2 = transform.structured.match attributes {zephyr.tile_transpose_2} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transposes2 : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @tile_transpose_2 failures(propagate) (%t) : (!transform.any_op) -> ()
    }
    %transposes3 = transform.structured.match attributes {zephyr.tile_transpose_3} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transposes3 : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @tile_transpose_3 failures(propagate) (%t) : (!transform.any_op) -> ()
    }
    %transposes4 = transform.structured.match attributes {zephyr.tile_transpose_4} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transposes4 : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @tile_transpose_4 failures(propagate) (%t) : (!transform.any_op) -> ()
    }
    %ew1 = transform.structured.match attributes {zephyr.elementwise_1} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew1 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_1 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %ew2 = transform.structured.match attributes {zephyr.elementwise_2} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew2 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_2 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %ew3 = transform.structured.match attributes {zephyr.elementwise_3} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew3 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_3 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %ew4 = transform.structured.match attributes {zephyr.elementwise_4} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew4 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_4 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %ew5 = transform.structured.match attributes {zephyr.elementwise_5} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew5 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_5 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %ew6 = transform.structured.match attributes {zephyr.elementwise_6} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %ew6 : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_6 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %epilogues = transform.structured.match attributes {zephyr.epilogue} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %epilogues : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_epilogue failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    %epilogue_tiles = transform.structured.match attributes {zephyr.epilogue} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %epilogue_tiles : !transform.any_op {
    ^bb0(%op: !transform.any_op):
      transform.include @tile_elementwise_2 failures(propagate) (%op) : (!transform.any_op) -> ()
    }
    // One-row products: tiled for their own shape here, vectorized with the matmul tiles below
    // (canonicalization between vectorizing and reduction_to_contract would scalarize them).
    %matvecs = transform.structured.match attributes {zephyr.matvec} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %matvecs : !transform.any_op {
    ^bb0(%mv: !transform.any_op):
      transform.include @tile_matvec failures(propagate) (%mv) : (!transform.any_op) -> ()
    }
    %mms = transform.structured.match attributes {zephyr.matmul} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %mms : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_cache failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    %panels = transform.structured.match attributes {zephyr.matmul_panel} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %panels : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_cache_panel failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    // Folds the affine.min of tiles that now divide (and single-iteration peeled loops), so that
    // tile shapes become static.
    %funcs0 = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs0 {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %cache_tiles = transform.structured.match attributes {zephyr.matmul} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %cache_tiles : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_registers failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    %panel_tiles = transform.structured.match attributes {zephyr.matmul_panel} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %panel_tiles : !transform.any_op {
    ^bb0(%mm: !transform.any_op):
      transform.include @tile_registers failures(propagate) (%mm) : (!transform.any_op) -> ()
    }
    transform.apply_patterns to %funcs0 {
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    %tiles = transform.structured.match ops{["linalg.matmul", "linalg.matmul_transpose_a"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.foreach %tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %elementwise_tiles = transform.structured.match attributes {zephyr.elementwise} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %elementwise_tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %transpose_tiles = transform.structured.match attributes {zephyr.tile_transpose} in %root
        : (!transform.any_op) -> !transform.any_op
    transform.foreach %transpose_tiles : !transform.any_op {
    ^bb0(%t: !transform.any_op):
      transform.include @vectorize_one failures(suppress) (%t) : (!transform.any_op) -> ()
    }
    %funcs = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.transfer_permutation_patterns
    } : !transform.any_op
    // Separately: together with canonicalization, the k=1 reduction gets scalarized (half speed).
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.reduction_to_contract
    } : !transform.any_op
    // Then the pass folds slices into the vector transfers (passes.cpp: fold_slices_into_transfers,
    // which guards MLIR 19's folder against writes that cover only part of their tensor).
    transform.yield
  }
  // After loop-invariant subset hoisting: vector ops down to what LLVM lowers well.
  transform.named_sequence @lower_vectors(%root: !transform.any_op {transform.readonly}) {
    %funcs = transform.structured.match ops{["func.func"]} in %root : (!transform.any_op) -> !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_contraction lowering_strategy = "outerproduct"
      transform.apply_patterns.vector.lower_masks
      transform.apply_patterns.vector.rank_reducing_subview_patterns
      transform.apply_patterns.vector.cast_away_vector_leading_one_dim
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.transfer_permutation_patterns
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_transpose lowering_strategy = "shuffle_16x16"
    } : !transform.any_op
    transform.apply_patterns to %funcs {
      transform.apply_patterns.vector.lower_transfer max_transfer_rank = 1
      transform.apply_patterns.vector.lower_transpose lowering_strategy = "shuffle_1d"
      transform.apply_patterns.vector.lower_shape_cast
      transform.apply_patterns.vector.lower_outerproduct
      transform.apply_patterns.canonicalization
    } : !transform.any_op
    transform.yield
  }
}
