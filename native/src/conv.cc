// Convolutions on oneDNN 2.x: forward (with bias, and ReLU applied after), backward data and backward weights.
// Primitives are created once per shape and cached; TF.js buffers are used in place (nhwc/hwio), and where
// a primitive wants a blocked layout, reorders at the boundary go through buffers the cache entry owns.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "nin_onednn.h"

namespace nin {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

ConvLayouts g_layouts = ConvLayouts::kAuto;

Precision g_precision = Precision::kFp32;

// One tensor at the TF.js boundary: its plain layout and the layout (and data type) the primitive wants.
struct Port {
  memory::desc user;
  memory::desc inner;
  memory buffer;           // owned copy in the inner layout, only when the layouts differ
  dnnl::reorder to_inner;  // user -> buffer (inputs)
  dnnl::reorder to_user;   // buffer -> user (outputs)
  Timer timer;             // which reorder timer its reorders count to
  // Reordered copies of named inputs (weights, named by a token the caller gives each weight tensor), so that
  // inference, whose weights do not change between batches, reorders each once. Several slots because layers of
  // one shape (NiN's two 1x1 convolutions per block) share an entry; a miss overwrites the oldest slot.
  struct Named {
    uint64_t token;
    const float* data;
    memory copy;
  };
  static constexpr size_t kNamedSlots = 4;
  std::vector<Named> named;
  size_t next_slot = 0;

  void init(const memory::desc& user_md, const memory::desc& inner_md, bool is_input, Timer reorder_timer) {
    user = user_md;
    inner = inner_md;
    timer = reorder_timer;
    if (inner == user) return;
    buffer = memory(inner, cpu_engine());
    if (is_input) {
      to_inner = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), user, cpu_engine(), inner));
    } else {
      to_user = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), inner, cpu_engine(), user));
    }
  }

  // The memory the primitive reads: the TF.js buffer itself, or a reordered copy of it. token: 0, or a number
  // the caller gives this one immutable tensor (never another one), whose reordered copy is then kept.
  memory input(const float* data, uint64_t token = 0) {
    memory plain(user, cpu_engine(), const_cast<float*>(data));
    if (inner == user) return plain;
    if (token != 0) {
      for (const Named& slot : named) {
        if (slot.token == token && slot.data == data) return slot.copy;
      }
    }
    memory target = buffer;
    if (token != 0) {
      if (named.size() < kNamedSlots) {
        named.push_back(Named{token, data, memory(inner, cpu_engine())});
        target = named.back().copy;
      } else {
        Named& slot = named[next_slot];
        next_slot = (next_slot + 1) % kNamedSlots;
        slot.token = token;
        slot.data = data;
        target = slot.copy;
      }
    }
    ScopedTimer time(timer);
    to_inner.execute(cpu_stream(), plain, target);
    return target;
  }

  // The memory the primitive writes; call finish() after executing to land it in the TF.js buffer.
  memory output(float* data) {
    if (inner == user) return memory(user, cpu_engine(), data);
    return buffer;
  }

  void finish(float* data) {
    if (inner == user) return;
    ScopedTimer time(timer);
    memory plain(user, cpu_engine(), data);
    to_user.execute(cpu_stream(), buffer, plain);
  }
};

struct Geometry {
  memory::desc src, weights, dst, bias;        // plain TF.js layouts
  memory::desc src_any, weights_any, dst_any;  // what the primitive reads
  memory::desc src_out, weights_out, dst_out;  // what it writes: float32 always
  memory::dims strides, dilates, pad_l, pad_r;
};

// Without AMX: oneDNN 2.6's bf16 weight-gradient kernel for spatial filters (jit_bf16, avx512_core_bf16) is 10-100x
// slower than its float32 one on NiN's small late layers: 3x3 filters over 4x4 or 1x1 images (96px), and 3x3 filters
// into 10 channels (224px: 235 ms against 4 ms). Those use oneDNN's bf16 gemm (im2col) kernel instead, which
// takes them at or below float32's time; 1x1 filters and the large early layers keep the direct kernels.
bool slow_bf16_weight_gradient(const ConvShape& s) {
  const bool spatial = (int64_t)s.filter_height * s.filter_width > 1;
  return spatial && (s.out_channels % 16 != 0 || (int64_t)s.out_height * s.out_width < 64);
}

bool has_amx() {
  const auto isa = static_cast<int>(dnnl::get_effective_cpu_isa());
  const auto amx = static_cast<int>(dnnl::cpu_isa::avx512_core_amx);
  return (isa & amx) == amx;
}

// The implementation a bf16 weight gradient should use when oneDNN's first choice is slow, by substring of its
// name; nullptr: oneDNN's first choice. On AMX (oneDNN 2.6's jit:avx512_core_amx_bf16 first), measured layer by
// layer on NiN's shapes (one thread, CPU time, 96px batch 64 and 224px batch 32): filters over fewer than 16 input
// channels (the 11x11 first layer, one channel) run 2-3x faster on the AVX512-BF16 direct kernel (4.9-10 ms
// against 17-31 at 96px, 30 against 63 at 224px), and 1x1 filters over at most 16 output pixels on the gemm
// kernel (2.4 ms against 4.6 for 384 channels on 4x4). Elsewhere AMX is fastest (up to 490 GFLOP/s a core).
const char* preferred_bf16_weight_gradient(const ConvShape& s) {
  if (!has_amx()) return nullptr;
  if (s.in_channels < 16) return "jit_bf16:avx512_core_bf16";
  const bool pointwise = s.filter_height == 1 && s.filter_width == 1;
  if (pointwise && (int64_t)s.out_height * s.out_width <= 16) return "gemm";
  return nullptr;
}

// The first implementation whose name contains `name` (all of pd's candidates in oneDNN's order), or oneDNN's
// first choice when none does or name is nullptr. `make` builds a fresh primitive descriptor: iterating one moves it.
template <typename Make>
auto with_implementation(const char* name, Make make) -> decltype(make()) {
  auto pd = make();
  if (name == nullptr) return pd;
  do {
    if (std::string(pd.impl_info_str()).find(name) != std::string::npos) return pd;
  } while (pd.next_impl());
  return make();
}

Geometry geometry(const ConvShape& s, ConvLayouts layouts = g_layouts) {
  Geometry g;
  memory::dims src_dims = {s.batch, s.in_channels, s.in_height, s.in_width};
  memory::dims weights_dims = {s.out_channels, s.in_channels, s.filter_height, s.filter_width};
  memory::dims dst_dims = {s.batch, s.out_channels, s.out_height, s.out_width};
  g.src = memory::desc(src_dims, dt::f32, tag::nhwc);
  g.weights = memory::desc(weights_dims, dt::f32, tag::hwio);
  g.dst = memory::desc(dst_dims, dt::f32, tag::nhwc);
  g.bias = memory::desc({s.out_channels}, dt::f32, tag::x);
  // Weights in a blocked layout get oneDNN's direct AVX-512 kernels even with nhwc activations. Blocked
  // activations add a reorder of each activation at each call: that pays (measured 2-6% of a NiN step at
  // 96px) only for spatial kernels whose activations are small enough to reorder within the caches.
  const int64_t activations = (int64_t)s.batch * ((int64_t)s.in_height * s.in_width * s.in_channels +
                                                  (int64_t)s.out_height * s.out_width * s.out_channels);
  const bool small_spatial =
      (int64_t)s.filter_height * s.filter_width > 1 && s.in_channels >= 16 && activations <= (3 << 20);
  const bool blocked_weights = layouts != ConvLayouts::kPlain;
  const bool blocked_activations = layouts == ConvLayouts::kBlocked || (layouts == ConvLayouts::kAuto && small_spatial);
  // bf16: the inputs the primitive multiplies (src, weights, and dst as the backward passes' diff_dst) are
  // bfloat16; what it writes (dst forward, diff_src, diff_weights, diff_bias) stays float32, the accumulation
  // type, so nothing TF.js reads is rounded twice. dst_in / dst_out are the two roles of the dst shape.
  const dt in = g_precision == Precision::kBf16 ? dt::bf16 : dt::f32;
  g.src_any = memory::desc(src_dims, in, blocked_activations ? tag::any : tag::nhwc);
  g.weights_any = memory::desc(weights_dims, in, blocked_weights ? tag::any : tag::hwio);
  g.dst_any = memory::desc(dst_dims, in, blocked_activations ? tag::any : tag::nhwc);
  g.src_out = memory::desc(src_dims, dt::f32, blocked_activations ? tag::any : tag::nhwc);
  g.weights_out = memory::desc(weights_dims, dt::f32, blocked_weights ? tag::any : tag::hwio);
  g.dst_out = memory::desc(dst_dims, dt::f32, blocked_activations ? tag::any : tag::nhwc);
  g.strides = {s.stride_height, s.stride_width};
  g.dilates = {s.dilation_height - 1, s.dilation_width - 1};
  g.pad_l = {s.pad_top, s.pad_left};
  g.pad_r = {s.pad_bottom, s.pad_right};
  return g;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Geometry& g, bool with_bias) {
  using fwd = dnnl::convolution_forward;
  auto desc = with_bias ? fwd::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src_any,
                                    g.weights_any, g.bias, g.dst_out, g.strides, g.dilates, g.pad_l, g.pad_r)
                        : fwd::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src_any,
                                    g.weights_any, g.dst_out, g.strides, g.dilates, g.pad_l, g.pad_r);
  return fwd::primitive_desc(desc, cpu_engine());
}

struct ForwardEntry {
  dnnl::convolution_forward prim;
  Port src, weights, dst;
  bool pads_through_gemm;  // see pads_through_gemm()
};

struct BackwardDataEntry {
  dnnl::convolution_backward_data prim;
  Port diff_dst, weights, diff_src;
};

struct BackwardWeightsEntry {
  dnnl::convolution_backward_weights prim;
  Port src, diff_dst, diff_weights;
  bool pads_through_gemm;
};

// oneDNN's gemm convolutions (im2col) multiply zero padding by the weights (forward) or by dy (weight
// gradient), where TF.js skips padded taps: an infinite weight or dy then gives 0 * inf = NaN where TF.js
// gives a number. Its direct kernels skip padding as TF.js does. Calls that would differ go to TF.js.
bool pads_through_gemm(const ConvShape& s, const char* impl) {
  const bool padded = s.pad_top > 0 || s.pad_bottom > 0 || s.pad_left > 0 || s.pad_right > 0;
  return padded && std::string(impl).find("gemm") != std::string::npos;
}

bool all_finite(const float* data, int64_t size) {
  int64_t non_finite = 0;
#pragma omp parallel for reduction(+ : non_finite) schedule(static) if (size >= (1 << 15))
  for (int64_t i = 0; i < size; ++i) non_finite += !std::isfinite(data[i]);
  return non_finite == 0;
}

std::string shape_key(char kind, const ConvShape& s, int flags) {
  std::string key(1, kind);
  for (int v : {s.batch, s.in_height, s.in_width, s.in_channels, s.filter_height, s.filter_width, s.out_channels,
                s.out_height, s.out_width, s.stride_height, s.stride_width, s.dilation_height, s.dilation_width,
                s.pad_top, s.pad_bottom, s.pad_left, s.pad_right}) {
    key += std::to_string(v) + ",";
  }
  key += std::to_string(flags) + "/" + std::to_string(static_cast<int>(g_layouts)) + "/" +
         std::to_string(static_cast<int>(g_precision));
  return key;
}

// The caches and the buffers their entries own are shared by every worker thread that loads the addon.
std::mutex g_mutex;

template <typename Entry>
using Cache = std::unordered_map<std::string, std::unique_ptr<Entry>>;

// The dy the last weight gradient converted, kept for the input gradient of the same dy (conv_backward_data):
// TF.js computes the two from one dy, one after the other, and both primitives often want it in the same layout.
struct ConvertedDy {
  const float* data = nullptr;
  uint64_t token = 0;  // 0: none
  memory::desc desc;
  memory converted;
};
ConvertedDy g_last_dy;
uint64_t g_dy_tokens = 0;

Cache<ForwardEntry> g_forward;
Cache<BackwardDataEntry> g_backward_data;
Cache<BackwardWeightsEntry> g_backward_weights;

ForwardEntry& forward_entry(const ConvShape& s, bool with_bias) {
  auto key = shape_key('f', s, with_bias ? 1 : 0);
  auto it = g_forward.find(key);
  if (it != g_forward.end()) return *it->second;
  Geometry g = geometry(s);
  auto pd = forward_pd(g, with_bias);
  auto entry = std::make_unique<ForwardEntry>();
  entry->prim = dnnl::convolution_forward(pd);
  entry->src.init(g.src, pd.src_desc(), true, Timer::kReorderActivations);
  entry->weights.init(g.weights, pd.weights_desc(), true, Timer::kReorderWeights);
  entry->dst.init(g.dst, pd.dst_desc(), false, Timer::kReorderActivations);
  entry->pads_through_gemm = pads_through_gemm(s, pd.impl_info_str());
  return *g_forward.emplace(key, std::move(entry)).first->second;
}

BackwardDataEntry& backward_data_entry(const ConvShape& s) {
  auto key = shape_key('d', s, 0);
  auto it = g_backward_data.find(key);
  if (it != g_backward_data.end()) return *it->second;
  Geometry g = geometry(s);
  auto hint = forward_pd(g, false);
  dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, g.src_out, g.weights_any, g.dst_any,
                                             g.strides, g.dilates, g.pad_l, g.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(desc, cpu_engine(), hint);
  auto entry = std::make_unique<BackwardDataEntry>();
  entry->prim = dnnl::convolution_backward_data(pd);
  entry->diff_dst.init(g.dst, pd.diff_dst_desc(), true, Timer::kReorderActivations);
  entry->weights.init(g.weights, pd.weights_desc(), true, Timer::kReorderWeights);
  entry->diff_src.init(g.src, pd.diff_src_desc(), false, Timer::kReorderActivations);
  return *g_backward_data.emplace(key, std::move(entry)).first->second;
}

BackwardWeightsEntry& backward_weights_entry(const ConvShape& s, bool with_bias) {
  auto key = shape_key('w', s, with_bias ? 1 : 0);
  auto it = g_backward_weights.find(key);
  if (it != g_backward_weights.end()) return *it->second;
  const bool bf16 = g_precision == Precision::kBf16;
  const bool gemm = bf16 && !has_amx() && slow_bf16_weight_gradient(s);
  Geometry g = geometry(s, gemm ? ConvLayouts::kPlain : g_layouts);
  auto hint = forward_pd(g, false);
  using bwd = dnnl::convolution_backward_weights;
  auto desc = with_bias ? bwd::desc(dnnl::algorithm::convolution_direct, g.src_any, g.weights_out, g.bias, g.dst_any,
                                    g.strides, g.dilates, g.pad_l, g.pad_r)
                        : bwd::desc(dnnl::algorithm::convolution_direct, g.src_any, g.weights_out, g.dst_any, g.strides,
                                    g.dilates, g.pad_l, g.pad_r);
  auto pd = with_implementation(bf16 ? preferred_bf16_weight_gradient(s) : nullptr,
                                [&] { return bwd::primitive_desc(desc, cpu_engine(), hint); });
  auto entry = std::make_unique<BackwardWeightsEntry>();
  entry->prim = dnnl::convolution_backward_weights(pd);
  entry->src.init(g.src, pd.src_desc(), true, Timer::kReorderActivations);
  entry->diff_dst.init(g.dst, pd.diff_dst_desc(), true, Timer::kReorderActivations);
  entry->diff_weights.init(g.weights, pd.diff_weights_desc(), false, Timer::kReorderWeights);
  entry->pads_through_gemm = pads_through_gemm(s, pd.impl_info_str());
  return *g_backward_weights.emplace(key, std::move(entry)).first->second;
}

}  // namespace

bool conv_forward(const ConvShape& s, const float* x, const float* filter, uint64_t filter_token, const float* bias,
                  bool relu, float* y) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    ForwardEntry& e = forward_entry(s, bias != nullptr);
    const int64_t filter_size = (int64_t)s.filter_height * s.filter_width * s.in_channels * s.out_channels;
    if (e.pads_through_gemm && !all_finite(filter, filter_size)) return false;
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, e.src.input(x)},
        {DNNL_ARG_WEIGHTS, e.weights.input(filter, filter_token)},
        {DNNL_ARG_DST, e.dst.output(y)},
    };
    if (bias != nullptr) {
      args[DNNL_ARG_BIAS] =
          memory(memory::desc({s.out_channels}, dt::f32, tag::x), cpu_engine(), const_cast<float*>(bias));
    }
    {
      ScopedTimer time(Timer::kConvForward);
      e.prim.execute(cpu_stream(), args);
    }
    e.dst.finish(y);
    cpu_stream().wait();
  } catch (const dnnl::error&) {
    return false;
  }
  // Not oneDNN's ReLU post-op: its JIT kernels compute max(y, 0) with an instruction that turns NaN into 0,
  // and its gemm kernels (plain layouts) turn -inf into NaN (0 * -inf). With one more pass over y, a diverged model
  // reports NaN on this backend as on cpu; NiN's forward convolutions at 96px, batch 64 took 82.8 ms of CPU
  // with it against 81.8 ms with the post-op (means of 4 alternating runs on a busy machine: noise-sized).
  if (relu) unary(UnaryOp::kRelu, y, y, (int64_t)s.batch * s.out_height * s.out_width * s.out_channels, 0.f);
  return true;
}

bool conv_backward_data(const ConvShape& s, const float* dy, const float* filter, float* dx, uint64_t dy_token) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    BackwardDataEntry& e = backward_data_entry(s);
    // The token proves the pairing (the caller held dy since the weight gradient, so its memory was not reused);
    // the pointer and layout checks make a stale or mistaken token fall back to converting dy again.
    const bool reuse =
        dy_token != 0 && dy_token == g_last_dy.token && dy == g_last_dy.data && e.diff_dst.inner == g_last_dy.desc;
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_DIFF_DST, reuse ? g_last_dy.converted : e.diff_dst.input(dy)},
        {DNNL_ARG_WEIGHTS, e.weights.input(filter)},
        {DNNL_ARG_DIFF_SRC, e.diff_src.output(dx)},
    };
    {
      ScopedTimer time(Timer::kConvBackwardData);
      e.prim.execute(cpu_stream(), args);
    }
    e.diff_src.finish(dx);
    cpu_stream().wait();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool conv_backward_filter(const ConvShape& s, const float* x, const float* dy, float* dfilter, float* dbias) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    BackwardWeightsEntry& e = backward_weights_entry(s, dbias != nullptr);
    const int64_t dy_size = (int64_t)s.batch * s.out_height * s.out_width * s.out_channels;
    if (e.pads_through_gemm && !all_finite(dy, dy_size)) return false;
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, e.src.input(x)},
        {DNNL_ARG_DIFF_DST, e.diff_dst.input(dy)},
        {DNNL_ARG_DIFF_WEIGHTS, e.diff_weights.output(dfilter)},
    };
    g_last_dy = ConvertedDy();
    if (e.diff_dst.inner != e.diff_dst.user) {
      g_last_dy = ConvertedDy{dy, ++g_dy_tokens, e.diff_dst.inner, e.diff_dst.buffer};
    }
    if (dbias != nullptr) {
      args[DNNL_ARG_DIFF_BIAS] = memory(memory::desc({s.out_channels}, dt::f32, tag::x), cpu_engine(), dbias);
    }
    {
      ScopedTimer time(Timer::kConvBackwardWeights);
      e.prim.execute(cpu_stream(), args);
    }
    e.diff_weights.finish(dfilter);
    cpu_stream().wait();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool benchmark_conv_forward(const ConvShape& s, int repetitions, ConvBenchmark* result) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    // Every tensor in the layout the primitive likes best, so no reorder is timed: the layer's speed alone.
    Geometry g = geometry(s, ConvLayouts::kBlocked);
    g.src_any = memory::desc(g.src_any.dims(), g.src_any.data_type(), tag::any);
    g.dst_out = memory::desc(g.dst_out.dims(), g.dst_out.data_type(), tag::any);
    auto pd = forward_pd(g, true);
    dnnl::convolution_forward prim(pd);
    // Zeros: the arithmetic units take as long on them (no denormals), and every call sees the same numbers.
    const auto zeroed = [](const memory::desc& desc) {
      memory m(desc, cpu_engine());
      std::memset(m.get_data_handle(), 0, desc.get_size());
      return m;
    };
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, zeroed(pd.src_desc())},
                                            {DNNL_ARG_WEIGHTS, zeroed(pd.weights_desc())},
                                            {DNNL_ARG_BIAS, zeroed(pd.bias_desc())},
                                            {DNNL_ARG_DST, zeroed(pd.dst_desc())}};
    prim.execute(cpu_stream(), args);  // warm-up: first-touch of the buffers, caches
    cpu_stream().wait();
    result->seconds = result->cpu_seconds = std::numeric_limits<double>::infinity();
    for (int i = 0; i < repetitions; ++i) {
      const auto wall = std::chrono::steady_clock::now();
      timespec cpu0, cpu1;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
      prim.execute(cpu_stream(), args);
      cpu_stream().wait();
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
      const double cpu = (cpu1.tv_sec - cpu0.tv_sec) + 1e-9 * (cpu1.tv_nsec - cpu0.tv_nsec);
      result->seconds = std::min(result->seconds, elapsed);
      result->cpu_seconds = std::min(result->cpu_seconds, cpu);
    }
    result->implementation = pd.impl_info_str();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

uint64_t last_dy_token() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_last_dy.token;
}

void set_conv_layouts(ConvLayouts layouts) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_layouts = layouts;
}
ConvLayouts conv_layouts() { return g_layouts; }

void set_conv_precision(Precision precision) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_precision = precision;
}
Precision conv_precision() { return g_precision; }

bool native_bf16() {
  const auto isa = static_cast<int>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<int>(dnnl::cpu_isa::avx512_core_bf16);
  // The ISA values are bit sets: each contains the features of the ones it extends.
  return (isa & bf16) == bf16;
}

std::string cpu_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

void clear_conv_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_last_dy = ConvertedDy();
  g_forward.clear();
  g_backward_data.clear();
  g_backward_weights.clear();
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace nin
