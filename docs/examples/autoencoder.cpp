// The seed README's autoencoder, in C++: plain functions, parameters declared inline by the
// layers they use, one traced tree, and every part of the model usable on its own.
#include <fmt/core.h>
#include <zephyr/zephyr.h>

#include <cmath>

namespace z = zephyr;

z::Tensor encoder(z::Params p, z::Tensor x, int embed, int latent) {
  x = z::nets::mlp(p["mlp_1"], x, {embed, embed});
  return z::nets::mlp(p["mlp_2"], x, {embed, latent});
}

z::Tensor decoder(z::Params p, z::Tensor x, int embed, int original) {
  return z::nets::mlp(p, x, {embed, embed, original});
}

z::Tensor autoencoder(z::Params p, z::Tensor x, int embed, int latent) {
  z::Tensor encoding = encoder(p["encoder"], x, embed, latent);
  return decoder(p["decoder"], encoding, embed, x.shape(-1));
}

// Silly, but possible: the encoder with its two MLPs swapped, reusing the encoder's weights.
z::Tensor flipped_encoder(z::Params p, z::Tensor x, int embed, int latent) {
  x = z::nets::mlp(p["mlp_2"], x, {embed, latent});
  return z::nets::mlp(p["mlp_1"], x, {embed, embed});
}

void summarize(const char* what, const z::Array& a) {
  double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < a.size(); ++i) {
    double v = a.at(i);
    sum += v, sq += v * v, lo = std::min(lo, v), hi = std::max(hi, v);
  }
  double mean = sum / a.size();
  fmt::print("{:<28} {:<14} mean {:+.4f}  std {:.4f}  min {:+.4f}  max {:+.4f}\n", what,
             z::describe(a.dtype(), a.shape()), mean, std::sqrt(sq / a.size() - mean * mean), lo, hi);
}

int main() {
  const int batch = 8, original = 64, embed = 512, latent = 256;
  z::Array x = z::random::normal(z::random::key(42), {batch, original});

  z::ParamTree params = z::trace(autoencoder, z::random::key(0), x, embed, latent);
  fmt::print("{}\n\n", params);

  z::Array y = z::jit(autoencoder)(params, x, embed, latent);
  summarize("autoencoder(x)", y);

  // Just the encoder, just the decoder, just mlp_2: each on its own sub-tree.
  z::Array encoding = z::jit(encoder)(params["encoder"], x, embed, latent);
  summarize("encoder(x)", encoding);
  z::Array reconstruction = z::jit(decoder)(params["decoder"], encoding, embed, original);
  summarize("decoder(encoder(x))", reconstruction);
  auto mlp_2 = [](z::Params p, z::Tensor h, int embed, int latent) { return z::nets::mlp(p, h, {embed, latent}); };
  z::Array h = z::random::normal(z::random::key(1), {batch, embed});
  summarize("mlp_2(h)", z::jit(mlp_2)(params["encoder"]["mlp_2"], h, embed, latent));

  // The flipped encoder only fits these weights if every width agrees; here it does not, and
  // the error says which leaf, where, and both shapes.
  try {
    z::jit(flipped_encoder)(params["encoder"], h, embed, latent);
  } catch (const z::Error& e) {
    fmt::print("\nflipped_encoder on this tree is rejected, as it should be:\n  {}\n\n", e.what());
  }
  // With equal widths (64 in, embed 64, latent 64) the flipped encoder runs on the same weights.
  z::ParamTree square = z::trace(autoencoder, z::random::key(0), x, original, original);
  summarize("flipped_encoder(x), square", z::jit(flipped_encoder)(square["encoder"], x, original, original));

  if (!reconstruction.bitwise_equal(y)) {
    fmt::print("error: decoder(encoder(x)) differs from autoencoder(x)\n");
    return 1;
  }
  fmt::print("\ndecoder(encoder(x)) == autoencoder(x), bit for bit\n");
  return 0;
}
