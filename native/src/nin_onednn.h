// Shared declarations of the nin_onednn addon: the kernels TF.js's onednn backend calls, in plain C++ terms.
// Tensors are float32 or bfloat16 (kept as uint16_t) in the layouts below.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// ---- Layouts -------------------------------------------------------------------------------------------------
// A tensor lives between native kernels in the layout its producer wrote: one of oneDNN's (blocked, bfloat16) or
// TF.js's own (float32, row-major: nhwc activations, hwio filters). Each layout is registered once in the addon's
// table and named by a small integer, which JS keeps beside the tensor's buffer (a Float32Array, or a Uint16Array
// of bfloat16 values); kernels say which layouts they read and write, and JS converts a tensor only when the one it
// has is not the one a kernel reads (reorder), or when JavaScript itself reads it (into the plain twin).
enum class LayoutRole { kActivation = 0, kWeights = 1, kVector = 2 };
inline constexpr const char* kLayoutRoleNames[] = {"activation", "weights", "vector"};

struct LayoutInfo {
  int64_t bytes;              // the buffer's size, padding included
  bool bf16;                  // bfloat16 elements (else float32)
  LayoutRole role;            // which plain twin it has
  int plain;                  // the same tensor as TF.js keeps it: float32, nhwc / hwio / x
  int f32;                    // the same arrangement in float32: layouts with equal f32 order elements alike
  int block;                  // channels per plane for the pooling loops: 1 (nchw), 8 or 16 (nChw8c, nChw16c),
                              // the channel count (nhwc); 0: another arrangement
  std::vector<int64_t> dims;  // logical: N, C, H, W (activations); O, I, H, W (weights); C (vectors)
};
// False for an id that names no layout.
bool layout_info(int id, LayoutInfo* info);
// The plain layout of a tensor of these dims and role (registered on first use).
int plain_layout(LayoutRole role, const std::vector<int64_t>& dims);
// The layout arranged as `id` but with other dims (4) and element type; 0 when `id` is not one the loops walk.
int layout_like(int id, const std::vector<int64_t>& dims, bool bf16);
// Copies one tensor from one layout into another (bf16 rounds to nearest even); the caller has checked that both
// ids exist, name the same tensor (one plain twin) and that each buffer has its layout's size.
void reorder(int from, const void* src, int to, void* dst);
// Whether oneDNN reorders between these layouts (same checks as reorder) only with its slow reference code.
bool reorder_is_reference(int from, int to);
void clear_reorders();

// ---- Convolutions --------------------------------------------------------------------------------------------
// Run on oneDNN, one primitive per shape and pass, created once and cached. Each returns false when oneDNN
// rejects the shape or the call must go to TF.js (see pads_through_gemm in conv.cc); JS then runs TF.js's kernel.
enum class ConvPass { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };
inline constexpr const char* kConvPassNames[] = {"forward", "backwardData", "backwardWeights"};
// The layouts a pass reads and writes, by the tensor's role in the convolution: x (the input; dx for the input
// gradient), filter (dfilter for the weight gradient) and y (the output; dy for both gradients). In bf16 every
// one but the weight gradient is bfloat16, as PyTorch's CPU autocast keeps activations; sums run in float32.
struct ConvPorts {
  int x, filter, y;
};
// bias: whether the forward adds one (no meaning for the gradients).
bool conv_ports(ConvPass pass, const ConvShape& s, bool bias, ConvPorts* ports);
// fused_relu: apply ReLU inside the convolution (oneDNN's post-op), which turns NaN into 0 where TF.js's Relu keeps
// it; the caller asks only when no NaN can arise (x and the filter finite and bounded so that no sum overflows;
// see kernels-conv.ts), else runs relu_in_place after. relu_done: whether ReLU was applied (false when oneDNN has
// no post-op version of this primitive).
bool conv_forward(const ConvShape& s, const void* x, const void* filter, const float* bias, bool fused_relu, void* y,
                  bool* relu_done);
bool conv_backward_data(const ConvShape& s, const void* dy, const void* filter, void* dx);
// The filter gradient alone: the bias gradient comes from relu_grad_bias, in the pass that computes dy.
bool conv_backward_weights(const ConvShape& s, const void* x, const void* dy, void* dfilter);
// One forward convolution (with bias) timed alone in the current precision, every tensor in the layout the primitive
// prefers (nothing reordered): the fastest of `repetitions` calls after a warm-up, wall and CPU (all threads)
// seconds, and the implementation oneDNN ran. nin bench --breakdown measures the convolutions' peak with it.
struct ConvBenchmark {
  double seconds;
  double cpu_seconds;
  std::string implementation;
};
bool benchmark_conv_forward(const ConvShape& s, int repetitions, ConvBenchmark* result);
// Memory layouts the convolution primitives ask for (format_tag::any lets oneDNN choose a blocked one):
// kPlain = nhwc/hwio as TF.js stores them (oneDNN's gemm kernels), kBlockedWeights = nhwc activations with blocked
// weights, kBlocked = every tensor as oneDNN likes it, kAuto = the default (see geometry() in conv.cc).
enum class ConvLayouts { kPlain = 0, kBlockedWeights = 1, kBlocked = 2, kAuto = 3 };
// The names JS sees for each enum, in value order: the addon exports them as frozen objects ({plain: 0, ...})
// and rejects a value past the end, so neither side copies a number by hand.
inline constexpr const char* kConvLayoutsNames[] = {"plain", "blocked-weights", "blocked", "auto"};
void set_conv_layouts(ConvLayouts layouts);
ConvLayouts conv_layouts();
// The arithmetic of the convolutions. kBf16 is mixed precision as PyTorch's CPU autocast: the inputs and
// activations bfloat16, products summed in float32, the weight and bias gradients float32; the weights and the
// optimizer stay float32.
enum class Precision { kFp32 = 0, kBf16 = 1 };
inline constexpr const char* kPrecisionNames[] = {"fp32", "bf16"};
void set_conv_precision(Precision precision);
Precision conv_precision();
// Whether oneDNN runs bf16 convolutions on this CPU with its native bf16 instructions (AVX512-BF16 or AMX),
// as opposed to emulating them or rejecting them.
bool native_bf16();
// The instruction set oneDNN dispatches to here, e.g. "avx512_core_bf16".
std::string cpu_isa();
// Drops cached primitives (convolutions and reorders).
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

// Pooling over a tensor in a layout the loops walk (LayoutInfo::block: `block` channels per plane), each window
// in float32; bf16 marks bfloat16 buffers. Max pooling writes x's element type, its gradient and average pooling
// write float32 (sums), in the same arrangement (out dims for y, in dims for dx).
// where: null, or one byte per element of y that max_pool fills with the offset of its window's maximum in the
// window (row * filter_width + column; 255 for none) and max_pool_grad then reads instead of finding the maxima
// again in x (the same ones: the first strict maximum, NaN never wins). Windows of at most 255 pixels. dx is float32,
// or with `where` of dy's element type.
void max_pool(const PoolShape& s, int block, const void* x, bool bf16, void* y, uint8_t* where);
void max_pool_grad(const PoolShape& s, int block, const void* dy, bool dy_bf16, const void* x, bool x_bf16,
                   const uint8_t* where, void* dx);
void avg_pool(const PoolShape& s, int block, const void* x, bool bf16, float* y);
void avg_pool_grad(const PoolShape& s, int block, const void* dy, bool dy_bf16, float* dx);

enum class UnaryOp { kRelu = 0, kStep = 1, kSqrt = 2, kSquare = 3 };  // Sqrt and Square: Adam's update
inline constexpr const char* kUnaryOpNames[] = {"relu", "step", "sqrt", "square"};
void unary(UnaryOp op, const float* x, float* y, int64_t size, float alpha);

enum class BinaryOp { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };
inline constexpr const char* kBinaryOpNames[] = {"add", "sub", "mul", "div"};
// How b lines up with a (the output has a's size unless stated):
// kSame: same size; kScalarA: a is one value, out has b's size; kScalarB: b is one value;
// kRowB: b has `inner` values repeated over a's rows (a bias over the last axis); kRowA: the mirror.
enum class Broadcast { kSame = 0, kScalarA = 1, kScalarB = 2, kRowB = 3, kRowA = 4 };
inline constexpr const char* kBroadcastNames[] = {"same", "scalarA", "scalarB", "rowB", "rowA"};
void binary(BinaryOp op, Broadcast mode, const float* a, const float* b, float* out, int64_t size, int64_t inner);

// ReLU in place over `size` values of either type (a layout's padding is zeros and stays zeros); returns the largest
// value it leaves, NaN when any is NaN.
float relu_in_place(void* y, bool bf16, int64_t size);
// An upper bound within 2^-15 of the sum of |v| over `size` values of either type (NaN or infinity when one is),
// the same for the same thread count.
double abs_sum(const void* data, bool bf16, int64_t size);
// ReLU's gradient dy * step(y) in one pass (bit-identical to TF.js's Step and Multiply in float32); the three
// buffers hold `size` elements in one arrangement, each float32 or bfloat16 (out rounds to nearest even).
void relu_grad(const void* dy, bool dy_bf16, const void* y, bool y_bf16, void* out, bool out_bf16, int64_t size);

// a * b over two buffers of `size` elements in one arrangement, each float32 or bfloat16, into out (either type;
// bfloat16 rounds to nearest even): TF.js's Multiply in float32 (a dropout mask applied to a bf16 activation).
void multiply(const void* a, bool a_bf16, const void* b, bool b_bf16, void* out, bool out_bf16, int64_t size);

// The state of Baagoe's Alea generator after seeding (seedrandom's alea(seed), which TF.js's randomUniform uses).
struct AleaState {
  double s0, s1, s2, c;
};
// The multiplier TF.js's dropout(x, rate, undefined, seed) draws: floor(u + keep) / keep for each value u the
// generator gives in turn, keep = 1 - rate as TF.js makes it a float32 scalar, rounded to float32 at each step as
// TF.js's kernels round: the same mask, bit for bit.
void dropout_mask(const AleaState& state, float keep, float* mask, int64_t size);

// An activation tensor arranged in planes of `block` channels (LayoutInfo::block): batch * ceil(channels / block)
// planes of `pixels` (height * width) pixels of `block` values each, the last plane's channels padded.
struct ChannelPlanes {
  int64_t batch, channels, pixels;
  int block;
};
// ReLU's gradient and the bias gradient in one pass, for a convolution followed by ReLU: out = dy * step(y) in y's
// element type (as relu_grad), and dbias[c] = the sum of out over every position of channel c, summed in double as
// TF.js sums, of the values as stored (bfloat16-rounded in bf16: those the weight gradient reads). dy is arranged
// as y, in either element type.
void relu_grad_bias(const ChannelPlanes& planes, const void* dy, bool dy_bf16, const void* y, bool y_bf16, void* out,
                    float* dbias);

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
