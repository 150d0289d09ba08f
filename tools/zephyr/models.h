// The models built into the `zephyr` tool.
#pragma once

namespace zephyr::cli {

/// Registers mlp, mlp_loss, autoencoder, autoencoder_loss and linear (once; idempotent).
void register_builtin_models();

}  // namespace zephyr::cli
