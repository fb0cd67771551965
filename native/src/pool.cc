// Max and average pooling, forward and backward, as plain loops (they are memory bound) over the layouts
// activations live in: planes of `block` channels (nhwc: one plane of every channel per image; nChw16c / nChw8c:
// one plane per 16 or 8 channels, padding included; nchw: one per channel), float32 or bfloat16.
// Semantics follow TF.js's CPU kernels: the max takes the first strict maximum of a window (NaN never wins),
// the average divides by the in-bounds count, and its gradient spreads dy / (filter area) over in-bounds pixels.
#include <algorithm>
#include <cstring>
#include <limits>

#include "bfloat16.h"
#include "nin_onednn.h"
#include "simd.h"

namespace nin {
namespace {

constexpr int kChunk = 64;           // channels a window is processed in at once (on the stack)
constexpr int32_t kNoMaximum = 255;  // a recorded window without a maximum (all NaN, or all padding)

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

// Where a layout puts things: planes of `block` channels, each [height][width][block].
struct Planes {
  int64_t count;      // batch * planes per image
  int block;          // channels per pixel within a plane (the pixel stride)
  int64_t in_plane;   // elements of one input plane
  int64_t out_plane;  // elements of one output plane
};

Planes planes(const PoolShape& s, int block) {
  const int64_t per_image = (s.channels + block - 1) / block;
  return {s.batch * per_image, block, (int64_t)s.in_height * s.in_width * block,
          (int64_t)s.out_height * s.out_width * block};
}

inline float value(float v) { return v; }
inline float value(uint16_t v) { return bf16_to_float(v); }
inline void put(float* p, float v) { *p = v; }
inline void put(uint16_t* p, float v) { *p = float_to_bf16(v); }

NIN_VECTOR_CLONES void zero(float* data, int64_t size) {
  constexpr int64_t kBlock = 1 << 16;
  const int64_t blocks = (size + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < blocks; ++i) {
    std::memset(data + i * kBlock, 0, sizeof(float) * std::min(kBlock, size - i * kBlock));
  }
}

template <typename T, bool kMax, typename Out>
NIN_VECTOR_CLONES void pool_forward(const PoolShape& s, int block, const T* x, Out* y) {
  ScopedTimer time(Timer::kPool);
  const Planes p = planes(s, block);
  const float lowest = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t plane = 0; plane < p.count; ++plane) {
    for (int out_row = 0; out_row < s.out_height; ++out_row) {
      const T* image = x + plane * p.in_plane;
      for (int out_col = 0; out_col < s.out_width; ++out_col) {
        Out* out = y + plane * p.out_plane + ((int64_t)out_row * s.out_width + out_col) * block;
        const Window w = window(s, out_row, out_col);
        for (int c0 = 0; c0 < block; c0 += kChunk) {
          const int width = std::min(kChunk, block - c0);
          float acc[kChunk];
          for (int c = 0; c < width; ++c) acc[c] = kMax ? lowest : 0.f;
          for (int r = w.row_begin; r < w.row_end; ++r) {
            for (int q = w.col_begin; q < w.col_end; ++q) {
              const T* pixel = image + ((int64_t)r * s.in_width + q) * block + c0;
              for (int c = 0; c < width; ++c) {
                const float v = value(pixel[c]);
                if constexpr (kMax)
                  acc[c] = v > acc[c] ? v : acc[c];
                else
                  acc[c] += v;
              }
            }
          }
          // An empty window averages to 0/0 = NaN, as in TF.js.
          const float count = (float)((w.row_end - w.row_begin) * (w.col_end - w.col_begin));
          for (int c = 0; c < width; ++c) put(out + c0 + c, kMax ? acc[c] : acc[c] / count);
        }
      }
    }
  }
}

template <typename Dy, typename X>
NIN_VECTOR_CLONES void max_pool_backward(const PoolShape& s, int block, const Dy* dy, const X* x, float* dx) {
  ScopedTimer time(Timer::kPool);
  const Planes p = planes(s, block);
  const int chunks = (block + kChunk - 1) / kChunk;
  zero(dx, p.count * p.in_plane);
  // Gradients scatter: a thread owns whole (plane, channel chunk) pairs, so writes never race.
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t plane = 0; plane < p.count; ++plane) {
    for (int chunk = 0; chunk < chunks; ++chunk) {
      const int c0 = chunk * kChunk;
      const int width = std::min(kChunk, block - c0);
      const X* image = x + plane * p.in_plane + c0;
      float* grad = dx + plane * p.in_plane + c0;
      float best[kChunk];
      int32_t where[kChunk];  // pixel (row * in_width + col) of the first maximum, -1 for none
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
              const X* pixel = image + (int64_t)at * block;
              // Selects as max and bit masks of the same width, so this vectorizes.
              for (int c = 0; c < width; ++c) {
                const float v = value(pixel[c]);
                const int32_t better = -(int32_t)(v > best[c]);
                where[c] = (at & better) | (where[c] & ~better);
                best[c] = best[c] < v ? v : best[c];
              }
            }
          }
          const Dy* g = dy + plane * p.out_plane + ((int64_t)out_row * s.out_width + out_col) * block + c0;
          for (int c = 0; c < width; ++c) {
            if (where[c] >= 0) grad[(int64_t)where[c] * block + c] += value(g[c]);
          }
        }
      }
    }
  }
}

// Max pooling that also records where each window's maximum lies (its offset in the window, kNoMaximum for none),
// the same first strict maximum max_pool_backward finds again from x: the gradient then scatters from the record.
template <typename T>
NIN_VECTOR_CLONES void max_pool_recording(const PoolShape& s, int block, const T* x, T* y, uint8_t* where) {
  ScopedTimer time(Timer::kPool);
  const Planes p = planes(s, block);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t plane = 0; plane < p.count; ++plane) {
    for (int out_row = 0; out_row < s.out_height; ++out_row) {
      const T* image = x + plane * p.in_plane;
      const int row0 = out_row * s.stride_height - s.pad_top;
      for (int out_col = 0; out_col < s.out_width; ++out_col) {
        const int64_t at = plane * p.out_plane + ((int64_t)out_row * s.out_width + out_col) * block;
        const int col0 = out_col * s.stride_width - s.pad_left;
        const Window w = window(s, out_row, out_col);
        for (int c0 = 0; c0 < block; c0 += kChunk) {
          const int width = std::min(kChunk, block - c0);
          float best[kChunk];
          int32_t offset[kChunk];
          for (int c = 0; c < width; ++c) {
            best[c] = -std::numeric_limits<float>::infinity();
            offset[c] = kNoMaximum;
          }
          for (int r = w.row_begin; r < w.row_end; ++r) {
            for (int q = w.col_begin; q < w.col_end; ++q) {
              const int32_t k = (r - row0) * s.filter_width + (q - col0);
              const T* pixel = image + ((int64_t)r * s.in_width + q) * block + c0;
              // Selects as max and bit masks of the same width, so this vectorizes.
              for (int c = 0; c < width; ++c) {
                const float v = value(pixel[c]);
                const int32_t better = -(int32_t)(v > best[c]);
                offset[c] = (k & better) | (offset[c] & ~better);
                best[c] = best[c] < v ? v : best[c];
              }
            }
          }
          for (int c = 0; c < width; ++c) {
            put(y + at + c0 + c, best[c]);
            where[at + c0 + c] = static_cast<uint8_t>(offset[c]);
          }
        }
      }
    }
  }
}

// The gradient from the record, gathered: each input pixel sums dy over the windows that cover it and recorded it as
// their maximum, in window order (the order max_pool_backward's scatter adds them, so the same float32 sums), and
// is written once, in dy's element type (bf16: rounding the sum here or in ReLU's gradient after, which multiplies by
// 0 or 1, gives the same), with no pass to zero dx first.
template <typename Dy>
NIN_VECTOR_CLONES void max_pool_backward_recorded(const PoolShape& s, int block, const Dy* dy, const uint8_t* where,
                                                  Dy* dx) {
  ScopedTimer time(Timer::kPool);
  const Planes p = planes(s, block);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t plane = 0; plane < p.count; ++plane) {
    for (int r = 0; r < s.in_height; ++r) {
      // Windows whose rows cover row r: out_row * stride - pad_top <= r < that + filter_height.
      const int row_first = std::max(0, (r + s.pad_top - s.filter_height + s.stride_height) / s.stride_height);
      const int row_last = std::min(s.out_height - 1, (r + s.pad_top) / s.stride_height);
      for (int q = 0; q < s.in_width; ++q) {
        const int col_first = std::max(0, (q + s.pad_left - s.filter_width + s.stride_width) / s.stride_width);
        const int col_last = std::min(s.out_width - 1, (q + s.pad_left) / s.stride_width);
        Dy* out = dx + plane * p.in_plane + ((int64_t)r * s.in_width + q) * block;
        for (int c0 = 0; c0 < block; c0 += kChunk) {
          const int width = std::min(kChunk, block - c0);
          float sum[kChunk];
          for (int c = 0; c < width; ++c) sum[c] = 0.f;
          for (int out_row = row_first; out_row <= row_last; ++out_row) {
            const int k_row = (r - (out_row * s.stride_height - s.pad_top)) * s.filter_width;
            for (int out_col = col_first; out_col <= col_last; ++out_col) {
              const int32_t k = k_row + (q - (out_col * s.stride_width - s.pad_left));
              const int64_t at = plane * p.out_plane + ((int64_t)out_row * s.out_width + out_col) * block + c0;
              for (int c = 0; c < width; ++c) {
                // A select, not a branch, so this vectorizes; dy times a 0/1 mask would turn an infinite dy
                // elsewhere into NaN here.
                const float g = value(dy[at + c]);
                sum[c] = (int32_t)where[at + c] == k ? sum[c] + g : sum[c];
              }
            }
          }
          for (int c = 0; c < width; ++c) put(out + c0 + c, sum[c]);
        }
      }
    }
  }
}

template <typename Dy>
NIN_VECTOR_CLONES void avg_pool_backward(const PoolShape& s, int block, const Dy* dy, float* dx) {
  ScopedTimer time(Timer::kPool);
  const Planes p = planes(s, block);
  const int chunks = (block + kChunk - 1) / kChunk;
  const float scale = 1.f / (float)((int64_t)s.filter_height * s.filter_width);
  zero(dx, p.count * p.in_plane);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t plane = 0; plane < p.count; ++plane) {
    for (int chunk = 0; chunk < chunks; ++chunk) {
      const int c0 = chunk * kChunk;
      const int width = std::min(kChunk, block - c0);
      float* grad = dx + plane * p.in_plane + c0;
      for (int out_row = 0; out_row < s.out_height; ++out_row) {
        for (int out_col = 0; out_col < s.out_width; ++out_col) {
          const Dy* g = dy + plane * p.out_plane + ((int64_t)out_row * s.out_width + out_col) * block + c0;
          const Window w = window(s, out_row, out_col);
          for (int r = w.row_begin; r < w.row_end; ++r) {
            for (int q = w.col_begin; q < w.col_end; ++q) {
              float* pixel = grad + ((int64_t)r * s.in_width + q) * block;
              for (int c = 0; c < width; ++c) pixel[c] += value(g[c]) * scale;
            }
          }
        }
      }
    }
  }
}

}  // namespace

void max_pool(const PoolShape& s, int block, const void* x, bool bf16, void* y, uint8_t* where) {
  if (where != nullptr) {
    if (bf16) {
      max_pool_recording(s, block, static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), where);
    } else {
      max_pool_recording(s, block, static_cast<const float*>(x), static_cast<float*>(y), where);
    }
    return;
  }
  if (bf16) {
    pool_forward<uint16_t, true>(s, block, static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y));
  } else {
    pool_forward<float, true>(s, block, static_cast<const float*>(x), static_cast<float*>(y));
  }
}

void avg_pool(const PoolShape& s, int block, const void* x, bool bf16, float* y) {
  if (bf16) {
    pool_forward<uint16_t, false>(s, block, static_cast<const uint16_t*>(x), y);
  } else {
    pool_forward<float, false>(s, block, static_cast<const float*>(x), y);
  }
}

void max_pool_grad(const PoolShape& s, int block, const void* dy, bool dy_bf16, const void* x, bool x_bf16,
                   const uint8_t* where, void* dx) {
  if (where != nullptr) {
    if (dy_bf16) {
      max_pool_backward_recorded(s, block, static_cast<const uint16_t*>(dy), where, static_cast<uint16_t*>(dx));
    } else {
      max_pool_backward_recorded(s, block, static_cast<const float*>(dy), where, static_cast<float*>(dx));
    }
    return;
  }
  const auto* dy16 = static_cast<const uint16_t*>(dy);
  const auto* dy32 = static_cast<const float*>(dy);
  const auto* x16 = static_cast<const uint16_t*>(x);
  const auto* x32 = static_cast<const float*>(x);
  float* dx32 = static_cast<float*>(dx);
  if (dy_bf16 && x_bf16)
    max_pool_backward(s, block, dy16, x16, dx32);
  else if (dy_bf16)
    max_pool_backward(s, block, dy16, x32, dx32);
  else if (x_bf16)
    max_pool_backward(s, block, dy32, x16, dx32);
  else
    max_pool_backward(s, block, dy32, x32, dx32);
}

void avg_pool_grad(const PoolShape& s, int block, const void* dy, bool dy_bf16, float* dx) {
  if (dy_bf16)
    avg_pool_backward(s, block, static_cast<const uint16_t*>(dy), dx);
  else
    avg_pool_backward(s, block, static_cast<const float*>(dy), dx);
}

}  // namespace nin
