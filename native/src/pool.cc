// Max and average pooling over NHWC, forward and backward, as plain loops: they are memory bound.
// Semantics follow TF.js's CPU kernels: the max takes the first strict maximum of a window (NaN never wins),
// the average divides by the in-bounds count, and its gradient spreads dy / (filter area) over in-bounds pixels.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "nin_onednn.h"

namespace nin {
namespace {

constexpr int kChannelBlock = 64;  // gradients scatter; threads own (image, channel block) pairs so writes never race

struct Window {
  int row_begin, row_end, col_begin, col_end;
};

// The in-bounds part of one window; empty (begin == end) when the window lies in the padding.
Window window(const PoolShape& s, int out_row, int out_col) {
  const int64_t row = (int64_t)out_row * s.stride_height - s.pad_top;
  const int64_t col = (int64_t)out_col * s.stride_width - s.pad_left;
  const int64_t row_begin = std::clamp<int64_t>(row, 0, s.in_height);
  const int64_t col_begin = std::clamp<int64_t>(col, 0, s.in_width);
  return {(int)row_begin, (int)std::clamp<int64_t>(row + s.filter_height, row_begin, s.in_height), (int)col_begin,
          (int)std::clamp<int64_t>(col + s.filter_width, col_begin, s.in_width)};
}

void zero(float* data, int64_t size) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (size + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < chunks; ++i) {
    std::memset(data + i * kChunk, 0, sizeof(float) * std::min(kChunk, size - i * kChunk));
  }
}

}  // namespace

void max_pool(const PoolShape& s, const float* x, float* y) {
  ScopedTimer time(Timer::kPool);
  const int c_count = s.channels;
  const float lowest = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < s.batch; ++b) {
    for (int out_row = 0; out_row < s.out_height; ++out_row) {
      const float* image = x + (int64_t)b * s.in_height * s.in_width * c_count;
      for (int out_col = 0; out_col < s.out_width; ++out_col) {
        float* out = y + (((int64_t)b * s.out_height + out_row) * s.out_width + out_col) * c_count;
        for (int c = 0; c < c_count; ++c) out[c] = lowest;
        const Window w = window(s, out_row, out_col);
        for (int r = w.row_begin; r < w.row_end; ++r) {
          for (int q = w.col_begin; q < w.col_end; ++q) {
            const float* pixel = image + ((int64_t)r * s.in_width + q) * c_count;
            for (int c = 0; c < c_count; ++c) out[c] = pixel[c] > out[c] ? pixel[c] : out[c];
          }
        }
      }
    }
  }
}

void max_pool_grad(const PoolShape& s, const float* dy, const float* x, float* dx) {
  ScopedTimer time(Timer::kPool);
  const int c_count = s.channels;
  const int blocks = (c_count + kChannelBlock - 1) / kChannelBlock;
  const int64_t in_image = (int64_t)s.in_height * s.in_width * c_count;
  const int64_t out_image = (int64_t)s.out_height * s.out_width * c_count;
  zero(dx, in_image * s.batch);
#pragma omp parallel
  {
    float best[kChannelBlock];
    int32_t where[kChannelBlock];  // pixel (row * in_width + col) of the first maximum, -1 for none
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < s.batch; ++b) {
      for (int block = 0; block < blocks; ++block) {
        const int c0 = block * kChannelBlock;
        const int width = std::min(kChannelBlock, c_count - c0);
        const float* image = x + b * in_image + c0;
        float* grad = dx + b * in_image + c0;
        for (int out_row = 0; out_row < s.out_height; ++out_row) {
          for (int out_col = 0; out_col < s.out_width; ++out_col) {
            for (int c = 0; c < width; ++c) {
              best[c] = -std::numeric_limits<float>::infinity();
              where[c] = -1;
            }
            const Window w = window(s, out_row, out_col);
            for (int r = w.row_begin; r < w.row_end; ++r) {
              for (int q = w.col_begin; q < w.col_end; ++q) {
                const int32_t at = r * s.in_width + q;
                const float* pixel = image + (int64_t)at * c_count;
                // Selects as max and bit masks of the same width, so this vectorizes.
                for (int c = 0; c < width; ++c) {
                  const int32_t better = -(int32_t)(pixel[c] > best[c]);
                  where[c] = (at & better) | (where[c] & ~better);
                  best[c] = best[c] < pixel[c] ? pixel[c] : best[c];
                }
              }
            }
            const float* g = dy + b * out_image + ((int64_t)out_row * s.out_width + out_col) * c_count + c0;
            for (int c = 0; c < width; ++c) {
              if (where[c] >= 0) grad[(int64_t)where[c] * c_count + c] += g[c];
            }
          }
        }
      }
    }
  }
}

void avg_pool(const PoolShape& s, const float* x, float* y) {
  ScopedTimer time(Timer::kPool);
  const int c_count = s.channels;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < s.batch; ++b) {
    for (int out_row = 0; out_row < s.out_height; ++out_row) {
      const float* image = x + (int64_t)b * s.in_height * s.in_width * c_count;
      for (int out_col = 0; out_col < s.out_width; ++out_col) {
        float* out = y + (((int64_t)b * s.out_height + out_row) * s.out_width + out_col) * c_count;
        for (int c = 0; c < c_count; ++c) out[c] = 0.f;
        const Window w = window(s, out_row, out_col);
        for (int r = w.row_begin; r < w.row_end; ++r) {
          for (int q = w.col_begin; q < w.col_end; ++q) {
            const float* pixel = image + ((int64_t)r * s.in_width + q) * c_count;
            for (int c = 0; c < c_count; ++c) out[c] += pixel[c];
          }
        }
        const float count = (float)((w.row_end - w.row_begin) * (w.col_end - w.col_begin));
        for (int c = 0; c < c_count; ++c) out[c] /= count;  // an empty window gives 0/0 = NaN, as in TF.js
      }
    }
  }
}

void avg_pool_grad(const PoolShape& s, const float* dy, float* dx) {
  ScopedTimer time(Timer::kPool);
  const int c_count = s.channels;
  const int blocks = (c_count + kChannelBlock - 1) / kChannelBlock;
  const int64_t in_image = (int64_t)s.in_height * s.in_width * c_count;
  const int64_t out_image = (int64_t)s.out_height * s.out_width * c_count;
  const float scale = 1.f / (float)((int64_t)s.filter_height * s.filter_width);
  zero(dx, in_image * s.batch);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < s.batch; ++b) {
    for (int block = 0; block < blocks; ++block) {
      const int c0 = block * kChannelBlock;
      const int width = std::min(kChannelBlock, c_count - c0);
      float* grad = dx + b * in_image + c0;
      for (int out_row = 0; out_row < s.out_height; ++out_row) {
        for (int out_col = 0; out_col < s.out_width; ++out_col) {
          const float* g = dy + b * out_image + ((int64_t)out_row * s.out_width + out_col) * c_count + c0;
          const Window w = window(s, out_row, out_col);
          for (int r = w.row_begin; r < w.row_end; ++r) {
            for (int q = w.col_begin; q < w.col_end; ++q) {
              float* pixel = grad + ((int64_t)r * s.in_width + q) * c_count;
              for (int c = 0; c < width; ++c) pixel[c] += g[c] * scale;
            }
          }
        }
      }
    }
  }
}

}  // namespace nin
