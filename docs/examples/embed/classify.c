/* A plain C application that classifies Fashion-MNIST test images with a classifier compiled
 * ahead of time by `zephyr compile mlp --weights ... --name fashion_classifier`. The weights are
 * inside the object file; the program needs only libc and zlib (to read the dataset).
 *
 * Usage: classify [DATA_DIR]   (default /usr/share/datasets/fashion-mnist) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fashion_classifier.h"

enum { BATCH = 128, PIXELS = 28 * 28, CLASSES = 10 };

/* The whole gunzipped file, or NULL with a message. */
static unsigned char* read_gz(const char* path, size_t* size) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "classify: cannot open %s (apt-get install dataset-fashion-mnist)\n", path);
    return NULL;
  }
  size_t capacity = 1 << 20, used = 0;
  unsigned char* data = malloc(capacity);
  int n;
  while ((n = gzread(f, data + used, (unsigned)(capacity - used))) > 0) {
    used += (size_t)n;
    if (used == capacity) data = realloc(data, capacity *= 2);
  }
  gzclose(f);
  *size = used;
  return data;
}

static uint32_t big_endian(const unsigned char* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  char path[4096];
  size_t image_bytes, label_bytes;
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  unsigned char* images = read_gz(path, &image_bytes);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
  unsigned char* labels = read_gz(path, &label_bytes);
  if (!images || !labels) return 2;
  if (image_bytes < 16 || big_endian(images) != 0x803 || label_bytes < 8 || big_endian(labels) != 0x801) {
    fprintf(stderr, "classify: not IDX image/label files\n");
    return 2;
  }
  uint32_t count = big_endian(images + 4);
  if (big_endian(labels + 4) != count || image_bytes != 16 + (size_t)count * PIXELS || label_bytes != 8 + count) {
    fprintf(stderr, "classify: image and label files disagree or are truncated\n");
    return 2;
  }

  /* Batches of the compiled size; the last one is padded with zeros and its padding ignored. */
  static float x[BATCH * PIXELS], logits[BATCH * CLASSES];
  uint32_t correct = 0;
  for (uint32_t begin = 0; begin < count; begin += BATCH) {
    uint32_t rows = count - begin < BATCH ? count - begin : BATCH;
    memset(x, 0, sizeof x);
    for (uint32_t i = 0; i < rows * PIXELS; ++i) x[i] = images[16 + (size_t)begin * PIXELS + i] / 255.0f;
    fashion_classifier(x, logits);
    for (uint32_t r = 0; r < rows; ++r) {
      int best = 0;
      for (int c = 1; c < CLASSES; ++c)
        if (logits[r * CLASSES + c] > logits[r * CLASSES + best]) best = c;
      correct += best == labels[8 + begin + r];
    }
  }
  printf("ahead-of-time classifier: test accuracy %.4f (%u of %u)\n", (double)correct / count, correct, count);
  free(images);
  free(labels);
  return 0;
}
