// Convolutions on oneDNN 2.x: forward (with bias, and ReLU applied after), backward data and backward weights.
// Primitives are created once per shape and pass and cached, each with the layouts it reads and writes
// (conv_ports); the tensors arrive in those layouts (JS converts them first where needed) and are used in place.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "bfloat16.h"
#include "layouts.h"
#include "nin_onednn.h"
#include "simd.h"

namespace nin {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

ConvLayouts g_layouts = ConvLayouts::kAuto;

Precision g_precision = Precision::kFp32;

// What a primitive reads and writes, by the tensor's role in the convolution (see ConvPorts).
struct Geometry {
  memory::desc x, filter, y, bias;  // x, filter, y: format_tag::any where oneDNN chooses
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

// in: the element type of the activations and filter (bfloat16 in bf16). A bf16 primitive that cannot write
// bfloat16 activations is created again writing float32 (make_forward, make_backward_data).
Geometry geometry(const ConvShape& s, ConvLayouts layouts, dt in) {
  Geometry g;
  const memory::dims x_dims = {s.batch, s.in_channels, s.in_height, s.in_width};
  const memory::dims filter_dims = {s.out_channels, s.in_channels, s.filter_height, s.filter_width};
  const memory::dims y_dims = {s.batch, s.out_channels, s.out_height, s.out_width};
  // Blocked weights get oneDNN's direct kernels; with activations in the layouts oneDNN picks too (blocked
  // nChw16c in float32 on AVX-512, nhwc with AMX), tensors stay in them from one layer to the next, and only
  // the network's input and what JavaScript reads are converted. kAuto is that.
  const bool blocked_weights = layouts != ConvLayouts::kPlain;
  const bool blocked_activations = layouts == ConvLayouts::kBlocked || layouts == ConvLayouts::kAuto;
  g.x = memory::desc(x_dims, in, blocked_activations ? tag::any : tag::nhwc);
  g.filter = memory::desc(filter_dims, in, blocked_weights ? tag::any : tag::hwio);
  g.y = memory::desc(y_dims, in, blocked_activations ? tag::any : tag::nhwc);
  g.bias = memory::desc({s.out_channels}, dt::f32, tag::x);
  g.strides = {s.stride_height, s.stride_width};
  g.dilates = {s.dilation_height - 1, s.dilation_width - 1};
  g.pad_l = {s.pad_top, s.pad_left};
  g.pad_r = {s.pad_bottom, s.pad_right};
  return g;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Geometry& g, bool with_bias, const memory::desc& y,
                                                     dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
  using fwd = dnnl::convolution_forward;
  auto desc = with_bias ? fwd::desc(dnnl::prop_kind::forward_training, algorithm, g.x, g.filter, g.bias, y, g.strides,
                                    g.dilates, g.pad_l, g.pad_r)
                        : fwd::desc(dnnl::prop_kind::forward_training, algorithm, g.x, g.filter, y, g.strides,
                                    g.dilates, g.pad_l, g.pad_r);
  return fwd::primitive_desc(desc, cpu_engine());
}

// float32 3x3 convolutions at stride 1 take oneDNN's Winograd kernels (F(4x4, 3x3), jit_wino_4x3) where it has them:
// 2.25x fewer multiplications, and measured on NiN's 3x3 layer (one thread, alone) 27.9 -> 16.8 ms for the forward
// and both gradients at 96px batch 64, 125 -> 61 ms at 224px batch 32. Its results differ from the direct kernels'
// in rounding only (fp32 parity with PyTorch holds), but its transforms mix neighbouring values, so one infinity
// would spread NaN over a tile where TF.js has a number: calls with a non-finite operand take the direct twin (the
// same layouts, hence the same ports).
bool winograd_shape(const ConvShape& s) {
  return g_precision == Precision::kFp32 && s.filter_height == 3 && s.filter_width == 3 && s.stride_height == 1 &&
         s.stride_width == 1 && s.dilation_height == 1 && s.dilation_width == 1 &&
         (g_layouts == ConvLayouts::kBlocked || g_layouts == ConvLayouts::kAuto);
}

// A memory descriptor like `desc` (format any or a fixed tag) in float32: the accumulation type, which bf16
// primitives write where they cannot write bfloat16.
memory::desc float32(const memory::desc& desc, bool any) {
  return memory::desc(desc.dims(), dt::f32, any ? tag::any : tag::nhwc);
}

// oneDNN's gemm convolutions (im2col) and its bf16 kernels (AMX, and the forward convolution that computes a weight
// gradient) multiply zero padding by the filter (forward, input gradient) or by dy (weight gradient), where TF.js
// skips padded taps: an infinite filter value or dy then gives 0 * inf = NaN where TF.js gives a number. Its float32
// direct kernels skip padding as TF.js does. Calls that would differ (that operand not all finite) go to TF.js.
bool multiplies_padding(const ConvShape& s, const char* impl, bool bf16) {
  const bool padded = s.pad_top > 0 || s.pad_bottom > 0 || s.pad_left > 0 || s.pad_right > 0;
  return padded && (bf16 || std::string(impl).find("gemm") != std::string::npos);
}

bool is_bf16(const memory::desc& desc) { return desc.data_type() == dt::bf16; }

// The elements a buffer in this layout holds, padding included.
int64_t elements(const memory::desc& desc) { return static_cast<int64_t>(desc.get_size() / (is_bf16(desc) ? 2 : 4)); }

// Whether every value of a buffer of float32 or bfloat16 elements is finite.
NIN_VECTOR_CLONES bool all_finite(const void* data, bool bf16, int64_t size) {
  int64_t non_finite = 0;
  if (bf16) {
    const auto* v = static_cast<const uint16_t*>(data);
#pragma omp parallel for reduction(+ : non_finite) schedule(static) if (size >= (1 << 15))
    for (int64_t i = 0; i < size; ++i) non_finite += (v[i] & 0x7f80u) == 0x7f80u;
  } else {
    const auto* v = static_cast<const float*>(data);
#pragma omp parallel for reduction(+ : non_finite) schedule(static) if (size >= (1 << 15))
    for (int64_t i = 0; i < size; ++i) non_finite += !std::isfinite(v[i]);
  }
  return non_finite == 0;
}

std::string shape_key(ConvPass pass, const ConvShape& s, bool bias) {
  std::string key(1, static_cast<char>('0' + static_cast<int>(pass)));
  for (int v : {s.batch, s.in_height, s.in_width, s.in_channels, s.filter_height, s.filter_width, s.out_channels,
                s.out_height, s.out_width, s.stride_height, s.stride_width, s.dilation_height, s.dilation_width,
                s.pad_top, s.pad_bottom, s.pad_left, s.pad_right}) {
    key += std::to_string(v) + ",";
  }
  key += std::to_string(bias ? 1 : 0) + "/" + std::to_string(static_cast<int>(g_layouts)) + "/" +
         std::to_string(static_cast<int>(g_precision));
  return key;
}

// One cached primitive with its layouts (descriptors and their ids in the layout table).
// How a weight gradient is computed (see weight_gradient_method).
enum class Method { kPrimitive, kMatmul, kForwardConv };

struct Entry {
  dnnl::primitive prim;
  memory::desc x, filter, y;
  ConvPorts ports;
  bool multiplies_padding = false;  // see multiplies_padding()
  // Winograd (see winograd_shape): `prim` is it, `exact` the direct primitive for calls with a non-finite operand.
  bool winograd = false;
  dnnl::primitive exact;
  // The forward with oneDNN's ReLU post-op, in the same layouts, made on first use (null when oneDNN has none).
  bool relu_tried = false;
  dnnl::primitive with_relu;
  Method method = Method::kPrimitive;
  // kMatmul: the operands as the matmul sees them (views of x, dy and the filter gradient's buffers).
  memory::desc a, b, c;
  // kForwardConv: x and dy reordered into the forward convolution's layouts, its output reordered out again.
  dnnl::reorder x_in, dy_in, out;
  memory::desc x_view, dy_view, out_view;
  memory x_scratch, dy_scratch, out_scratch;
};

// The cache is shared by every worker thread that loads the addon.
std::mutex g_mutex;
std::unordered_map<std::string, std::unique_ptr<Entry>> g_entries;

void register_ports(Entry& e) {
  e.ports = {layout_id(e.x, LayoutRole::kActivation), layout_id(e.filter, LayoutRole::kWeights),
             layout_id(e.y, LayoutRole::kActivation)};
}

std::unique_ptr<Entry> make_forward(const ConvShape& s, bool bias) {
  const dt in = g_precision == Precision::kBf16 ? dt::bf16 : dt::f32;
  const Geometry g = geometry(s, g_layouts, in);
  auto e = std::make_unique<Entry>();
  if (winograd_shape(s)) {
    try {
      auto wino = forward_pd(g, bias, g.y, dnnl::algorithm::convolution_winograd);
      Geometry fixed = g;
      fixed.x = wino.src_desc();
      fixed.filter = wino.weights_desc();
      e->exact = dnnl::convolution_forward(forward_pd(fixed, bias, wino.dst_desc()));
      e->prim = dnnl::convolution_forward(wino);
      e->winograd = true;
      e->x = wino.src_desc();
      e->filter = wino.weights_desc();
      e->y = wino.dst_desc();
      return e;
    } catch (const dnnl::error&) {
      // No Winograd kernel for this shape here: the direct one below.
    }
  }
  dnnl::convolution_forward::primitive_desc pd;
  try {
    pd = forward_pd(g, bias, g.y);
  } catch (const dnnl::error&) {
    if (in == dt::f32) throw;
    pd = forward_pd(g, bias,
                    float32(g.y, g_layouts != ConvLayouts::kPlain && g_layouts != ConvLayouts::kBlockedWeights));
  }
  e->prim = dnnl::convolution_forward(pd);
  e->x = pd.src_desc();
  e->filter = pd.weights_desc();
  e->y = pd.dst_desc();
  e->multiplies_padding = multiplies_padding(s, pd.impl_info_str(), is_bf16(e->x));
  return e;
}

std::unique_ptr<Entry> make_backward_data(const ConvShape& s) {
  const dt in = g_precision == Precision::kBf16 ? dt::bf16 : dt::f32;
  const Geometry g = geometry(s, g_layouts, in);
  const auto hint = forward_pd(g, false, g.y);
  using bwd = dnnl::convolution_backward_data;
  const auto make = [&](const memory::desc& dx) {
    bwd::desc desc(dnnl::algorithm::convolution_direct, dx, g.filter, g.y, g.strides, g.dilates, g.pad_l, g.pad_r);
    return bwd::primitive_desc(desc, cpu_engine(), hint);
  };
  if (winograd_shape(s)) {
    try {
      const auto wino_hint = forward_pd(g, false, g.y, dnnl::algorithm::convolution_winograd);
      bwd::primitive_desc wino(
          bwd::desc(dnnl::algorithm::convolution_winograd, g.x, g.filter, g.y, g.strides, g.dilates, g.pad_l, g.pad_r),
          cpu_engine(), wino_hint);
      bwd::desc exact(dnnl::algorithm::convolution_direct, wino.diff_src_desc(), wino.weights_desc(),
                      wino.diff_dst_desc(), g.strides, g.dilates, g.pad_l, g.pad_r);
      auto e = std::make_unique<Entry>();
      e->exact = bwd(bwd::primitive_desc(exact, cpu_engine(), hint));
      e->prim = bwd(wino);
      e->winograd = true;
      e->x = wino.diff_src_desc();
      e->filter = wino.weights_desc();
      e->y = wino.diff_dst_desc();
      return e;
    } catch (const dnnl::error&) {
      // No Winograd kernel for this shape here: the direct one below.
    }
  }
  bwd::primitive_desc pd;
  try {
    pd = make(g.x);
  } catch (const dnnl::error&) {
    if (in == dt::f32) throw;
    pd = make(float32(g.x, g_layouts == ConvLayouts::kBlocked || g_layouts == ConvLayouts::kAuto));
  }
  auto e = std::make_unique<Entry>();
  e->prim = bwd(pd);
  e->x = pd.diff_src_desc();
  e->filter = pd.weights_desc();
  e->y = pd.diff_dst_desc();
  // A gemm input gradient (col2im) drops what lands in the padding, so only the bf16 kernels need the check here.
  e->multiplies_padding = is_bf16(e->y) && multiplies_padding(s, pd.impl_info_str(), true);
  return e;
}

// oneDNN 2.6's bf16 weight gradient on AMX (jit:avx512_core_amx_bf16) reaches 130-210 GFLOP/s a core on NiN's
// layers at 96px where its forward reaches 1,000-1,200, and 35-160 on 1x1 filters. A weight gradient is itself a
// product of x and dy: for 1x1 filters (stride 1, no padding) dfilter[i][o] = sum over pixels of x[p][i] dy[p][o], a
// matmul of x transposed and dy, which oneDNN's AMX matmul runs at 300-900 GFLOP/s; for a spatial filter it is a
// forward convolution of x over dy, with images and channels swapped (the batch as channels, x's channels as the
// batch, dy's pixels as the filter, spread by the stride as a dilation), which AMX's forward kernels run fast while
// dy's images are small or x has few channels: at 96px batch 64 the 5x5 layer (10x10 images) in 18 ms against 37.5,
// the 3x3 one (4x4) in 2.3 against 14, the 11x11/4 stem (one channel) in 1.5 against 5-10 on the AVX512-BF16 kernel
// (5.3 against 30 at 224px); the 5x5 and 3x3 layers at 224px (26x26 and 12x12 images) lose (80 against 55 ms), hence
// at most 100 pixels unless x has under 16 channels. Both write the gradient in TF.js's hwio layout, where the
// optimizer and the next forward read it (one thread, CPU time).
Method weight_gradient_method(const ConvShape& s) {
  if (g_precision != Precision::kBf16 || !has_amx() || g_layouts == ConvLayouts::kPlain) return Method::kPrimitive;
  if (s.dilation_height != 1 || s.dilation_width != 1) return Method::kPrimitive;
  const bool pointwise = s.filter_height == 1 && s.filter_width == 1;
  const bool padded = s.pad_top > 0 || s.pad_bottom > 0 || s.pad_left > 0 || s.pad_right > 0;
  const bool strided = s.stride_height != 1 || s.stride_width != 1;
  if (pointwise && !padded && !strided) return Method::kMatmul;
  if (!pointwise && ((int64_t)s.out_height * s.out_width <= 100 || s.in_channels < 16)) return Method::kForwardConv;
  return Method::kPrimitive;
}

// x and dy in nhwc bfloat16 (how AMX's kernels leave activations), the filter gradient in hwio float32.
void plain_ports(const ConvShape& s, Entry& e) {
  e.x = memory::desc({s.batch, s.in_channels, s.in_height, s.in_width}, dt::bf16, tag::nhwc);
  e.y = memory::desc({s.batch, s.out_channels, s.out_height, s.out_width}, dt::bf16, tag::nhwc);
  e.filter = memory::desc({s.out_channels, s.in_channels, s.filter_height, s.filter_width}, dt::f32, tag::hwio);
}

std::unique_ptr<Entry> make_matmul_weights(const ConvShape& s) {
  auto e = std::make_unique<Entry>();
  plain_ports(s, *e);
  e->method = Method::kMatmul;
  const int64_t pixels = (int64_t)s.batch * s.out_height * s.out_width;
  // a = x transposed (in_channels x pixels, over x's nhwc buffer), b = dy (pixels x out_channels), c = a b in
  // row-major in_channels x out_channels: the hwio filter gradient of a 1x1 convolution.
  e->a = memory::desc({s.in_channels, pixels}, dt::bf16, memory::dims{1, s.in_channels});
  e->b = memory::desc({pixels, s.out_channels}, dt::bf16, tag::ab);
  e->c = memory::desc({s.in_channels, s.out_channels}, dt::f32, tag::ab);
  e->prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(e->a, e->b, e->c), cpu_engine()));
  return e;
}

std::unique_ptr<Entry> make_forward_conv_weights(const ConvShape& s) {
  auto e = std::make_unique<Entry>();
  plain_ports(s, *e);
  e->method = Method::kForwardConv;
  const int64_t in = s.in_channels, out = s.out_channels;
  // x as a batch of in_channels images of `batch` channels; dy as out_channels filters over `batch` channels, their
  // taps `stride` apart (a dilation of stride - 1). The output has a position for each filter offset, and for a
  // strided layer a few more past the filter's end (the input's last rows and columns, which no output pixel
  // reached): those are dropped.
  e->x_view = memory::desc({in, s.batch, s.in_height, s.in_width}, dt::bf16,
                           memory::dims{1, (int64_t)s.in_height * s.in_width * in, (int64_t)s.in_width * in, in});
  e->dy_view =
      memory::desc({out, s.batch, s.out_height, s.out_width}, dt::bf16,
                   memory::dims{1, (int64_t)s.out_height * s.out_width * out, (int64_t)s.out_width * out, out});
  const int64_t reach_h = (int64_t)(s.out_height - 1) * s.stride_height + 1;
  const int64_t reach_w = (int64_t)(s.out_width - 1) * s.stride_width + 1;
  const int64_t offsets_h = s.in_height + s.pad_top + s.pad_bottom - reach_h + 1;
  const int64_t offsets_w = s.in_width + s.pad_left + s.pad_right - reach_w + 1;
  if (offsets_h < s.filter_height || offsets_w < s.filter_width) throw dnnl::error(dnnl_unimplemented, "geometry");
  const memory::desc src({in, s.batch, s.in_height, s.in_width}, dt::bf16, tag::any);
  const memory::desc weights({out, s.batch, s.out_height, s.out_width}, dt::bf16, tag::any);
  const memory::desc dst({in, out, offsets_h, offsets_w}, dt::f32, tag::any);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                       weights, dst, {1, 1}, {s.stride_height - 1, s.stride_width - 1},
                                       {s.pad_top, s.pad_left}, {s.pad_bottom, s.pad_right});
  dnnl::convolution_forward::primitive_desc pd(desc, cpu_engine());
  e->prim = dnnl::convolution_forward(pd);
  e->x_scratch = memory(pd.src_desc(), cpu_engine());
  e->dy_scratch = memory(pd.weights_desc(), cpu_engine());
  e->out_scratch = memory(pd.dst_desc(), cpu_engine());
  // The output holds dfilter[o][i][kh][kw] at [i][o][kh][kw]: the same memory with its first two axes swapped, and
  // only the filter's offsets of it.
  e->out_view =
      pd.dst_desc().permute_axes({1, 0, 2, 3}).submemory_desc({out, in, s.filter_height, s.filter_width}, {0, 0, 0, 0});
  e->x_in = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->x_view, cpu_engine(), pd.src_desc()));
  e->dy_in = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->dy_view, cpu_engine(), pd.weights_desc()));
  e->out = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->out_view, cpu_engine(), e->filter));
  e->multiplies_padding = multiplies_padding(s, pd.impl_info_str(), true);
  return e;
}

std::unique_ptr<Entry> make_backward_weights(const ConvShape& s) {
  try {
    switch (weight_gradient_method(s)) {
      case Method::kMatmul: return make_matmul_weights(s);
      case Method::kForwardConv: return make_forward_conv_weights(s);
      case Method::kPrimitive: break;
    }
  } catch (const dnnl::error&) {
    // oneDNN has no such matmul or convolution here: the weight-gradient primitive below.
  }
  const bool bf16 = g_precision == Precision::kBf16;
  const bool gemm = bf16 && !has_amx() && slow_bf16_weight_gradient(s);
  const Geometry g = geometry(s, gemm ? ConvLayouts::kPlain : g_layouts, bf16 ? dt::bf16 : dt::f32);
  const auto hint = forward_pd(g, false, g.y);
  // The weight gradient is float32, the accumulation type: the optimizer adds it to float32 weights.
  const bool plain_weights = gemm || g_layouts == ConvLayouts::kPlain;
  const memory::desc dfilter(g.filter.dims(), dt::f32, plain_weights ? tag::hwio : tag::any);
  using bwd = dnnl::convolution_backward_weights;
  if (winograd_shape(s)) {
    try {
      const auto wino_hint = forward_pd(g, false, g.y, dnnl::algorithm::convolution_winograd);
      bwd::primitive_desc wino(
          bwd::desc(dnnl::algorithm::convolution_winograd, g.x, dfilter, g.y, g.strides, g.dilates, g.pad_l, g.pad_r),
          cpu_engine(), wino_hint);
      bwd::desc exact(dnnl::algorithm::convolution_direct, wino.src_desc(), wino.diff_weights_desc(),
                      wino.diff_dst_desc(), g.strides, g.dilates, g.pad_l, g.pad_r);
      auto e = std::make_unique<Entry>();
      e->exact = bwd(bwd::primitive_desc(exact, cpu_engine(), hint));
      e->prim = bwd(wino);
      e->winograd = true;
      e->x = wino.src_desc();
      e->filter = wino.diff_weights_desc();
      e->y = wino.diff_dst_desc();
      return e;
    } catch (const dnnl::error&) {
      // No Winograd kernel for this shape here: the direct one below.
    }
  }
  bwd::desc desc(dnnl::algorithm::convolution_direct, g.x, dfilter, g.y, g.strides, g.dilates, g.pad_l, g.pad_r);
  auto pd = with_implementation(bf16 ? preferred_bf16_weight_gradient(s) : nullptr,
                                [&] { return bwd::primitive_desc(desc, cpu_engine(), hint); });
  auto e = std::make_unique<Entry>();
  e->prim = bwd(pd);
  e->x = pd.src_desc();
  e->filter = pd.diff_weights_desc();
  e->y = pd.diff_dst_desc();
  e->multiplies_padding = multiplies_padding(s, pd.impl_info_str(), bf16);
  return e;
}

// The cached entry of a pass and shape, created on first use; nullptr when oneDNN rejects it. Under g_mutex.
Entry* entry(ConvPass pass, const ConvShape& s, bool bias) {
  const std::string key = shape_key(pass, s, bias);
  auto it = g_entries.find(key);
  if (it != g_entries.end()) return it->second.get();
  std::unique_ptr<Entry> e;
  try {
    switch (pass) {
      case ConvPass::kForward: e = make_forward(s, bias); break;
      case ConvPass::kBackwardData: e = make_backward_data(s); break;
      case ConvPass::kBackwardWeights: e = make_backward_weights(s); break;
    }
  } catch (const dnnl::error&) {
    return nullptr;
  }
  register_ports(*e);
  return g_entries.emplace(key, std::move(e)).first->second.get();
}

memory at(const memory::desc& desc, const void* data) { return memory(desc, cpu_engine(), const_cast<void*>(data)); }

}  // namespace

bool conv_ports(ConvPass pass, const ConvShape& s, bool bias, ConvPorts* ports) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Entry* e = entry(pass, s, pass == ConvPass::kForward && bias);
  if (e == nullptr) return false;
  *ports = e->ports;
  return true;
}

namespace {

// The forward primitive of `e` with oneDNN's ReLU post-op, in e's layouts; null when oneDNN has none.
dnnl::primitive* relu_variant(Entry& e, const ConvShape& s, bool bias) {
  if (!e.relu_tried) {
    e.relu_tried = true;
    try {
      Geometry g = geometry(s, g_layouts, e.x.data_type());
      g.x = e.x;
      g.filter = e.filter;
      const auto algorithm = e.winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
      using fwd = dnnl::convolution_forward;
      auto desc = bias ? fwd::desc(dnnl::prop_kind::forward_training, algorithm, g.x, g.filter, g.bias, e.y, g.strides,
                                   g.dilates, g.pad_l, g.pad_r)
                       : fwd::desc(dnnl::prop_kind::forward_training, algorithm, g.x, g.filter, e.y, g.strides,
                                   g.dilates, g.pad_l, g.pad_r);
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      fwd::primitive_desc pd(desc, attr, cpu_engine());
      if (pd.src_desc() == e.x && pd.weights_desc() == e.filter && pd.dst_desc() == e.y) e.with_relu = fwd(pd);
    } catch (const dnnl::error&) {
      // None: the caller runs the plain forward and a ReLU pass.
    }
  }
  return e.with_relu ? &e.with_relu : nullptr;
}

}  // namespace

bool conv_forward(const ConvShape& s, const void* x, const void* filter, const float* bias, bool fused_relu, void* y,
                  bool* relu_done) {
  *relu_done = false;
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    Entry* e = entry(ConvPass::kForward, s, bias != nullptr);
    if (e == nullptr) return false;
    if (e->multiplies_padding && !all_finite(filter, is_bf16(e->filter), elements(e->filter))) return false;
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, at(e->x, x)}, {DNNL_ARG_WEIGHTS, at(e->filter, filter)}, {DNNL_ARG_DST, at(e->y, y)}};
    if (bias != nullptr) args[DNNL_ARG_BIAS] = at(memory::desc({s.out_channels}, dt::f32, tag::x), bias);
    ScopedTimer time(Timer::kConvForward);
    const bool exact =
        e->winograd && !(all_finite(x, false, elements(e->x)) && all_finite(filter, false, elements(e->filter)));
    dnnl::primitive* with_relu = fused_relu && !exact ? relu_variant(*e, s, bias != nullptr) : nullptr;
    dnnl::primitive& prim = with_relu != nullptr ? *with_relu : exact ? e->exact : e->prim;
    prim.execute(cpu_stream(), args);
    cpu_stream().wait();
    *relu_done = with_relu != nullptr;
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool conv_backward_data(const ConvShape& s, const void* dy, const void* filter, void* dx) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    Entry* e = entry(ConvPass::kBackwardData, s, false);
    if (e == nullptr) return false;
    if (e->multiplies_padding && !all_finite(filter, is_bf16(e->filter), elements(e->filter))) return false;
    std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, at(e->y, dy)},
                                            {DNNL_ARG_WEIGHTS, at(e->filter, filter)},
                                            {DNNL_ARG_DIFF_SRC, at(e->x, dx)}};
    ScopedTimer time(Timer::kConvBackwardData);
    const bool exact =
        e->winograd && !(all_finite(dy, false, elements(e->y)) && all_finite(filter, false, elements(e->filter)));
    (exact ? e->exact : e->prim).execute(cpu_stream(), args);
    cpu_stream().wait();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool conv_backward_weights(const ConvShape& s, const void* x, const void* dy, void* dfilter) {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    Entry* e = entry(ConvPass::kBackwardWeights, s, false);
    if (e == nullptr) return false;
    if (e->multiplies_padding && !all_finite(dy, is_bf16(e->y), elements(e->y))) return false;
    ScopedTimer time(Timer::kConvBackwardWeights);
    if (e->method == Method::kMatmul) {
      e->prim.execute(
          cpu_stream(),
          {{DNNL_ARG_SRC, at(e->a, x)}, {DNNL_ARG_WEIGHTS, at(e->b, dy)}, {DNNL_ARG_DST, at(e->c, dfilter)}});
    } else if (e->method == Method::kForwardConv) {
      memory x_view = at(e->x_view, x), dy_view = at(e->dy_view, dy), out = at(e->filter, dfilter);
      memory out_view(e->out_view, cpu_engine(), e->out_scratch.get_data_handle());
      e->x_in.execute(cpu_stream(), x_view, e->x_scratch);
      e->dy_in.execute(cpu_stream(), dy_view, e->dy_scratch);
      e->prim.execute(
          cpu_stream(),
          {{DNNL_ARG_SRC, e->x_scratch}, {DNNL_ARG_WEIGHTS, e->dy_scratch}, {DNNL_ARG_DST, e->out_scratch}});
      e->out.execute(cpu_stream(), out_view, out);
    } else {
      const bool exact =
          e->winograd && !(all_finite(x, false, elements(e->x)) && all_finite(dy, false, elements(e->y)));
      (exact ? e->exact : e->prim)
          .execute(cpu_stream(), {{DNNL_ARG_SRC, at(e->x, x)},
                                  {DNNL_ARG_DIFF_DST, at(e->y, dy)},
                                  {DNNL_ARG_DIFF_WEIGHTS, at(e->filter, dfilter)}});
    }
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
    const Geometry g = geometry(s, ConvLayouts::kBlocked, g_precision == Precision::kBf16 ? dt::bf16 : dt::f32);
    auto pd = forward_pd(g, true, g.y);
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
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_entries.clear();
  }
  clear_reorders();
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace nin
