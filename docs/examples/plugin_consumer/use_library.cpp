// Calls the shared library's compiled function and checks it against a loop.
#include <cmath>
#include <cstdio>

extern "C" double sum_of_squares(const float* values, long count);

int main() {
  const float values[] = {1.5f, -2.0f, 0.25f, 3.0f};
  double want = 0;
  for (float v : values) want += double(v) * v;
  const double got = sum_of_squares(values, 4);
  std::printf("sum of squares %g (want %g)\n", got, want);
  return std::abs(got - want) < 1e-5 ? 0 : 1;
}
