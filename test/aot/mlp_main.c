/* Links the ahead-of-time compiled MLP (zephyr compile mlp) into a plain C program and checks it
 * against a reference written here as loops. No MLIR, LLVM or zephyr at run time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h"

enum { BATCH = 128, IN = 784, HIDDEN = 512, OUT = 10 };

static float* filled(size_t n, float scale, float phase) {
  float* p = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; ++i) p[i] = scale * sinf(0.37f * (float)i + phase);
  return p;
}

/* y = x @ w + b, with ReLU when asked; row-major, weights (in, out). */
static void dense(const float* x, const float* w, const float* b, float* y, int rows, int in, int out, int relu) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < out; ++j) {
      double s = b[j];
      for (int k = 0; k < in; ++k) s += (double)x[r * in + k] * w[k * out + j];
      y[r * out + j] = (float)(relu && s < 0 ? 0 : s);
    }
}

int main(void) {
  float *w0 = filled(IN * HIDDEN, 0.05f, 0.1f), *b0 = filled(HIDDEN, 0.1f, 0.2f);
  float *w1 = filled(HIDDEN * HIDDEN, 0.05f, 0.3f), *b1 = filled(HIDDEN, 0.1f, 0.4f);
  float *w2 = filled(HIDDEN * OUT, 0.05f, 0.5f), *b2 = filled(OUT, 0.1f, 0.6f);
  float* x = filled(BATCH * IN, 1.0f, 0.7f);
  float* y = malloc(BATCH * OUT * sizeof(float));
  zephyr_mlp(w0, b0, w1, b1, w2, b2, x, y);
  /* The same call through the header's struct of parameter pointers. */
  zephyr_mlp_params params = {w0, b0, w1, b1, w2, b2};
  float* y_struct = malloc(BATCH * OUT * sizeof(float));
  zephyr_mlp_with_params(&params, x, y_struct);
  int same = 1;
  for (int i = 0; i < BATCH * OUT && same; ++i)
    if (y_struct[i] != y[i]) {
      printf("zephyr_mlp_with_params differs at %d\n", i);
      same = 0;
    }

  float* h0 = malloc(BATCH * HIDDEN * sizeof(float));
  float* h1 = malloc(BATCH * HIDDEN * sizeof(float));
  float* expected = malloc(BATCH * OUT * sizeof(float));
  dense(x, w0, b0, h0, BATCH, IN, HIDDEN, 1);
  dense(h0, w1, b1, h1, BATCH, HIDDEN, HIDDEN, 1);
  dense(h1, w2, b2, expected, BATCH, HIDDEN, OUT, 0);

  double worst = 0, scale = 0;
  for (int i = 0; i < BATCH * OUT; ++i) {
    worst = fmax(worst, fabs((double)y[i] - expected[i]));
    scale = fmax(scale, fabs((double)expected[i]));
  }
  printf("aot mlp: max |compiled - reference| = %.3g (largest output %.3g)\n", worst, scale);
  int ok = same && worst <= 1e-4 * fmax(1.0, scale);
  printf("%d passed, %d failed\n", ok, !ok);
  float* buffers[] = {w0, b0, w1, b1, w2, b2, x, y, y_struct, h0, h1, expected};
  for (size_t i = 0; i < sizeof buffers / sizeof *buffers; ++i) free(buffers[i]);  /* LeakSanitizer */
  return ok ? 0 : 1;
}
