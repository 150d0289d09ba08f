// Recurrent layers over a sequence, each one z::scan (one compiled loop, whatever the length).
// Params are laid out and named as Haiku's hk.LSTM and hk.GRU (with zephyr's leaf names).
#pragma once

#include "zephyr/init.h"
#include "zephyr/params.h"
#include "zephyr/tensor.h"

namespace zephyr::nets {

/// An LSTM over xs [T, batch, features], from a zero state: returns every step's h, [T, batch,
/// hidden]. As hk.LSTM: one linear layer on [x, h], p["linear"]["weights"] [features + hidden,
/// 4·hidden] and p["linear"]["bias"] [4·hidden], gates in the order i, g, f, o, and 1 added to the
/// forget gate's input. The inputs' share of the gates is one matmul over all steps, outside the
/// loop; only h's share runs step by step.
Tensor lstm(Params p, Tensor xs, int64_t hidden, const Initializer& initializer = init::base,
            Loc loc = Loc::current());

/// A GRU over xs [T, batch, features], from a zero state: every step's h, [T, batch, hidden]. As
/// hk.GRU: p["w_i"] [features, 3·hidden], p["w_h"] [hidden, 3·hidden], p["b"] [3·hidden], gates
/// z, r, then the candidate a = tanh(x·w_i,a + r ⊙ (h·w_h,a) + b_a), and h' = (1 - z) ⊙ h + z ⊙ a.
Tensor gru(Params p, Tensor xs, int64_t hidden, const Initializer& initializer = init::base,
           Loc loc = Loc::current());

}  // namespace zephyr::nets
