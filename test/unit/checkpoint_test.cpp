// Training checkpoints: params and optimizer state in one safetensors file.
#include <doctest/doctest.h>
#include <zephyr/zephyr.h>

#include "test_support.h"

namespace z = zephyr;
using TempDir = z::testing::TempDir;

TEST_CASE("safetensors checkpoint: params and optimizer state round trip bitwise, with metadata") {
  TempDir dir;
  z::ParamTree params({{"dense/weights", z::random::uniform(z::random::key(1), {3, 2})},
                       {"dense/bias", z::random::uniform(z::random::key(2), {2})}});
  z::ParamTree state = z::optim::adam(1e-3).init(params);
  state.set("step", z::Array::scalar<int32_t>(17));
  z::io::save_checkpoint(dir.file("ck.safetensors"), {params, state, {{"epoch", "3"}}});

  z::io::Checkpoint back = z::io::load_checkpoint(dir.file("ck.safetensors"), params, state);
  REQUIRE(back.params.size() == params.size());
  REQUIRE(back.state.size() == state.size());
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(back.params.leaves()[i].first == params.leaves()[i].first);
    CHECK(back.params.leaves()[i].second.bitwise_equal(params.leaves()[i].second));
  }
  for (size_t i = 0; i < state.size(); ++i) {
    CHECK(back.state.leaves()[i].first == state.leaves()[i].first);
    CHECK(back.state.leaves()[i].second.bitwise_equal(state.leaves()[i].second));
  }
  CHECK(back.metadata.at("epoch") == "3");
  // The file's names are the leaf paths under "params/" and "opt/".
  z::io::NamedArrays raw = z::io::load_safetensors(dir.file("ck.safetensors"));
  CHECK(raw.front().first == "params/dense/weights");
  CHECK(raw.back().first == "opt/nu/dense/bias");
  // A model of another shape: the error names the path and both shapes.
  z::ParamTree wider({{"dense/weights", z::Array::zeros({3, 4})}, {"dense/bias", z::Array::zeros({2})}});
  CHECK_ERROR(z::io::load_checkpoint(dir.file("ck.safetensors"), wider, state), "params/dense/weights", "[3, 4]",
              "[3, 2]");
}
