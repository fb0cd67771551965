// N-API surface of nin_onednn. It trusts nothing from JS: before a kernel touches memory, every call checks
// its argument count, each argument's type, each buffer's length against the shape, and enum ranges, and
// throws a TypeError or RangeError naming the function and the argument. Outputs are written in place.
#include <omp.h>
#include <sys/mman.h>

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "nin_onednn.h"
#include "watchdog.h"

namespace {

// Limits that keep every index the kernels compute within int64 (elements) and int32 (pixels).
constexpr int64_t kMaxSize = int64_t{1} << 24;                         // any one size, stride, dilation or padding
constexpr int64_t kMaxElements = std::numeric_limits<int32_t>::max();  // any one buffer
constexpr int64_t kMaxThreads = 1 << 12;
constexpr int64_t kMaxToken = int64_t{1} << 53;  // exact in a JS number

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

// What a JS value is, for error messages: "undefined", "a string", "an Int32Array", "the number 1.5".
std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "the number " + number_text(v.As<Napi::Number>().DoubleValue());
    case napi_string: return "a string";
    case napi_function: return "a function";
    case napi_object: break;
    default:
      return "a " + std::string(v.Type() == napi_bigint ? "bigint" : v.Type() == napi_symbol ? "symbol" : "external");
  }
  if (v.IsArray()) return "an Array";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (!v.IsTypedArray()) return "an object";
  switch (v.As<Napi::TypedArray>().TypedArrayType()) {
    case napi_int8_array: return "an Int8Array";
    case napi_uint8_array: return "a Uint8Array";
    case napi_uint8_clamped_array: return "a Uint8ClampedArray";
    case napi_int16_array: return "an Int16Array";
    case napi_uint16_array: return "a Uint16Array";
    case napi_int32_array: return "an Int32Array";
    case napi_uint32_array: return "a Uint32Array";
    case napi_float32_array: return "a Float32Array";
    case napi_float64_array: return "a Float64Array";
    default: return "a typed array";
  }
}

template <size_t N>
std::string joined(const char* const (&names)[N]) {
  std::string text;
  for (size_t i = 0; i < N; ++i) text += (i > 0 ? ", " : "") + std::to_string(i) + " " + names[i];
  return text;
}

// The arguments of one call, read and checked one at a time. Buffers are remembered as they are read, so an
// output that shares memory with any other buffer is rejected (inputs may share memory with each other).
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* function, size_t count) : info_(info), function_(function) {
    if (info.Length() != count) {
      type_error("expected " + std::to_string(count) + " argument" + (count == 1 ? "" : "s") + ", got " +
                 std::to_string(info.Length()));
    }
  }

  Napi::Env env() const { return info_.Env(); }
  const Napi::CallbackInfo& info() const { return info_; }

  [[noreturn]] void type_error(const std::string& message) const {
    throw Napi::TypeError::New(info_.Env(), function_ + ": " + message);
  }

  [[noreturn]] void range_error(const std::string& message) const {
    throw Napi::RangeError::New(info_.Env(), function_ + ": " + message);
  }

  // An integer in [min, max] given as a JS number.
  int64_t integer(const Napi::Value& v, const std::string& name, int64_t min, int64_t max) const {
    if (!v.IsNumber()) type_error(name + " must be a number, got " + describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != std::floor(d)) {
      range_error(name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                  number_text(d));
    }
    return static_cast<int64_t>(d);
  }

  int64_t integer(size_t i, const std::string& name, int64_t min, int64_t max) const {
    return integer(info_[i], name, min, max);
  }

  // One of an enum's values; `names` is its table in nin_onednn.h, which the addon also exports to JS.
  template <typename Enum, size_t N>
  Enum enumeration(size_t i, const std::string& name, const char* const (&names)[N]) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) type_error(name + " must be a number, got " + describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < static_cast<double>(N)) || d != std::floor(d)) {
      range_error(name + " must be one of " + joined(names) + ", got " + number_text(d));
    }
    return static_cast<Enum>(static_cast<int>(d));
  }

  float number(size_t i, const std::string& name) const {
    if (!info_[i].IsNumber()) type_error(name + " must be a number, got " + describe(info_[i]));
    return info_[i].As<Napi::Number>().FloatValue();
  }

  bool boolean(size_t i, const std::string& name) const {
    if (!info_[i].IsBoolean()) type_error(name + " must be a boolean, got " + describe(info_[i]));
    return info_[i].As<Napi::Boolean>().Value();
  }

  // A Float32Array of exactly `length` elements; `why` names the shape fields that give that length.
  const float* input(size_t i, const std::string& name, int64_t length, const std::string& why) {
    return checked(i, name, length, why, false);
  }

  float* output(size_t i, const std::string& name, int64_t length, const std::string& why) {
    return checked(i, name, length, why, true);
  }

  // A Float32Array of any length (up to kMaxElements), which then sets the lengths of the others.
  const float* input(size_t i, const std::string& name, int64_t* length) { return sized(i, name, length, false); }

  float* output(size_t i, const std::string& name, int64_t* length) { return sized(i, name, length, true); }

  // A Float32Array or a Uint16Array (bfloat16 values) of any length; `bf16` says which.
  void* buffer(size_t i, const std::string& name, bool written, int64_t* bytes, bool* bf16) {
    const Napi::Value v = info_[i];
    const bool typed = v.IsTypedArray();
    const napi_typedarray_type type = typed ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    if (!typed || (type != napi_float32_array && type != napi_uint16_array)) {
      type_error(name + " must be a Float32Array or a Uint16Array (bfloat16), got " + describe(v));
    }
    Napi::TypedArray array = v.As<Napi::TypedArray>();
    if (static_cast<int64_t>(array.ElementLength()) > kMaxElements) {
      range_error(name + " must have at most " + std::to_string(kMaxElements) + " elements, got " +
                  std::to_string(array.ElementLength()));
    }
    *bytes = static_cast<int64_t>(array.ByteLength());
    *bf16 = type == napi_uint16_array;
    char* data = static_cast<char*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    return remember(name, data, *bytes, written);
  }

  // A layout id (argument i) that exists, and its description.
  int layout(size_t i, const std::string& name, nin::LayoutInfo* info) const {
    const int id = static_cast<int>(integer(i, name, 1, std::numeric_limits<int32_t>::max()));
    if (!nin::layout_info(id, info)) range_error(name + " " + std::to_string(id) + " names no layout");
    return id;
  }

  // The buffer at argument i + 1 of a tensor in the layout named at argument i, which must be `expected` (what the
  // kernel reads or writes; 0: any layout whose dims are `dims`): the buffer's type and size are the layout's.
  void* tensor(size_t i, const std::string& name, int expected, bool written, nin::LayoutInfo* info) {
    const int id = layout(i, name + "Layout", info);
    if (expected != 0 && id != expected) {
      range_error(name + "Layout must be " + std::to_string(expected) + " (the layout this kernel " +
                  (written ? "writes" : "reads") + "), got " + std::to_string(id));
    }
    int64_t bytes = 0;
    bool bf16 = false;
    void* data = buffer(i + 1, name, written, &bytes, &bf16);
    if (bf16 != info->bf16) {
      type_error(name + " must be a " + (info->bf16 ? "Uint16Array (layout " : "Float32Array (layout ") +
                 std::to_string(id) + " holds " + (info->bf16 ? "bfloat16)" : "float32)") + ", got " +
                 describe(info_[i + 1]));
    }
    if (bytes != info->bytes) {
      range_error(name + " must have " + std::to_string(info->bytes) + " bytes (layout " + std::to_string(id) +
                  "), got " + std::to_string(bytes));
    }
    return data;
  }

  // A Uint8Array of exactly `length` bytes.
  uint8_t* bytes(size_t i, const std::string& name, int64_t length, const std::string& why, bool written) {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      type_error(name + " must be a Uint8Array, got " + describe(v));
    }
    Napi::Uint8Array array = v.As<Napi::Uint8Array>();
    if (static_cast<int64_t>(array.ElementLength()) != length) {
      range_error(name + " must have " + std::to_string(length) + " bytes (" + why + "), got " +
                  std::to_string(array.ElementLength()));
    }
    return static_cast<uint8_t*>(remember(name, array.Data(), length, written));
  }

  bool is_null(size_t i) const { return info_[i].IsNull(); }

  // A shape object with exactly these fields, each an integer from `min` to kMaxSize.
  Napi::Object shape(size_t i, size_t field_count) {
    const Napi::Value v = info_[i];
    if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) {
      type_error("shape must be an object of " + std::to_string(field_count) + " named sizes, got " + describe(v));
    }
    shape_fields_ = field_count;
    return v.As<Napi::Object>();
  }

  int field(const Napi::Object& shape, const char* key, int64_t min) const {
    return static_cast<int>(integer(shape.Get(key), std::string("shape.") + key, min, kMaxSize));
  }

  // After reading every field: unknown extra fields (a misspelt name) are an error too.
  void no_other_fields(const Napi::Object& shape) const {
    const uint32_t count = shape.GetPropertyNames().Length();
    if (count != shape_fields_) {
      type_error("shape must have exactly " + std::to_string(shape_fields_) + " fields, got " + std::to_string(count));
    }
  }

  // The product of sizes that gives a buffer's length, checked against kMaxElements before each multiply.
  int64_t elements(const std::string& name, std::initializer_list<int64_t> sizes) const {
    int64_t product = 1;
    for (int64_t size : sizes) {
      if (size < 0 || (size > 0 && product > kMaxElements / size)) {
        range_error("the shape gives " + name + " more than " + std::to_string(kMaxElements) + " elements");
      }
      product *= size;
    }
    return product;
  }

 private:
  struct Span {
    std::string name;
    const char* begin;
    const char* end;
    bool written;
  };

  float* checked(size_t i, const std::string& name, int64_t length, const std::string& why, bool written) {
    Napi::Float32Array array = float32_array(i, name);
    if (static_cast<int64_t>(array.ElementLength()) != length) {
      range_error(name + " must have " + std::to_string(length) + " elements (" + why + "), got " +
                  std::to_string(array.ElementLength()));
    }
    return remember(name, array, written);
  }

  float* sized(size_t i, const std::string& name, int64_t* length, bool written) {
    Napi::Float32Array array = float32_array(i, name);
    if (static_cast<int64_t>(array.ElementLength()) > kMaxElements) {
      range_error(name + " must have at most " + std::to_string(kMaxElements) + " elements, got " +
                  std::to_string(array.ElementLength()));
    }
    *length = static_cast<int64_t>(array.ElementLength());
    return remember(name, array, written);
  }

  Napi::Float32Array float32_array(size_t i, const std::string& name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      type_error(name + " must be a Float32Array, got " + describe(v));
    }
    return v.As<Napi::Float32Array>();
  }

  float* remember(const std::string& name, Napi::Float32Array array, bool written) {
    return static_cast<float*>(remember(name, array.Data(), static_cast<int64_t>(array.ByteLength()), written));
  }

  void* remember(const std::string& name, void* data, int64_t bytes, bool written) {
    const char* begin = static_cast<const char*>(data);
    const Span span{name, begin, begin + bytes, written};
    for (const Span& other : spans_) {
      const bool overlap = span.begin < other.end && other.begin < span.end;
      if (overlap && (written || other.written)) range_error(name + " must not share memory with " + other.name);
    }
    spans_.push_back(span);
    return data;
  }

  const Napi::CallbackInfo& info_;
  std::string function_;
  std::vector<Span> spans_;
  size_t shape_fields_ = 0;
};

// Shapes are objects with TF.js's names (computeConv2DInfo's, padding flattened), read field by field.
nin::ConvShape conv_shape(Args& args, size_t i) {
  const Napi::Object o = args.shape(i, 17);
  nin::ConvShape s;
  s.batch = args.field(o, "batch", 1);
  s.in_height = args.field(o, "inHeight", 1);
  s.in_width = args.field(o, "inWidth", 1);
  s.in_channels = args.field(o, "inChannels", 1);
  s.filter_height = args.field(o, "filterHeight", 1);
  s.filter_width = args.field(o, "filterWidth", 1);
  s.out_channels = args.field(o, "outChannels", 1);
  s.out_height = args.field(o, "outHeight", 1);
  s.out_width = args.field(o, "outWidth", 1);
  s.stride_height = args.field(o, "strideHeight", 1);
  s.stride_width = args.field(o, "strideWidth", 1);
  s.dilation_height = args.field(o, "dilationHeight", 1);
  s.dilation_width = args.field(o, "dilationWidth", 1);
  s.pad_top = args.field(o, "padTop", 0);
  s.pad_bottom = args.field(o, "padBottom", 0);
  s.pad_left = args.field(o, "padLeft", 0);
  s.pad_right = args.field(o, "padRight", 0);
  args.no_other_fields(o);
  return s;
}

nin::PoolShape pool_shape(Args& args, size_t i) {
  const Napi::Object o = args.shape(i, 12);
  nin::PoolShape s;
  s.batch = args.field(o, "batch", 1);
  s.in_height = args.field(o, "inHeight", 1);
  s.in_width = args.field(o, "inWidth", 1);
  s.channels = args.field(o, "channels", 1);
  s.filter_height = args.field(o, "filterHeight", 1);
  s.filter_width = args.field(o, "filterWidth", 1);
  s.out_height = args.field(o, "outHeight", 1);
  s.out_width = args.field(o, "outWidth", 1);
  s.stride_height = args.field(o, "strideHeight", 1);
  s.stride_width = args.field(o, "strideWidth", 1);
  s.pad_top = args.field(o, "padTop", 0);
  s.pad_left = args.field(o, "padLeft", 0);
  args.no_other_fields(o);
  return s;
}

// The element counts a shape gives its tensors must fit in a buffer (each checked before it can overflow).
void check_conv_sizes(const Args& args, const nin::ConvShape& s) {
  args.elements("x", {s.batch, s.in_height, s.in_width, s.in_channels});
  args.elements("filter", {s.filter_height, s.filter_width, s.in_channels, s.out_channels});
  args.elements("y", {s.batch, s.out_height, s.out_width, s.out_channels});
}
const char* const kConvBias = "outChannels";

void check_pool_sizes(const Args& args, const nin::PoolShape& s) {
  args.elements("x", {s.batch, s.in_height, s.in_width, s.channels});
  args.elements("y", {s.batch, s.out_height, s.out_width, s.channels});
}

// dims: an Array of 1 to 4 sizes, each an integer from 1 to 2^24, whose product is at most 2^31 - 1.
std::vector<int64_t> dims_array(const Args& args, size_t i, const std::string& name, size_t count) {
  const Napi::Value v = args.info()[i];
  if (!v.IsArray())
    args.type_error(name + " must be an Array of " + std::to_string(count) + " sizes, got " + describe(v));
  const Napi::Array array = v.As<Napi::Array>();
  if (array.Length() != count) {
    args.range_error(name + " must have " + std::to_string(count) + " sizes, got " + std::to_string(array.Length()));
  }
  std::vector<int64_t> dims;
  for (uint32_t k = 0; k < count; ++k) {
    dims.push_back(args.integer(array.Get(k), name + "[" + std::to_string(k) + "]", 1, kMaxSize));
  }
  int64_t product = 1;
  for (int64_t d : dims) {
    if (product > kMaxElements / d)
      args.range_error(name + " gives more than " + std::to_string(kMaxElements) + " elements");
    product *= d;
  }
  return dims;
}

Napi::Object layout_object(Napi::Env env, const nin::LayoutInfo& info) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("bytes", static_cast<double>(info.bytes));
  object.Set("bf16", info.bf16);
  object.Set("role", static_cast<int>(info.role));
  object.Set("plain", info.plain);
  object.Set("f32", info.f32);
  object.Set("block", info.block);
  Napi::Array dims = Napi::Array::New(env, info.dims.size());
  for (size_t k = 0; k < info.dims.size(); ++k) dims.Set(static_cast<uint32_t>(k), static_cast<double>(info.dims[k]));
  object.Set("dims", dims);
  return object;
}

// layout(id) -> {bytes, bf16, role, plain, f32, block, dims}: see nin::LayoutInfo.
Napi::Value Layout(const Napi::CallbackInfo& info) {
  Args args(info, "layout", 1);
  nin::LayoutInfo layout;
  args.layout(0, "id", &layout);
  return layout_object(info.Env(), layout);
}

// plainLayout(role, dims) -> the id of TF.js's own layout of a tensor of these dims (N, C, H, W for activations,
// O, I, H, W for weights: 4; C for vectors: 1).
Napi::Value PlainLayout(const Napi::CallbackInfo& info) {
  Args args(info, "plainLayout", 2);
  const auto role = args.enumeration<nin::LayoutRole>(0, "role", nin::kLayoutRoleNames);
  const auto dims = dims_array(args, 1, "dims", role == nin::LayoutRole::kVector ? 1 : 4);
  return Napi::Number::New(info.Env(), nin::plain_layout(role, dims));
}

// layoutLike(id, dims, bf16) -> the id of a layout arranged as `id` with these dims (4) and element type, 0 when
// `id` is not an arrangement the pooling loops walk (see nin::LayoutInfo::block).
Napi::Value LayoutLike(const Napi::CallbackInfo& info) {
  Args args(info, "layoutLike", 3);
  nin::LayoutInfo layout;
  const int id = args.layout(0, "id", &layout);
  const auto dims = dims_array(args, 1, "dims", 4);
  return Napi::Number::New(info.Env(), nin::layout_like(id, dims, args.boolean(2, "bf16")));
}

// A reorder's two layouts must hold one tensor (one plain twin): its elements, only arranged otherwise.
void require_same_tensor(const Args& args, const nin::LayoutInfo& from_info, const nin::LayoutInfo& to_info) {
  if (from_info.plain != to_info.plain) {
    args.range_error("fromLayout and toLayout must hold the same tensor (plain layouts " +
                     std::to_string(from_info.plain) + " and " + std::to_string(to_info.plain) + ")");
  }
}

// reorder(fromLayout, from, toLayout, to): one tensor from one layout into another.
Napi::Value Reorder(const Napi::CallbackInfo& info) {
  Args args(info, "reorder", 4);
  nin::LayoutInfo from_info, to_info;
  const void* from = args.tensor(0, "from", 0, false, &from_info);
  void* to = args.tensor(2, "to", 0, true, &to_info);
  require_same_tensor(args, from_info, to_info);
  nin::reorder(args.integer(0, "fromLayout", 1, std::numeric_limits<int32_t>::max()), from,
               args.integer(2, "toLayout", 1, std::numeric_limits<int32_t>::max()), to);
  return info.Env().Undefined();
}

// reorderIsReference(fromLayout, toLayout) -> whether oneDNN has only its reference (slow) code for this reorder.
Napi::Value ReorderIsReference(const Napi::CallbackInfo& info) {
  Args args(info, "reorderIsReference", 2);
  nin::LayoutInfo from_info, to_info;
  const int from = args.layout(0, "fromLayout", &from_info);
  const int to = args.layout(1, "toLayout", &to_info);
  require_same_tensor(args, from_info, to_info);
  return Napi::Boolean::New(info.Env(), nin::reorder_is_reference(from, to));
}

// convPorts(pass, shape, bias) -> {x, filter, y}: the layouts of a convolution pass (see nin::ConvPorts), or null
// when oneDNN rejects the shape.
Napi::Value ConvPorts(const Napi::CallbackInfo& info) {
  Args args(info, "convPorts", 3);
  const auto pass = args.enumeration<nin::ConvPass>(0, "pass", nin::kConvPassNames);
  const nin::ConvShape s = conv_shape(args, 1);
  check_conv_sizes(args, s);
  const bool bias = args.boolean(2, "bias");
  nin::ConvPorts ports;
  if (!nin::conv_ports(pass, s, bias, &ports)) return info.Env().Null();
  Napi::Object object = Napi::Object::New(info.Env());
  object.Set("x", ports.x);
  object.Set("filter", ports.filter);
  object.Set("y", ports.y);
  return object;
}

// The ports of a pass the caller has asked for with convPorts (a shape oneDNN rejects has none).
nin::ConvPorts ports_of(const Args& args, nin::ConvPass pass, const nin::ConvShape& s, bool bias) {
  nin::ConvPorts ports;
  if (!nin::conv_ports(pass, s, bias, &ports))
    args.range_error("oneDNN has no convolution of this shape (convPorts is null)");
  return ports;
}

// conv2d(shape, xLayout, x, filterLayout, filter, bias | null, fusedRelu, yLayout, y) -> null when the call must go
// to TF.js, else whether ReLU was applied (fusedRelu asks for oneDNN's post-op: see nin::conv_forward); each tensor
// in the layout convPorts(forward) names.
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d", 9);
  const nin::ConvShape s = conv_shape(args, 0);
  check_conv_sizes(args, s);
  const bool has_bias = !args.is_null(5);
  const nin::ConvPorts ports = ports_of(args, nin::ConvPass::kForward, s, has_bias);
  nin::LayoutInfo layout;
  const void* x = args.tensor(1, "x", ports.x, false, &layout);
  const void* filter = args.tensor(3, "filter", ports.filter, false, &layout);
  const float* bias = has_bias ? args.input(5, "bias", s.out_channels, kConvBias) : nullptr;
  const bool fused_relu = args.boolean(6, "fusedRelu");
  void* y = args.tensor(7, "y", ports.y, true, &layout);
  bool relu_done = false;
  if (!nin::conv_forward(s, x, filter, bias, fused_relu, y, &relu_done)) return info.Env().Null();
  return Napi::Boolean::New(info.Env(), relu_done);
}

// conv2dBackpropInput(shape, dyLayout, dy, filterLayout, filter, dxLayout, dx) -> false when the call must go to
// TF.js; each tensor in the layout convPorts(backwardData) names.
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackpropInput", 7);
  const nin::ConvShape s = conv_shape(args, 0);
  check_conv_sizes(args, s);
  const nin::ConvPorts ports = ports_of(args, nin::ConvPass::kBackwardData, s, false);
  nin::LayoutInfo layout;
  const void* dy = args.tensor(1, "dy", ports.y, false, &layout);
  const void* filter = args.tensor(3, "filter", ports.filter, false, &layout);
  void* dx = args.tensor(5, "dx", ports.x, true, &layout);
  return Napi::Boolean::New(info.Env(), nin::conv_backward_data(s, dy, filter, dx));
}

// conv2dBackpropFilter(shape, xLayout, x, dyLayout, dy, dfilterLayout, dfilter) -> false when the call must go to
// TF.js; each tensor in the layout convPorts(backwardWeights) names. (The bias gradient: reluGradBias.)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackpropFilter", 7);
  const nin::ConvShape s = conv_shape(args, 0);
  check_conv_sizes(args, s);
  const nin::ConvPorts ports = ports_of(args, nin::ConvPass::kBackwardWeights, s, false);
  nin::LayoutInfo layout;
  const void* x = args.tensor(1, "x", ports.x, false, &layout);
  const void* dy = args.tensor(3, "dy", ports.y, false, &layout);
  void* dfilter = args.tensor(5, "dfilter", ports.filter, true, &layout);
  return Napi::Boolean::New(info.Env(), nin::conv_backward_weights(s, x, dy, dfilter));
}

// benchmarkConv(shape, repetitions) -> {seconds, cpuSeconds, implementation}, or null when oneDNN rejects the shape:
// see nin::benchmark_conv_forward.
Napi::Value BenchmarkConv(const Napi::CallbackInfo& info) {
  Args args(info, "benchmarkConv", 2);
  const nin::ConvShape s = conv_shape(args, 0);
  check_conv_sizes(args, s);  // the same limits as a real call
  const int repetitions = static_cast<int>(args.integer(1, "repetitions", 1, 1000));
  nin::ConvBenchmark result;
  if (!nin::benchmark_conv_forward(s, repetitions, &result)) return info.Env().Null();
  Napi::Object object = Napi::Object::New(info.Env());
  object.Set("seconds", result.seconds);
  object.Set("cpuSeconds", result.cpu_seconds);
  object.Set("implementation", result.implementation);
  return object;
}

// Pooling's tensors: x (or dx) in a layout the loops walk, with the shape's input dims; the others arranged alike
// (pool_layout). Returns the channels per plane of x's layout.
int pool_block(const Args& args, const std::string& name, const nin::LayoutInfo& layout, const nin::PoolShape& s,
               bool out) {
  const std::vector<int64_t> expected = {s.batch, s.channels, out ? s.out_height : s.in_height,
                                         out ? s.out_width : s.in_width};
  if (layout.dims != expected || layout.role != nin::LayoutRole::kActivation) {
    args.range_error(name + "Layout must hold a " + std::to_string(expected[0]) + "x" + std::to_string(expected[1]) +
                     "x" + std::to_string(expected[2]) + "x" + std::to_string(expected[3]) +
                     " activation (N, C, H, W) for this shape");
  }
  if (layout.block == 0) args.range_error(name + "Layout must be nhwc, nchw, nChw8c or nChw16c");
  return layout.block;
}

// The layout arranged as `base` with the shape's out (or in) dims and the element type; 0 when none.
int pool_layout(int base, const nin::PoolShape& s, bool out, bool bf16) {
  return nin::layout_like(base, {s.batch, s.channels, out ? s.out_height : s.in_height, out ? s.out_width : s.in_width},
                          bf16);
}

// The record of where each window's maximum lies (see nin::max_pool): null, or a Uint8Array of one byte per element
// of the pooled output's layout; windows of at most 255 pixels.
uint8_t* maxima_record(Args& args, size_t i, const nin::PoolShape& s, const nin::LayoutInfo& y_layout, bool written) {
  if (args.is_null(i)) return nullptr;
  if ((int64_t)s.filter_height * s.filter_width > 255)
    args.range_error("where must be null for windows over 255 pixels");
  const int64_t elements = y_layout.bytes / (y_layout.bf16 ? 2 : 4);
  return args.bytes(i, "where", elements, "one per element of the pooled output", written);
}

// maxPool(shape, xLayout, x, yLayout, y, where | null): y arranged as x with the out dims, of x's element type.
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool", 6);
  const nin::PoolShape s = pool_shape(args, 0);
  check_pool_sizes(args, s);
  nin::LayoutInfo x_layout, y_layout;
  const int x_id = args.layout(1, "xLayout", &x_layout);
  const int block = pool_block(args, "x", x_layout, s, false);
  const void* x = args.tensor(1, "x", x_id, false, &x_layout);
  void* y = args.tensor(3, "y", pool_layout(x_id, s, true, x_layout.bf16), true, &y_layout);
  uint8_t* where = maxima_record(args, 5, s, y_layout, true);
  nin::max_pool(s, block, x, x_layout.bf16, y, where);
  return info.Env().Undefined();
}

// avgPool(shape, xLayout, x, yLayout, y): y arranged as x with the out dims, float32.
Napi::Value AvgPool(const Napi::CallbackInfo& info) {
  Args args(info, "avgPool", 5);
  const nin::PoolShape s = pool_shape(args, 0);
  check_pool_sizes(args, s);
  nin::LayoutInfo x_layout, y_layout;
  const int x_id = args.layout(1, "xLayout", &x_layout);
  const int block = pool_block(args, "x", x_layout, s, false);
  const void* x = args.tensor(1, "x", x_id, false, &x_layout);
  void* y = args.tensor(3, "y", pool_layout(x_id, s, true, false), true, &y_layout);
  nin::avg_pool(s, block, x, x_layout.bf16, static_cast<float*>(y));
  return info.Env().Undefined();
}

// maxPoolGrad(shape, dyLayout, dy, xLayout, x, dxLayout, dx, where | null): dy arranged as x with the out dims
// (either element type), dx as x in float32; where: maxPool's record for this x (then x is not read again, and dx
// has dy's element type).
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  Args args(info, "maxPoolGrad", 8);
  const nin::PoolShape s = pool_shape(args, 0);
  check_pool_sizes(args, s);
  nin::LayoutInfo dy_layout, x_layout, dx_layout;
  const int x_id = args.layout(3, "xLayout", &x_layout);
  const int block = pool_block(args, "x", x_layout, s, false);
  args.layout(1, "dyLayout", &dy_layout);
  const void* dy = args.tensor(1, "dy", pool_layout(x_id, s, true, dy_layout.bf16), false, &dy_layout);
  const void* x = args.tensor(3, "x", x_id, false, &x_layout);
  const uint8_t* where = maxima_record(args, 7, s, dy_layout, false);
  void* dx = args.tensor(5, "dx", pool_layout(x_id, s, false, where != nullptr && dy_layout.bf16), true, &dx_layout);
  nin::max_pool_grad(s, block, dy, dy_layout.bf16, x, x_layout.bf16, where, dx);
  return info.Env().Undefined();
}

// avgPoolGrad(shape, dyLayout, dy, dxLayout, dx): dx float32 in a layout the loops walk, dy arranged alike with
// the out dims (either element type).
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  Args args(info, "avgPoolGrad", 5);
  const nin::PoolShape s = pool_shape(args, 0);
  check_pool_sizes(args, s);
  nin::LayoutInfo dy_layout, dx_layout;
  const int dx_id = args.layout(3, "dxLayout", &dx_layout);
  const int block = pool_block(args, "dx", dx_layout, s, false);
  if (dx_layout.bf16) args.range_error("dxLayout must hold float32");
  args.layout(1, "dyLayout", &dy_layout);
  const void* dy = args.tensor(1, "dy", pool_layout(dx_id, s, true, dy_layout.bf16), false, &dy_layout);
  void* dx = args.tensor(3, "dx", dx_id, true, &dx_layout);
  nin::avg_pool_grad(s, block, dy, dy_layout.bf16, static_cast<float*>(dx));
  return info.Env().Undefined();
}

// reluGradBias(yLayout, y, dyLayout, dy, out, dbias): out = dy * step(y) in y's layout, dbias the sum of out per
// channel (see nin::relu_grad_bias); y an activation in a layout the loops walk, dy arranged alike (either type).
Napi::Value ReluGradBias(const Napi::CallbackInfo& info) {
  Args args(info, "reluGradBias", 6);
  nin::LayoutInfo y_layout, dy_layout, out_layout;
  const int y_id = args.layout(0, "yLayout", &y_layout);
  if (y_layout.role != nin::LayoutRole::kActivation || y_layout.dims.size() != 4 || y_layout.block == 0) {
    args.range_error("yLayout must be an activation in nhwc, nchw, nChw8c or nChw16c");
  }
  const void* y = args.tensor(0, "y", y_id, false, &y_layout);
  const int dy_id = args.layout(2, "dyLayout", &dy_layout);
  if (dy_layout.f32 != y_layout.f32) {
    args.range_error("dyLayout (" + std::to_string(dy_id) + ") must be arranged as yLayout (" + std::to_string(y_id) +
                     ")");
  }
  const void* dy = args.tensor(2, "dy", dy_id, false, &dy_layout);
  int64_t out_bytes = 0;
  bool out_bf16 = false;
  void* out = args.buffer(4, "out", true, &out_bytes, &out_bf16);
  if (out_bf16 != y_layout.bf16 || out_bytes != y_layout.bytes) {
    args.range_error("out must be a " + std::string(y_layout.bf16 ? "Uint16Array" : "Float32Array") + " of " +
                     std::to_string(y_layout.bytes) + " bytes (yLayout's)");
  }
  const int64_t channels = y_layout.dims[1];
  float* dbias = args.output(5, "dbias", channels, "yLayout's channels");
  const nin::ChannelPlanes planes{y_layout.dims[0], channels, y_layout.dims[2] * y_layout.dims[3], y_layout.block};
  nin::relu_grad_bias(planes, dy, dy_layout.bf16, y, y_layout.bf16, out, dbias);
  return info.Env().Undefined();
}

// reluInPlace(y) -> the largest value ReLU leaves in y (NaN when y holds a NaN); y a Float32Array or a Uint16Array.
Napi::Value ReluInPlace(const Napi::CallbackInfo& info) {
  Args args(info, "reluInPlace", 1);
  int64_t bytes = 0;
  bool bf16 = false;
  void* y = args.buffer(0, "y", true, &bytes, &bf16);
  return Napi::Number::New(info.Env(), nin::relu_in_place(y, bf16, bytes / (bf16 ? 2 : 4)));
}

// absSum(x) -> the sum of |v| over x (a Float32Array or a Uint16Array), in double: NaN or infinity when x holds one.
Napi::Value AbsSum(const Napi::CallbackInfo& info) {
  Args args(info, "absSum", 1);
  int64_t bytes = 0;
  bool bf16 = false;
  const void* x = args.buffer(0, "x", false, &bytes, &bf16);
  return Napi::Number::New(info.Env(), nin::abs_sum(x, bf16, bytes / (bf16 ? 2 : 4)));
}

// multiply(a, b, out): a * b; three buffers of one element count in one arrangement, each a Float32Array or a
// Uint16Array (bfloat16).
Napi::Value Multiply(const Napi::CallbackInfo& info) {
  Args args(info, "multiply", 3);
  int64_t a_bytes = 0, b_bytes = 0, out_bytes = 0;
  bool a_bf16 = false, b_bf16 = false, out_bf16 = false;
  const void* a = args.buffer(0, "a", false, &a_bytes, &a_bf16);
  const void* b = args.buffer(1, "b", false, &b_bytes, &b_bf16);
  void* out = args.buffer(2, "out", true, &out_bytes, &out_bf16);
  const int64_t size = a_bytes / (a_bf16 ? 2 : 4);
  if (b_bytes / (b_bf16 ? 2 : 4) != size) args.range_error("b must have " + std::to_string(size) + " elements (a's)");
  if (out_bytes / (out_bf16 ? 2 : 4) != size)
    args.range_error("out must have " + std::to_string(size) + " elements (a's)");
  nin::multiply(a, a_bf16, b, b_bf16, out, out_bf16, size);
  return info.Env().Undefined();
}

// dropoutMask(s0, s1, s2, c, keep, mask): see nin::dropout_mask; s0-s2 in [0, 1), c a whole number in [0, 2^31),
// keep a float32 value in (0, 1).
Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
  Args args(info, "dropoutMask", 6);
  double state[4];
  const char* names[] = {"s0", "s1", "s2", "c"};
  for (size_t i = 0; i < 4; ++i) {
    if (!info[i].IsNumber()) args.type_error(std::string(names[i]) + " must be a number, got " + describe(info[i]));
    state[i] = info[i].As<Napi::Number>().DoubleValue();
    const bool ok = i < 3 ? state[i] >= 0 && state[i] < 1
                          : state[i] >= 0 && state[i] < 2147483648.0 && state[i] == std::floor(state[i]);
    if (!ok)
      args.range_error(std::string(names[i]) + (i < 3 ? " must be in [0, 1)" : " must be a whole number in [0, 2^31)") +
                       ", got " + number_text(state[i]));
  }
  // keep must be a float32 value (1 - rate as TF.js rounds it): a double that is not one is rejected, not rounded.
  if (!info[4].IsNumber()) args.type_error("keep must be a number, got " + describe(info[4]));
  const double keep = info[4].As<Napi::Number>().DoubleValue();
  if (!(keep > 0 && keep < 1) || static_cast<double>(static_cast<float>(keep)) != keep) {
    args.range_error("keep must be a float32 value in (0, 1), got " + number_text(keep));
  }
  int64_t size = 0;
  float* mask = args.output(5, "mask", &size);
  nin::dropout_mask({state[0], state[1], state[2], state[3]}, static_cast<float>(keep), mask, size);
  return info.Env().Undefined();
}

// reluGrad(dy, y, out): dy * step(y); three buffers of one element count in one arrangement, each a Float32Array
// or a Uint16Array (bfloat16).
Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  Args args(info, "reluGrad", 3);
  int64_t dy_bytes = 0, y_bytes = 0, out_bytes = 0;
  bool dy_bf16 = false, y_bf16 = false, out_bf16 = false;
  const void* dy = args.buffer(0, "dy", false, &dy_bytes, &dy_bf16);
  const void* y = args.buffer(1, "y", false, &y_bytes, &y_bf16);
  void* out = args.buffer(2, "out", true, &out_bytes, &out_bf16);
  const int64_t size = dy_bytes / (dy_bf16 ? 2 : 4);
  if (y_bytes / (y_bf16 ? 2 : 4) != size) args.range_error("y must have " + std::to_string(size) + " elements (dy's)");
  if (out_bytes / (out_bf16 ? 2 : 4) != size) {
    args.range_error("out must have " + std::to_string(size) + " elements (dy's)");
  }
  nin::relu_grad(dy, dy_bf16, y, y_bf16, out, out_bf16, size);
  return info.Env().Undefined();
}

// unary(op, x, y, alpha): y has x's length.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 4);
  const auto op = args.enumeration<nin::UnaryOp>(0, "op", nin::kUnaryOpNames);
  int64_t size = 0;
  const float* x = args.input(1, "x", &size);
  float* y = args.output(2, "y", size, "x's length");
  nin::unary(op, x, y, size, args.number(3, "alpha"));
  return info.Env().Undefined();
}

// binary(op, broadcast, a, b, out, inner): out's length sets the others' (see nin::Broadcast).
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 6);
  const auto op = args.enumeration<nin::BinaryOp>(0, "op", nin::kBinaryOpNames);
  const auto mode = args.enumeration<nin::Broadcast>(1, "broadcast", nin::kBroadcastNames);
  int64_t size = 0;
  float* out = args.output(4, "out", &size);
  const bool row = mode == nin::Broadcast::kRowA || mode == nin::Broadcast::kRowB;
  const int64_t inner = args.integer(5, "inner", row ? 1 : 0, kMaxElements);
  if (row && size % inner != 0) {
    args.range_error("inner (" + std::to_string(inner) + ") must divide out's length (" + std::to_string(size) + ")");
  }
  int64_t a_length = size, b_length = size;
  if (mode == nin::Broadcast::kScalarA) a_length = 1;
  if (mode == nin::Broadcast::kScalarB) b_length = 1;
  if (mode == nin::Broadcast::kRowA) a_length = inner;
  if (mode == nin::Broadcast::kRowB) b_length = inner;
  const std::string broadcast = std::string(" for broadcast ") + nin::kBroadcastNames[static_cast<int>(mode)];
  const auto why = [&](int64_t length) {
    if (length == size) return "out's length" + broadcast;
    return (length == 1 ? "one scalar" : "inner") + broadcast;
  };
  const float* a = args.input(2, "a", a_length, why(a_length));
  const float* b = args.input(3, "b", b_length, why(b_length));
  nin::binary(op, mode, a, b, out, size, inner);
  return info.Env().Undefined();
}

// sgdUpdate(w, g, acc | null, wOut, accOut | null, negLr, momentum, nesterov, decay): w's length sets the others';
// acc and accOut both null for plain SGD (see nin::sgd_update).
Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
  Args args(info, "sgdUpdate", 9);
  int64_t size = 0;
  const float* w = args.input(0, "w", &size);
  const float* g = args.input(1, "g", size, "w's length");
  const bool momentum = !args.is_null(2);
  if (momentum == args.is_null(4)) {
    args.type_error("acc and accOut must both be Float32Arrays (momentum) or both null (plain SGD)");
  }
  const float* acc = momentum ? args.input(2, "acc", size, "w's length") : nullptr;
  float* w_out = args.output(3, "wOut", size, "w's length");
  float* acc_out = momentum ? args.output(4, "accOut", size, "w's length") : nullptr;
  const nin::SgdStep step{args.number(5, "negLr"), args.number(6, "momentum"), args.boolean(7, "nesterov"),
                          args.number(8, "decay")};
  nin::sgd_update(step, w, g, acc, w_out, acc_out, size);
  return info.Env().Undefined();
}

// sumLeading(x, out, outer, inner): x is [outer, inner], out has inner values.
Napi::Value SumLeading(const Napi::CallbackInfo& info) {
  Args args(info, "sumLeading", 4);
  const int64_t outer = args.integer(2, "outer", 0, kMaxElements);
  const int64_t inner = args.integer(3, "inner", 0, kMaxElements);
  const float* x = args.input(0, "x", args.elements("x", {outer, inner}), "outer*inner");
  nin::sum_leading(x, args.output(1, "out", inner, "inner"), outer, inner);
  return info.Env().Undefined();
}

// sumTrailing(x, out, outer, inner): x is [outer, inner], out has outer values.
Napi::Value SumTrailing(const Napi::CallbackInfo& info) {
  Args args(info, "sumTrailing", 4);
  const int64_t outer = args.integer(2, "outer", 0, kMaxElements);
  const int64_t inner = args.integer(3, "inner", 0, kMaxElements);
  const float* x = args.input(0, "x", args.elements("x", {outer, inner}), "outer*inner");
  nin::sum_trailing(x, args.output(1, "out", outer, "outer"), outer, inner);
  return info.Env().Undefined();
}

// alignment(buffer) -> how many bytes into an ArrayBuffer its first 64-byte aligned address lies (0 to 63): native
// kernels read and write faster from there (a cache line per vector; AMX's tile loads ran 1.4-4x slower from an
// address 16 bytes past one, where malloc puts V8's large ArrayBuffers).
Napi::Value Alignment(const Napi::CallbackInfo& info) {
  Args args(info, "alignment", 1);
  const Napi::Value v = info[0];
  if (!v.IsArrayBuffer()) args.type_error("buffer must be an ArrayBuffer, got " + describe(v));
  const auto address = reinterpret_cast<uintptr_t>(v.As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(info.Env(), static_cast<double>((64 - address % 64) % 64));
}

// hugePages(buffer) -> the byte offset of the first 2 MiB page boundary in an ArrayBuffer, its whole 2 MiB pages from
// there now advised for transparent huge pages; -1 when it holds none or the advice failed (not Linux, or a kernel
// without transparent huge pages). The convolutions of a training step ran 2-4% faster from huge pages (fewer TLB
// misses, each a two-level page walk in a virtual machine); Linux gives them to such a range at its first write
// (transparent_hugepage "madvise", the usual default). Nothing outside the buffer is advised.
Napi::Value HugePages(const Napi::CallbackInfo& info) {
  Args args(info, "hugePages", 1);
  const Napi::Value v = info[0];
  if (!v.IsArrayBuffer()) args.type_error("buffer must be an ArrayBuffer, got " + describe(v));
  auto buffer = v.As<Napi::ArrayBuffer>();
  double offset = -1;
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto start = reinterpret_cast<uintptr_t>(buffer.Data());
  const uintptr_t end = start + buffer.ByteLength();
  const uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = end & ~(kHuge - 1);
  if (start != 0 && first < last && madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0) {
    offset = static_cast<double>(first - start);
  }
#endif
  return Napi::Number::New(info.Env(), offset);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setThreads", 1);
  omp_set_num_threads(static_cast<int>(args.integer(0, "threads", 1, kMaxThreads)));
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) {
  Args args(info, "threads", 0);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value Cores(const Napi::CallbackInfo& info) {
  Args args(info, "cores", 0);
  return Napi::Number::New(info.Env(), omp_get_num_procs());
}

// setConvLayouts(ConvLayouts value), convLayouts() -> ConvLayouts value: see nin::ConvLayouts.
Napi::Value SetConvLayouts(const Napi::CallbackInfo& info) {
  Args args(info, "setConvLayouts", 1);
  nin::set_conv_layouts(args.enumeration<nin::ConvLayouts>(0, "layouts", nin::kConvLayoutsNames));
  return info.Env().Undefined();
}

Napi::Value ConvLayouts(const Napi::CallbackInfo& info) {
  Args args(info, "convLayouts", 0);
  return Napi::Number::New(info.Env(), static_cast<int>(nin::conv_layouts()));
}

// setConvPrecision(Precision value), convPrecision() -> Precision value: see nin::Precision.
Napi::Value SetConvPrecision(const Napi::CallbackInfo& info) {
  Args args(info, "setConvPrecision", 1);
  nin::set_conv_precision(args.enumeration<nin::Precision>(0, "precision", nin::kPrecisionNames));
  return info.Env().Undefined();
}

Napi::Value ConvPrecision(const Napi::CallbackInfo& info) {
  Args args(info, "convPrecision", 0);
  return Napi::Number::New(info.Env(), static_cast<int>(nin::conv_precision()));
}

// cpu() -> {isa: "avx512_core_bf16", nativeBf16: true}: what oneDNN dispatches to on this CPU.
Napi::Value Cpu(const Napi::CallbackInfo& info) {
  Args args(info, "cpu", 0);
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("isa", nin::cpu_isa());
  result.Set("nativeBf16", nin::native_bf16());
  return result;
}

// timers() -> {convForward: {seconds, cpuSeconds, calls}, ...} since the last resetTimers(): see nin::Timer.
Napi::Value Timers(const Napi::CallbackInfo& info) {
  Args args(info, "timers", 0);
  double seconds[nin::kTimerCount];
  double cpu_seconds[nin::kTimerCount];
  int64_t calls[nin::kTimerCount];
  nin::read_timers(seconds, cpu_seconds, calls);
  Napi::Object result = Napi::Object::New(info.Env());
  for (int i = 0; i < nin::kTimerCount; ++i) {
    Napi::Object timer = Napi::Object::New(info.Env());
    timer.Set("seconds", seconds[i]);
    timer.Set("cpuSeconds", cpu_seconds[i]);
    timer.Set("calls", static_cast<double>(calls[i]));
    result.Set(nin::kTimerNames[i], timer);
  }
  return result;
}

Napi::Value ResetTimers(const Napi::CallbackInfo& info) {
  Args args(info, "resetTimers", 0);
  nin::reset_timers();
  return info.Env().Undefined();
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  Args args(info, "clearCache", 0);
  nin::clear_conv_cache();
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  Args args(info, "version", 0);
  return Napi::String::New(info.Env(), nin::onednn_version());
}

// An enum as JS sees it: a frozen {name: value} object built from its name table.
template <size_t N>
Napi::Object enum_object(Napi::Env env, const char* const (&names)[N]) {
  Napi::Object object = Napi::Object::New(env);
  for (size_t i = 0; i < N; ++i) object.Set(names[i], Napi::Number::New(env, static_cast<double>(i)));
  object.Freeze();
  return object;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("UnaryOp", enum_object(env, nin::kUnaryOpNames));
  exports.Set("BinaryOp", enum_object(env, nin::kBinaryOpNames));
  exports.Set("Broadcast", enum_object(env, nin::kBroadcastNames));
  exports.Set("ConvLayouts", enum_object(env, nin::kConvLayoutsNames));
  exports.Set("Precision", enum_object(env, nin::kPrecisionNames));
  exports.Set("LayoutRole", enum_object(env, nin::kLayoutRoleNames));
  exports.Set("ConvPass", enum_object(env, nin::kConvPassNames));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("layout", Napi::Function::New(env, Layout));
  exports.Set("plainLayout", Napi::Function::New(env, PlainLayout));
  exports.Set("layoutLike", Napi::Function::New(env, LayoutLike));
  exports.Set("reorder", Napi::Function::New(env, Reorder));
  exports.Set("reorderIsReference", Napi::Function::New(env, ReorderIsReference));
  exports.Set("convPorts", Napi::Function::New(env, ConvPorts));
  exports.Set("benchmarkConv", Napi::Function::New(env, BenchmarkConv));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("reluGradBias", Napi::Function::New(env, ReluGradBias));
  exports.Set("multiply", Napi::Function::New(env, Multiply));
  exports.Set("reluInPlace", Napi::Function::New(env, ReluInPlace));
  exports.Set("absSum", Napi::Function::New(env, AbsSum));
  exports.Set("dropoutMask", Napi::Function::New(env, DropoutMask));
  exports.Set("sgdUpdate", Napi::Function::New(env, SgdUpdate));
  exports.Set("sumLeading", Napi::Function::New(env, SumLeading));
  exports.Set("sumTrailing", Napi::Function::New(env, SumTrailing));
  exports.Set("alignment", Napi::Function::New(env, Alignment));
  exports.Set("hugePages", Napi::Function::New(env, HugePages));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cores", Napi::Function::New(env, Cores));
  exports.Set("setConvLayouts", Napi::Function::New(env, SetConvLayouts));
  exports.Set("convLayouts", Napi::Function::New(env, ConvLayouts));
  exports.Set("setConvPrecision", Napi::Function::New(env, SetConvPrecision));
  exports.Set("convPrecision", Napi::Function::New(env, ConvPrecision));
  exports.Set("cpu", Napi::Function::New(env, Cpu));
  exports.Set("timers", Napi::Function::New(env, Timers));
  exports.Set("resetTimers", Napi::Function::New(env, ResetTimers));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("version", Napi::Function::New(env, Version));
  nin::register_watchdog(env, exports);  // native/src/watchdog.cc: stop signals while JS is busy
  return exports;
}

}  // namespace

NODE_API_MODULE(nin_onednn, Init)
