// Tracing, parameter trees, model surgery by name, and jit over sub-trees.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include <cmath>

namespace z = zephyr;

namespace {

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

z::Tensor linear(z::Params p, z::Tensor x, int out) {
  p["weights"] == z::array({x.shape(-1), out}, z::init::base);
  p["bias"] == z::array({out}, z::init::normal(0.1));
  return z::matmul(x, p["weights"]) + p["bias"];
}

// y = x @ W + b, by hand.
std::vector<double> linear_reference(const z::Array& x, const z::Array& w, const z::Array& b) {
  int64_t n = x.shape(0), k = x.shape(1), m = w.shape(1);
  std::vector<double> y(n * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = b.at(j);
      for (int64_t t = 0; t < k; ++t) s += x.at(i * k + t) * w.at(t * m + j);
      y[i * m + j] = s;
    }
  return y;
}

double max_abs_diff(const z::Array& a, const std::vector<double>& b) {
  REQUIRE(a.size() == static_cast<int64_t>(b.size()));
  double worst = 0;
  for (int64_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a.at(i) - b[i]));
  return worst;
}

z::Array example_input(z::Shape shape, uint64_t seed = 7) { return z::random::uniform(z::random::key(seed), shape); }

}  // namespace

TEST_CASE("the autoencoder's traced tree has exactly the expected paths and shapes") {
  z::Array x = z::Array::ones({8, 64});
  z::ParamTree params = z::trace(autoencoder, z::random::key(0), x, 512, 256);
  std::vector<std::pair<std::string, z::Shape>> expected = {
      {"encoder/mlp_1/0/weights", {64, 512}},  {"encoder/mlp_1/0/bias", {512}},
      {"encoder/mlp_1/1/weights", {512, 512}}, {"encoder/mlp_1/1/bias", {512}},
      {"encoder/mlp_2/0/weights", {512, 512}}, {"encoder/mlp_2/0/bias", {512}},
      {"encoder/mlp_2/1/weights", {512, 256}}, {"encoder/mlp_2/1/bias", {256}},
      {"decoder/0/weights", {256, 512}},       {"decoder/0/bias", {512}},
      {"decoder/1/weights", {512, 512}},       {"decoder/1/bias", {512}},
      {"decoder/2/weights", {512, 64}},        {"decoder/2/bias", {64}},
  };
  REQUIRE(params.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(params.leaves()[i].first == expected[i].first);
    CHECK(params.leaves()[i].second.shape() == expected[i].second);
    CHECK(params.leaves()[i].second.dtype() == z::DType::f32);
  }
  CHECK(params.keys() == std::vector<std::string>{"encoder", "decoder"});
  CHECK(params["encoder"].keys() == std::vector<std::string>{"mlp_1", "mlp_2"});
  CHECK(params["encoder"]["mlp_1"][0]["weights"].array().shape() == z::Shape{64, 512});
  CHECK(params.count() == 64 * 512 + 512 + 3 * (512 * 512 + 512) + 512 * 256 + 256 + 256 * 512 + 512 + 512 * 64 + 64);
}

TEST_CASE("the base initializer: truncated normal weights with std 1/sqrt(fan_in), zero biases") {
  z::ParamTree params = z::trace(autoencoder, z::random::key(0), z::Array::ones({8, 64}), 512, 256);
  const z::Array& w = params["encoder"]["mlp_1"][1]["weights"];  // fan_in 512
  double s2 = 0;
  for (int64_t i = 0; i < w.size(); ++i) {
    s2 += w.at(i) * w.at(i);
    // Truncated at 2 sigma of the underlying normal, whose std is rescaled up by 1/0.8796.
    REQUIRE(std::abs(w.at(i)) <= 2.0 / std::sqrt(512.0) / 0.87962566 + 1e-6);
  }
  CHECK(std::sqrt(s2 / w.size()) == doctest::Approx(1 / std::sqrt(512.0)).epsilon(0.02));
  const z::Array& b = params["decoder"][2]["bias"];
  for (int64_t i = 0; i < b.size(); ++i) REQUIRE(b.at(i) == 0.0);
}

TEST_CASE("same seed gives bitwise-identical params, and another seed does not") {
  z::Array x = z::Array::ones({8, 64});
  z::ParamTree a = z::trace(autoencoder, z::random::key(0), x, 32, 16);
  z::ParamTree b = z::trace(autoencoder, z::random::key(0), x, 32, 16);
  z::ParamTree c = z::trace(autoencoder, z::random::key(1), x, 32, 16);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a.leaves()[i].second.bitwise_equal(b.leaves()[i].second));
  CHECK_FALSE(a.at("encoder/mlp_1/0/weights").bitwise_equal(c.at("encoder/mlp_1/0/weights")));
}

TEST_CASE("a leaf's initial value depends only on the root key and its path") {
  // Adding a layer (a longer decoder) leaves the encoder's initialization unchanged.
  auto wider = [](z::Params p, z::Tensor x) {
    z::Tensor e = encoder(p["encoder"], x, 32, 16);
    return z::nets::mlp(p["decoder"], e, {32, 32, 32, x.shape(-1)});
  };
  z::Array x = z::Array::ones({4, 8});
  z::ParamTree a = z::trace(autoencoder, z::random::key(3), x, 32, 16);
  z::ParamTree b = z::trace(wider, z::random::key(3), x);
  CHECK(a.at("encoder/mlp_2/1/weights").bitwise_equal(b.at("encoder/mlp_2/1/weights")));
  CHECK(b.size() == a.size() + 2);
}

TEST_CASE("linear(params, x) equals x @ W + b computed by hand from the traced arrays") {
  z::Array x = example_input({64, 8});
  z::ParamTree params = z::trace(linear, z::random::key(0), x, 128);
  z::Array y = z::jit(linear)(params, x, 128);
  CHECK(y.shape() == z::Shape{64, 128});
  CHECK(max_abs_diff(y, linear_reference(x, params["weights"], params["bias"])) < 1e-5);
}

TEST_CASE("any sub-function runs on any sub-tree: model surgery by name") {
  z::Array x = example_input({8, 64});
  z::ParamTree params = z::trace(autoencoder, z::random::key(0), x, 64, 32);
  z::Array y = z::jit(autoencoder)(params, x, 64, 32);
  z::Array e = z::jit(encoder)(params["encoder"], x, 64, 32);
  z::Array d = z::jit(decoder)(params["decoder"], e, 64, 64);
  CHECK(e.shape() == z::Shape{8, 32});
  CHECK(d.bitwise_equal(y));  // decoder(encoder(x)) is the autoencoder

  // mlp_2 alone, by hand: relu(h @ W0 + b0) @ W1 + b1.
  z::Array h = example_input({8, 64}, 9);
  auto mlp_2 = [](z::Params p, z::Tensor in) { return z::nets::mlp(p, in, {64, 32}); };
  z::Array m = z::jit(mlp_2)(params["encoder"]["mlp_2"], h);
  std::vector<double> hidden = linear_reference(h, params.at("encoder/mlp_2/0/weights"), params.at("encoder/mlp_2/0/bias"));
  for (double& v : hidden) v = std::max(v, 0.0);
  z::Array hidden_array = z::Array::from<double>({8, 64}, hidden).astype(z::DType::f32);
  CHECK(max_abs_diff(m, linear_reference(hidden_array, params.at("encoder/mlp_2/1/weights"),
                                         params.at("encoder/mlp_2/1/bias"))) < 1e-4);
}

TEST_CASE("model surgery: replacing a leaf by name changes the output") {
  z::Array x = example_input({4, 8});
  z::ParamTree params = z::trace(linear, z::random::key(0), x, 3);
  params.set("bias", z::Array::full({3}, 10.0));
  z::Array y = z::jit(linear)(params, x, 3);
  CHECK(max_abs_diff(y, linear_reference(x, params["weights"], params["bias"])) < 1e-5);
  CHECK(y.at(0) > 5.0);
}

TEST_CASE("jit caches by shapes and constants and recompiles only when they change") {
  auto model = z::jit(linear);
  z::ParamTree params = z::trace(linear, z::random::key(0), example_input({4, 8}), 3);
  model(params, example_input({4, 8}), 3);
  model(params, example_input({4, 8}, 11), 3);
  CHECK(model.cache_size() == 1);
  model(params, example_input({16, 8}), 3);  // new batch size: new code
  CHECK(model.cache_size() == 2);
}

TEST_CASE("ParamTree prints every path with its shape and dtype, and the totals") {
  z::ParamTree params = z::trace(linear, z::random::key(0), z::Array::ones({2, 8}), 3);
  std::string text = fmt::format("{}", params);
  CHECK(text.find("weights  f32[8, 3]") != std::string::npos);
  CHECK(text.find("bias     f32[3]") != std::string::npos);
  CHECK(text.find("2 leaves, 27 parameters") != std::string::npos);
}

TEST_CASE("a tied parameter is one leaf used twice") {
  auto tied = [](z::Params p, z::Tensor x) {
    z::Tensor w = z::validate(p["shared"], {x.shape(-1), x.shape(-1)});
    return z::matmul(z::matmul(x, w), p["shared"]);
  };
  z::Array x = example_input({2, 4});
  z::ParamTree params = z::trace(tied, z::random::key(0), x);
  CHECK(params.size() == 1);
  z::Array y = z::jit(tied)(params, x);
  const z::Array& w = params["shared"];
  z::Array xw = z::Array::from<double>({2, 4}, linear_reference(x, w, z::Array::zeros({4}))).astype(z::DType::f32);
  CHECK(max_abs_diff(y, linear_reference(xw, w, z::Array::zeros({4}))) < 1e-5);
}

TEST_CASE("host tree utilities: flatten, unflatten, map_with_path") {
  z::ParamTree params = z::trace(autoencoder, z::random::key(0), z::Array::ones({2, 8}), 16, 4);
  std::vector<z::Array> arrays = z::flatten(params);
  CHECK(arrays.size() == params.size());
  z::ParamTree back = z::unflatten(params, arrays);
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(back.leaves()[i].first == params.leaves()[i].first);
    CHECK(back.leaves()[i].second.bitwise_equal(params.leaves()[i].second));
  }
  z::ParamTree zeroed = z::map_with_path(params, [](const std::string& path, const z::Array& a) {
    return path.ends_with("weights") ? z::Array::zeros(a.shape()) : a;
  });
  CHECK(zeroed.at("decoder/0/weights").at(0) == 0.0);
  CHECK(zeroed.at("decoder/0/bias").bitwise_equal(params.at("decoder/0/bias")));
  arrays.pop_back();
  CHECK_THROWS_WITH(z::unflatten(params, arrays), doctest::Contains("13 arrays for a tree of 14 leaves"));
}

TEST_CASE("set on a sub-tree copy does not reach the parent; set(prefix, subtree) puts it back") {
  z::ParamTree tree({{"encoder/0/weights", z::Array::zeros({2})}, {"encoder/0/bias", z::Array::zeros({1})},
                     {"head/weights", z::Array::zeros({3})}});
  z::ParamTree encoder = tree["encoder"];
  encoder.set("0/weights", z::Array::full({2}, 7.0));
  CHECK(tree.at("encoder/0/weights").at(0) == 0.0);  // a copy: the parent is unchanged
  encoder.set("1/weights", z::Array::full({4}, 1.0));
  tree.set("encoder", encoder);
  CHECK(tree.at("encoder/0/weights").at(0) == 7.0);
  CHECK(tree.at("encoder/1/weights").shape() == z::Shape{4});
  CHECK(tree.keys() == std::vector<std::string>{"encoder", "head"});
  CHECK(tree.size() == 4);
}

TEST_CASE("a tree's layout id: new when built or set, kept by copies, 0 when empty or moved from") {
  z::ParamTree tree({{"w", z::Array::zeros({2, 3})}, {"b", z::Array::zeros({3})}});
  const uint64_t built = tree.layout_id();
  CHECK(built != 0);
  CHECK(z::ParamTree().layout_id() == 0);
  z::ParamTree copy = tree;
  CHECK(copy.layout_id() == built);
  copy.set("b", z::Array::zeros({4}));
  CHECK(copy.layout_id() != built);
  CHECK(tree.layout_id() == built);  // the copy's change is its own
  z::ParamTree moved = std::move(tree);
  CHECK(moved.layout_id() == built);
  CHECK(tree.layout_id() == 0);  // NOLINT(bugprone-use-after-move): what a moved-from tree holds
  CHECK(tree.empty());
  z::ParamTree assigned;
  assigned = std::move(moved);
  CHECK(assigned.layout_id() == built);
  CHECK(moved.layout_id() == 0);  // NOLINT(bugprone-use-after-move)
  CHECK(assigned["w"].layout_id() != 0);  // a sub-tree is a tree of its own
}

TEST_CASE("jit: the same tree called again is a hit; a tree changed in place is never taken for its old layout") {
  z::Array x = example_input({4, 8});
  z::ParamTree params = z::trace(linear, z::random::key(0), x, 3);
  auto model = z::jit(linear);
  for (int i = 0; i < 3; ++i) model(params, x, 3);
  CHECK(model.cache_stats().compiles == 1);
  CHECK(model.cache_stats().hits == 2);
  // A copy has the same layout: a hit.
  z::ParamTree copy = params;
  model(copy, x, 3);
  CHECK(model.cache_stats().compiles == 1);
  CHECK(model.cache_stats().hits == 3);
  // The copy's bias set wider in place, the same constants: the model's shape check runs (a
  // new signature is traced), where the last call's code would have read past the old bias.
  copy.set("bias", z::Array::zeros({5}));
  CHECK_THROWS_WITH_AS(model(copy, x, 3), doctest::Contains("bias"), z::Error);
  // Same shapes through set(): a new id, found by the full key, no compile.
  params.set("bias", z::Array::full({3}, 2.0));
  CHECK(max_abs_diff(model(params, x, 3), linear_reference(x, params["weights"], params["bias"])) < 1e-5);
  CHECK(model.cache_stats().compiles == 1);
  CHECK(model.cache_stats().hits == 4);
  // A moved-from tree is empty: the model's missing parameter is named, not run on stale code.
  z::ParamTree taken = std::move(params);
  CHECK_THROWS_WITH_AS(model(params, x, 3), doctest::Contains("weights"), z::Error);  // NOLINT(bugprone-use-after-move)
  CHECK(max_abs_diff(model(taken, x, 3), linear_reference(x, taken["weights"], taken["bias"])) < 1e-5);
}
