#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
#ifdef ZEPHYR_TEST_CACHE_DIR
  setenv("ZEPHYR_CACHE_DIR", ZEPHYR_TEST_CACHE_DIR, /*overwrite=*/0);  // a test may choose its own
#endif
  return doctest::Context(argc, argv).run();
}
