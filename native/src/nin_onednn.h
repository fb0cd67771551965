// Shared declarations of the nin_onednn addon: the kernels TF.js's onednn backend calls, in plain C++ terms.
// Layouts are TF.js's: activations NHWC, convolution filters HWIO, all float32.
#pragma once

#include <cstdint>
#include <string>

namespace nin {

// The addon checks every field before a kernel sees one (sizes, strides and dilations at least 1, paddings at
// least 0, none above 2^24) and every buffer against the element count the shape gives it (at most 2^31 - 1).

// One 2-D convolution as TF.js's computeConv2DInfo describes it; dilation 1 means none.
struct ConvShape {
  int batch, in_height, in_width, in_channels;
  int filter_height, filter_width, out_channels;
  int out_height, out_width;
  int stride_height, stride_width, dilation_height, dilation_width;
  int pad_top, pad_bottom, pad_left, pad_right;
};

// One 2-D pooling window as TF.js's computePool2DInfo describes it (channels are pooled independently).
struct PoolShape {
  int batch, in_height, in_width, channels;
  int filter_height, filter_width;
  int out_height, out_width;
  int stride_height, stride_width, pad_top, pad_left;
};

// Convolutions run on oneDNN. Each returns false when oneDNN rejects the shape (the caller falls back to JS).
// relu: max(y, 0) with NaN kept, as TF.js's Relu (oneDNN's own ReLU post-op turns NaN into 0).
// filter_token: 0, or a number naming this filter tensor for good (its content never changes), so that its
// reordered copy is kept for the next call with the same filter (inference: once per weight, not per batch).
bool conv_forward(const ConvShape& s, const float* x, const float* filter, uint64_t filter_token, const float* bias,
                  bool relu, float* y);
// dy_token: 0, or what last_dy_token() returned right after the weight gradient of this same dy (a tensor that
// stayed alive in between): its conversion into the primitive's layout (bf16, blocked) is then reused, not redone.
bool conv_backward_data(const ConvShape& s, const float* dy, const float* filter, float* dx, uint64_t dy_token);
// dbias may be null; otherwise it receives the bias gradient (dy summed over batch and space).
bool conv_backward_filter(const ConvShape& s, const float* x, const float* dy, float* dfilter, float* dbias);
// One forward convolution (with bias) timed alone in the current precision, every tensor in the layout the primitive
// prefers (nothing reordered): the fastest of `repetitions` calls after a warm-up, wall and CPU (all threads)
// seconds, and the implementation oneDNN ran. nin bench --breakdown measures the convolutions' peak with it.
struct ConvBenchmark {
  double seconds;
  double cpu_seconds;
  std::string implementation;
};
bool benchmark_conv_forward(const ConvShape& s, int repetitions, ConvBenchmark* result);
// Names the dy the last weight gradient converted (0 when it used dy as it was); see conv_backward_data.
uint64_t last_dy_token();
// Memory layouts the convolution primitives ask for (format_tag::any lets oneDNN choose a blocked one, and
// the TF.js tensors are reordered into it): kPlain = nhwc/hwio as TF.js stores them (oneDNN's gemm kernels),
// kBlockedWeights = nhwc activations with blocked weights (direct AVX-512 kernels), kBlocked = both blocked,
// kAuto = blocked weights, and blocked activations too for spatial kernels on small activations.
enum class ConvLayouts { kPlain = 0, kBlockedWeights = 1, kBlocked = 2, kAuto = 3 };
// The names JS sees for each enum, in value order: the addon exports them as frozen objects ({plain: 0, ...})
// and rejects a value past the end, so neither side copies a number by hand.
inline constexpr const char* kConvLayoutsNames[] = {"plain", "blocked-weights", "blocked", "auto"};
void set_conv_layouts(ConvLayouts layouts);
ConvLayouts conv_layouts();
// The arithmetic of the convolutions. kBf16 is mixed precision as PyTorch's CPU autocast: each input (x, dy,
// the filter) is rounded to bfloat16 when reordered into the primitive's layout, products are summed in float32,
// and every output (y, dx, the filter and bias gradients) is float32; TF.js's tensors stay float32 throughout.
enum class Precision { kFp32 = 0, kBf16 = 1 };
inline constexpr const char* kPrecisionNames[] = {"fp32", "bf16"};
void set_conv_precision(Precision precision);
Precision conv_precision();
// Whether oneDNN runs bf16 convolutions on this CPU with its native bf16 instructions (AVX512-BF16 or AMX),
// as opposed to emulating them or rejecting them.
bool native_bf16();
// The instruction set oneDNN dispatches to here, e.g. "avx512_core_bf16".
std::string cpu_isa();
// Drops cached primitives and their buffers.
void clear_conv_cache();
std::string onednn_version();

// Where native time goes, summed since the last reset (nin bench --breakdown): each kernel's own work, with the
// reorders at the convolutions' boundary (TF.js's layouts to oneDNN's and back, and float32 <-> bf16) apart.
enum class Timer {
  kConvForward = 0,
  kConvBackwardData = 1,
  kConvBackwardWeights = 2,
  kReorderWeights = 3,
  kReorderActivations = 4,
  kPool = 5,
  kElementwise = 6,
};
inline constexpr const char* kTimerNames[] = {"convForward",    "convBackwardData",   "convBackwardWeights",
                                              "reorderWeights", "reorderActivations", "pool",
                                              "elementwise"};
inline constexpr int kTimerCount = sizeof(kTimerNames) / sizeof(kTimerNames[0]);
void add_time(Timer timer, int64_t nanoseconds, int64_t cpu_nanoseconds);
// Wall seconds, CPU seconds (all threads) and calls per timer, in kTimerNames' order.
void read_timers(double* seconds, double* cpu_seconds, int64_t* calls);
void reset_timers();

// Adds the wall and CPU time from its construction to its destruction to one timer.
class ScopedTimer {
 public:
  explicit ScopedTimer(Timer timer);
  ~ScopedTimer();
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Timer timer_;
  int64_t start_;
  int64_t cpu_start_;
};

void max_pool(const PoolShape& s, const float* x, float* y);
void max_pool_grad(const PoolShape& s, const float* dy, const float* x, float* dx);
void avg_pool(const PoolShape& s, const float* x, float* y);
void avg_pool_grad(const PoolShape& s, const float* dy, float* dx);

enum class UnaryOp { kRelu = 0, kStep = 1, kSqrt = 2, kSquare = 3 };  // Sqrt and Square: Adam's update
inline constexpr const char* kUnaryOpNames[] = {"relu", "step", "sqrt", "square"};
void unary(UnaryOp op, const float* x, float* y, int64_t size, float alpha);

// kReluGrad: a * step(b), ReLU's gradient dy * step(x) in one pass (bit-identical to TF.js's two kernels).
enum class BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kReluGrad = 4 };
inline constexpr const char* kBinaryOpNames[] = {"add", "sub", "mul", "div", "reluGrad"};
// How b lines up with a (the output has a's size unless stated):
// kSame: same size; kScalarA: a is one value, out has b's size; kScalarB: b is one value;
// kRowB: b has `inner` values repeated over a's rows (a bias over the last axis); kRowA: the mirror.
enum class Broadcast { kSame = 0, kScalarA = 1, kScalarB = 2, kRowB = 3, kRowA = 4 };
inline constexpr const char* kBroadcastNames[] = {"same", "scalarA", "scalarB", "rowB", "rowA"};
void binary(BinaryOp op, Broadcast mode, const float* a, const float* b, float* out, int64_t size, int64_t inner);

// One optimizer step on one variable as TF.js's SGD and Momentum optimizers compute it, with PyTorch-style weight
// decay first as step.ts adds it (g + w * decay; none when decay is 0): the same float32 operations in the same
// order, each rounded (no fused multiply-add: binding.gyp builds with -ffp-contract=off), so a run takes the same
// steps whether this or TF.js's separate kernels update it. acc and acc_out null: plain SGD, w - lr * g.
// Momentum: acc' = momentum * acc + g; w' = w - lr * acc', or with Nesterov w - lr * (g + acc' * momentum).
struct SgdStep {
  float neg_lr;  // -learning rate, as TF.js keeps it (a float32 scalar)
  float momentum;
  bool nesterov;
  float decay;
};
void sgd_update(const SgdStep& step, const float* w, const float* g, const float* acc, float* w_out, float* acc_out,
                int64_t size);

// x viewed as [outer, inner]: sum over outer (leading axes) into inner values, or over inner into outer values.
void sum_leading(const float* x, float* out, int64_t outer, int64_t inner);
void sum_trailing(const float* x, float* out, int64_t outer, int64_t inner);

}  // namespace nin
