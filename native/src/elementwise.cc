// Elementwise ops and reductions that dominate a training step once convolutions are fast: ReLU and its
// gradient mask (Step), add/sub/mul/div with the broadcasts TF.js's SGD and bias addition use, sums, and the
// SGD / momentum update of one variable in one pass.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "bfloat16.h"
#include "nin_onednn.h"
#include "simd.h"

namespace nin {
namespace {

constexpr int64_t kParallelMin = 1 << 15;  // below this, threads cost more than they save
constexpr int kSumBlock = 64;              // channels a pixel's gradients are computed in before being summed

inline float as_float(float v) { return v; }
inline float as_float(uint16_t v) { return bf16_to_float(v); }

template <typename F>
NIN_VECTOR_CLONES void for_each(int64_t size, F f) {
#pragma omp parallel for schedule(static) if (size >= kParallelMin)
  for (int64_t i = 0; i < size; ++i) f(i);
}

inline uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

inline float from_bits(uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// TF.js's Step: 1 above zero, alpha at or below, NaN stays NaN; selects spelled as bit masks so loops vectorize.
inline float step(float v, uint32_t low) {
  const uint32_t positive = 0u - (uint32_t)(v > 0.f);
  const uint32_t nan = 0u - (uint32_t)(v != v);
  const uint32_t r = (0x3f800000u & positive) | (low & ~positive);  // 0x3f800000 is 1.0f
  return from_bits((bits(v) & nan) | (r & ~nan));
}

template <BinaryOp op>
inline float apply(float a, float b) {
  if constexpr (op == BinaryOp::kAdd) return a + b;
  if constexpr (op == BinaryOp::kSub) return a - b;
  if constexpr (op == BinaryOp::kMul) return a * b;
  return a / b;
}

template <BinaryOp op>
NIN_VECTOR_CLONES void binary_op(Broadcast mode, const float* a, const float* b, float* out, int64_t size,
                                 int64_t inner) {
  switch (mode) {
    case Broadcast::kSame: for_each(size, [=](int64_t i) { out[i] = apply<op>(a[i], b[i]); }); break;
    case Broadcast::kScalarA: {
      const float value = a[0];
      for_each(size, [=](int64_t i) { out[i] = apply<op>(value, b[i]); });
      break;
    }
    case Broadcast::kScalarB: {
      const float value = b[0];
      for_each(size, [=](int64_t i) { out[i] = apply<op>(a[i], value); });
      break;
    }
    case Broadcast::kRowB: {
      const int64_t rows = size / inner;
#pragma omp parallel for schedule(static) if (size >= kParallelMin)
      for (int64_t r = 0; r < rows; ++r) {
        const float* row_a = a + r * inner;
        float* row_out = out + r * inner;
        for (int64_t j = 0; j < inner; ++j) row_out[j] = apply<op>(row_a[j], b[j]);
      }
      break;
    }
    case Broadcast::kRowA: {
      const int64_t rows = size / inner;
#pragma omp parallel for schedule(static) if (size >= kParallelMin)
      for (int64_t r = 0; r < rows; ++r) {
        const float* row_b = b + r * inner;
        float* row_out = out + r * inner;
        for (int64_t j = 0; j < inner; ++j) row_out[j] = apply<op>(a[j], row_b[j]);
      }
      break;
    }
  }
}

}  // namespace

void unary(UnaryOp op, const float* x, float* y, int64_t size, float alpha) {
  ScopedTimer time(Timer::kElementwise);
  switch (op) {
    case UnaryOp::kRelu:
      // Math.max(0, NaN) is NaN in TF.js; (v < 0) keeps NaN too.
      for_each(size, [=](int64_t i) { y[i] = x[i] < 0.f ? 0.f : x[i]; });
      break;
    case UnaryOp::kStep: {
      const uint32_t low = bits(alpha);
      for_each(size, [=](int64_t i) { y[i] = step(x[i], low); });
      break;
    }
    case UnaryOp::kSqrt: for_each(size, [=](int64_t i) { y[i] = std::sqrt(x[i]); }); break;
    case UnaryOp::kSquare: for_each(size, [=](int64_t i) { y[i] = x[i] * x[i]; }); break;
  }
}

void binary(BinaryOp op, Broadcast mode, const float* a, const float* b, float* out, int64_t size, int64_t inner) {
  ScopedTimer time(Timer::kElementwise);
  switch (op) {
    case BinaryOp::kAdd: binary_op<BinaryOp::kAdd>(mode, a, b, out, size, inner); break;
    case BinaryOp::kSub: binary_op<BinaryOp::kSub>(mode, a, b, out, size, inner); break;
    case BinaryOp::kMul: binary_op<BinaryOp::kMul>(mode, a, b, out, size, inner); break;
    case BinaryOp::kDiv: binary_op<BinaryOp::kDiv>(mode, a, b, out, size, inner); break;
  }
}

namespace {

// ReLU in place and the largest value it leaves (ReLU's results are at least zero, so the largest magnitude), NaN
// when any is NaN: the bound the next convolution's fused ReLU needs (see kernels-conv.ts). Written on the bits:
// ReLU zeroes a value whose sign bit is set unless it is -0 or a NaN, as v < 0 ? 0 : v does (NaN and -0 stay), and
// the magnitudes of what is left order as the values do, NaN's above infinity's, so an integer maximum (which
// vectorizes) finds both the largest value and any NaN.
template <typename T>
NIN_VECTOR_CLONES float relu_max_loop(T* v, int64_t size) {
  constexpr bool kHalf = sizeof(T) == 2;
  using Bits = std::conditional_t<kHalf, uint16_t, uint32_t>;
  constexpr uint32_t kSign = kHalf ? 0x8000u : 0x80000000u;
  constexpr uint32_t kInf = kHalf ? 0x7f80u : 0x7f800000u;
  Bits* bits = reinterpret_cast<Bits*>(v);
  const int threads = size >= kParallelMin ? omp_get_max_threads() : 1;
  std::vector<uint32_t> partial(threads, 0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    const int64_t begin = size * t / count;
    const int64_t end = size * (t + 1) / count;
    Bits local = 0;
    for (int64_t i = begin; i < end; ++i) {
      // Masks rather than branches, so that the loop vectorizes.
      const Bits u = bits[i];
      const Bits magnitude = u & static_cast<Bits>(kSign - 1);
      const Bits negative =
          static_cast<Bits>(((u & static_cast<Bits>(kSign)) != 0) & (magnitude != 0) & (magnitude <= kInf));
      const Bits out = u & static_cast<Bits>(negative - 1);  // all ones unless negative
      bits[i] = out;
      const Bits out_magnitude = out & static_cast<Bits>(kSign - 1);
      local = out_magnitude > local ? out_magnitude : local;
    }
    partial[t] = local;
  }
  uint32_t largest = 0;
  for (uint32_t p : partial) largest = p > largest ? p : largest;
  if (largest > kInf) return std::numeric_limits<float>::quiet_NaN();
  const uint32_t as_float_bits = kHalf ? largest << 16 : largest;
  float result;
  std::memcpy(&result, &as_float_bits, sizeof result);
  return result;
}

// The sum of |v| over a buffer: per thread, 16 float lanes of at most 256 values each (a relative error under 2^-15,
// so the result is scaled up by that to stay an upper bound), added into a double in a fixed order: the same sum
// for the same thread count. NaN when any value is NaN, infinity when any is infinite.
template <typename T>
NIN_VECTOR_CLONES double abs_sum_loop(const T* v, int64_t size) {
  constexpr int kLanes = 16;
  constexpr int64_t kBlock = 256 * kLanes;
  const int64_t blocks = (size + kBlock - 1) / kBlock;
  const int threads = size >= kParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> partial(threads, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    double sum = 0.0;
    for (int64_t b = blocks * t / count; b < blocks * (t + 1) / count; ++b) {
      float lanes[kLanes] = {};
      const int64_t end = std::min(size, (b + 1) * kBlock);
      int64_t i = b * kBlock;
      for (; i + kLanes <= end; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) lanes[j] += std::fabs(as_float(v[i + j]));
      }
      for (; i < end; ++i) lanes[0] += std::fabs(as_float(v[i]));
      for (int j = 0; j < kLanes; ++j) sum += lanes[j];
    }
    partial[t] = sum;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total * (1.0 + 1.0 / 32768);
}

}  // namespace

float relu_in_place(void* y, bool bf16, int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  return bf16 ? relu_max_loop(static_cast<uint16_t*>(y), size) : relu_max_loop(static_cast<float*>(y), size);
}

double abs_sum(const void* data, bool bf16, int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  return bf16 ? abs_sum_loop(static_cast<const uint16_t*>(data), size)
              : abs_sum_loop(static_cast<const float*>(data), size);
}

namespace {

template <typename Dy, typename Y, typename Out>
void relu_grad_loop(const Dy* dy, const Y* y, Out* out, int64_t size) {
  const auto read = [](auto v) -> float {
    if constexpr (sizeof(v) == 2)
      return bf16_to_float(v);
    else
      return v;
  };
  for_each(size, [=](int64_t i) {
    const float v = read(dy[i]) * step(read(y[i]), 0u);
    if constexpr (sizeof(Out) == 2)
      out[i] = float_to_bf16(v);
    else
      out[i] = v;
  });
}

template <typename Dy, typename Y>
void relu_grad_out(const Dy* dy, const Y* y, void* out, bool out_bf16, int64_t size) {
  if (out_bf16)
    relu_grad_loop(dy, y, static_cast<uint16_t*>(out), size);
  else
    relu_grad_loop(dy, y, static_cast<float*>(out), size);
}

template <typename Dy>
void relu_grad_y(const Dy* dy, const void* y, bool y_bf16, void* out, bool out_bf16, int64_t size) {
  if (y_bf16)
    relu_grad_out(dy, static_cast<const uint16_t*>(y), out, out_bf16, size);
  else
    relu_grad_out(dy, static_cast<const float*>(y), out, out_bf16, size);
}

// One (dy, y) pair's gradient, rounded as it is stored: what the weight gradient reads, and so what the bias sums.
template <typename Out>
inline Out relu_grad_value(float dy, float y) {
  const float v = dy * step(y, 0u);
  if constexpr (sizeof(Out) == 2)
    return float_to_bf16(v);
  else
    return v;
}

template <typename Dy, typename Y>
NIN_VECTOR_CLONES void relu_grad_bias_loop(const ChannelPlanes& p, const Dy* dy, const Y* y, Y* out, float* dbias) {
  const int64_t per_image = (p.channels + p.block - 1) / p.block;
  const int64_t planes = p.batch * per_image;
  const int64_t plane = p.pixels * p.block;
  const int64_t width = per_image * p.block;  // channels with padding: the partial sums' length
  const int threads = planes * plane >= kParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> partial((size_t)threads * width, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    double* sums = partial.data() + (size_t)t * width;
    // Whole planes per thread, in a fixed split: the same sums in the same order whatever the timing.
    for (int64_t q = planes * t / count; q < planes * (t + 1) / count; ++q) {
      double* sum = sums + (q % per_image) * p.block;
      const int64_t base = q * plane;
      float row[kSumBlock];
      for (int64_t pixel = 0; pixel < p.pixels; ++pixel) {
        for (int c0 = 0; c0 < p.block; c0 += kSumBlock) {
          const int n = std::min(kSumBlock, p.block - c0);
          const int64_t at = base + pixel * p.block + c0;
          for (int c = 0; c < n; ++c) {
            const Y v = relu_grad_value<Y>(as_float(dy[at + c]), as_float(y[at + c]));
            out[at + c] = v;
            row[c] = as_float(v);
          }
          for (int c = 0; c < n; ++c) sum[c0 + c] += row[c];
        }
      }
    }
  }
  for (int c = 0; c < p.channels; ++c) {
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += partial[(size_t)t * width + c];
    dbias[c] = (float)total;
  }
}

}  // namespace

void relu_grad_bias(const ChannelPlanes& planes, const void* dy, bool dy_bf16, const void* y, bool y_bf16, void* out,
                    float* dbias) {
  ScopedTimer time(Timer::kElementwise);
  const auto* dy16 = static_cast<const uint16_t*>(dy);
  const auto* dy32 = static_cast<const float*>(dy);
  if (y_bf16) {
    const auto* y16 = static_cast<const uint16_t*>(y);
    auto* out16 = static_cast<uint16_t*>(out);
    if (dy_bf16)
      relu_grad_bias_loop(planes, dy16, y16, out16, dbias);
    else
      relu_grad_bias_loop(planes, dy32, y16, out16, dbias);
  } else {
    const auto* y32 = static_cast<const float*>(y);
    auto* out32 = static_cast<float*>(out);
    if (dy_bf16)
      relu_grad_bias_loop(planes, dy16, y32, out32, dbias);
    else
      relu_grad_bias_loop(planes, dy32, y32, out32, dbias);
  }
}

namespace {

template <typename A, typename B, typename Out>
NIN_VECTOR_CLONES void multiply_loop(const A* a, const B* b, Out* out, int64_t size) {
#pragma omp parallel for schedule(static) if (size >= kParallelMin)
  for (int64_t i = 0; i < size; ++i) {
    const float v = as_float(a[i]) * as_float(b[i]);
    if constexpr (sizeof(Out) == 2)
      out[i] = float_to_bf16(v);
    else
      out[i] = v;
  }
}

template <typename A, typename B>
void multiply_out(const A* a, const B* b, void* out, bool out_bf16, int64_t size) {
  if (out_bf16)
    multiply_loop(a, b, static_cast<uint16_t*>(out), size);
  else
    multiply_loop(a, b, static_cast<float*>(out), size);
}

template <typename A>
void multiply_b(const A* a, const void* b, bool b_bf16, void* out, bool out_bf16, int64_t size) {
  if (b_bf16)
    multiply_out(a, static_cast<const uint16_t*>(b), out, out_bf16, size);
  else
    multiply_out(a, static_cast<const float*>(b), out, out_bf16, size);
}

}  // namespace

void multiply(const void* a, bool a_bf16, const void* b, bool b_bf16, void* out, bool out_bf16, int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  if (a_bf16)
    multiply_b(static_cast<const uint16_t*>(a), b, b_bf16, out, out_bf16, size);
  else
    multiply_b(static_cast<const float*>(a), b, b_bf16, out, out_bf16, size);
}

void dropout_mask(const AleaState& state, float keep, float* mask, int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  // Baagoe's Alea generator, step for step as seedrandom's alea() (which TF.js's randomUniform draws from): each
  // value is computed in double with the same operations (no fused multiply-add), so the stream is the same.
  double s0 = state.s0, s1 = state.s1, s2 = state.s2, c = state.c;
  // TF.js: floor(add(randomUniform, keep)) / keep, each op in double rounded to float32; keep is a float32 scalar.
  for (int64_t i = 0; i < size; ++i) {
    const double t = 2091639.0 * s0 + c * 2.3283064365386963e-10;  // 2^-32
    s0 = s1;
    s1 = s2;
    c = static_cast<double>(static_cast<int32_t>(t));  // t | 0 in JavaScript, for t in [0, 2^31)
    s2 = t - c;
    const float uniform = static_cast<float>(s2);
    const float shifted = static_cast<float>(static_cast<double>(uniform) + keep);
    mask[i] = static_cast<float>(std::floor(static_cast<double>(shifted)) / keep);
  }
}

void relu_grad(const void* dy, bool dy_bf16, const void* y, bool y_bf16, void* out, bool out_bf16, int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  if (dy_bf16)
    relu_grad_y(static_cast<const uint16_t*>(dy), y, y_bf16, out, out_bf16, size);
  else
    relu_grad_y(static_cast<const float*>(dy), y, y_bf16, out, out_bf16, size);
}

void sgd_update(const SgdStep& step, const float* w, const float* g, const float* acc, float* w_out, float* acc_out,
                int64_t size) {
  ScopedTimer time(Timer::kElementwise);
  const float c = step.neg_lr;
  const float m = step.momentum;
  const float decay = step.decay;
  const bool decayed = decay != 0.f;
  if (acc == nullptr) {
    for_each(size, [=](int64_t i) {
      const float grad = decayed ? g[i] + w[i] * decay : g[i];
      w_out[i] = c * grad + w[i];
    });
  } else if (step.nesterov) {
    for_each(size, [=](int64_t i) {
      const float grad = decayed ? g[i] + w[i] * decay : g[i];
      const float a = m * acc[i] + grad;
      acc_out[i] = a;
      w_out[i] = c * (grad + a * m) + w[i];
    });
  } else {
    for_each(size, [=](int64_t i) {
      const float grad = decayed ? g[i] + w[i] * decay : g[i];
      const float a = m * acc[i] + grad;
      acc_out[i] = a;
      w_out[i] = c * a + w[i];
    });
  }
}

NIN_VECTOR_CLONES void sum_leading(const float* x, float* out, int64_t outer, int64_t inner) {
  ScopedTimer time(Timer::kElementwise);
  // Each thread sums a slice of rows in double (as TF.js does); the partial sums are added at the end.
  const bool parallel = outer * inner >= kParallelMin;
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial((size_t)threads * inner, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    const int64_t begin = outer * t / count;
    const int64_t end = outer * (t + 1) / count;
    double* acc = partial.data() + (size_t)t * inner;
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * inner;
      for (int64_t j = 0; j < inner; ++j) acc[j] += row[j];
    }
  }
  for (int64_t j = 0; j < inner; ++j) {
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += partial[(size_t)t * inner + j];
    out[j] = (float)total;
  }
}

NIN_VECTOR_CLONES void sum_trailing(const float* x, float* out, int64_t outer, int64_t inner) {
  ScopedTimer time(Timer::kElementwise);
#pragma omp parallel for schedule(static) if (outer * inner >= kParallelMin)
  for (int64_t r = 0; r < outer; ++r) {
    const float* row = x + r * inner;
    double total = 0.0;
    for (int64_t j = 0; j < inner; ++j) total += row[j];
    out[r] = (float)total;
  }
}

}  // namespace nin
