/* Calls the model compiled at build time and checks it against loops. */
#include <math.h>
#include <stdio.h>

#include "tiny_model.h"

int main(void) {
  float w[4 * 3], b[3], x[2 * 4], y[2 * 3];
  for (int i = 0; i < 12; ++i) w[i] = 0.1f * (float)(i - 6);
  for (int i = 0; i < 3; ++i) b[i] = 0.05f * (float)i;
  for (int i = 0; i < 8; ++i) x[i] = 0.3f * (float)(i % 5) - 0.5f;
  tiny_model(w, b, x, y);
  double worst = 0;
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < 3; ++j) {
      double s = b[j];
      for (int k = 0; k < 4; ++k) s += (double)x[r * 4 + k] * w[k * 3 + j];
      worst = fmax(worst, fabs(tanh(s) - y[r * 3 + j]));
    }
  printf("consumer app: max |model - loops| = %.3g\n", worst);
  return worst < 1e-5 ? 0 : 1;
}
