// N-API surface of nin_onednn. It trusts nothing from JS: before a kernel touches memory, every call checks
// its argument count, each argument's type, each buffer's length against the shape, and enum ranges, and
// throws a TypeError or RangeError naming the function and the argument. Outputs are written in place.
#include <omp.h>

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "nin_onednn.h"

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
    const char* begin = reinterpret_cast<const char*>(array.Data());
    const Span span{name, begin, begin + array.ByteLength(), written};
    for (const Span& other : spans_) {
      const bool overlap = span.begin < other.end && other.begin < span.end;
      if (overlap && (written || other.written)) range_error(name + " must not share memory with " + other.name);
    }
    spans_.push_back(span);
    return array.Data();
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

// Element counts of a convolution's buffers, and the fields each comes from (for error messages).
struct ConvSizes {
  int64_t x, filter, y;
};
const char* const kConvX = "batch*inHeight*inWidth*inChannels";
const char* const kConvFilter = "filterHeight*filterWidth*inChannels*outChannels";
const char* const kConvY = "batch*outHeight*outWidth*outChannels";
const char* const kConvBias = "outChannels";

ConvSizes conv_sizes(const Args& args, const nin::ConvShape& s) {
  return {args.elements("x", {s.batch, s.in_height, s.in_width, s.in_channels}),
          args.elements("filter", {s.filter_height, s.filter_width, s.in_channels, s.out_channels}),
          args.elements("y", {s.batch, s.out_height, s.out_width, s.out_channels})};
}

struct PoolSizes {
  int64_t x, y;
};
const char* const kPoolX = "batch*inHeight*inWidth*channels";
const char* const kPoolY = "batch*outHeight*outWidth*channels";

PoolSizes pool_sizes(const Args& args, const nin::PoolShape& s) {
  return {args.elements("x", {s.batch, s.in_height, s.in_width, s.channels}),
          args.elements("y", {s.batch, s.out_height, s.out_width, s.channels})};
}

// conv2d(shape, x, filter, bias | null, relu, y, filterToken) -> false when oneDNN rejects the shape; filterToken:
// 0, or a number the caller gives this filter's (immutable) values and no other's (see nin::conv_forward)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Args args(info, "conv2d", 7);
  const nin::ConvShape s = conv_shape(args, 0);
  const ConvSizes n = conv_sizes(args, s);
  const float* x = args.input(1, "x", n.x, kConvX);
  const float* filter = args.input(2, "filter", n.filter, kConvFilter);
  const float* bias = args.is_null(3) ? nullptr : args.input(3, "bias", s.out_channels, kConvBias);
  const bool relu = args.boolean(4, "relu");
  float* y = args.output(5, "y", n.y, kConvY);
  const auto filter_token = static_cast<uint64_t>(args.integer(6, "filterToken", 0, kMaxToken));
  return Napi::Boolean::New(info.Env(), nin::conv_forward(s, x, filter, filter_token, bias, relu, y));
}

// conv2dBackpropInput(shape, dy, filter, dx, dyToken) -> false when oneDNN rejects the shape; dyToken: 0, or
// lastDyToken() read right after conv2dBackpropFilter of this dy (see nin::conv_backward_data)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackpropInput", 5);
  const nin::ConvShape s = conv_shape(args, 0);
  const ConvSizes n = conv_sizes(args, s);
  const float* dy = args.input(1, "dy", n.y, kConvY);
  const float* filter = args.input(2, "filter", n.filter, kConvFilter);
  float* dx = args.output(3, "dx", n.x, kConvX);
  const auto dy_token = static_cast<uint64_t>(args.integer(4, "dyToken", 0, kMaxToken));
  return Napi::Boolean::New(info.Env(), nin::conv_backward_data(s, dy, filter, dx, dy_token));
}

// conv2dBackpropFilter(shape, x, dy, dfilter, dbias | null) -> false when oneDNN rejects the shape
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackpropFilter", 5);
  const nin::ConvShape s = conv_shape(args, 0);
  const ConvSizes n = conv_sizes(args, s);
  const float* x = args.input(1, "x", n.x, kConvX);
  const float* dy = args.input(2, "dy", n.y, kConvY);
  float* dfilter = args.output(3, "dfilter", n.filter, kConvFilter);
  float* dbias = args.is_null(4) ? nullptr : args.output(4, "dbias", s.out_channels, kConvBias);
  return Napi::Boolean::New(info.Env(), nin::conv_backward_filter(s, x, dy, dfilter, dbias));
}

// benchmarkConv(shape, repetitions) -> {seconds, cpuSeconds, implementation}, or null when oneDNN rejects the shape:
// see nin::benchmark_conv_forward.
Napi::Value BenchmarkConv(const Napi::CallbackInfo& info) {
  Args args(info, "benchmarkConv", 2);
  const nin::ConvShape s = conv_shape(args, 0);
  conv_sizes(args, s);  // the same limits as a real call
  const int repetitions = static_cast<int>(args.integer(1, "repetitions", 1, 1000));
  nin::ConvBenchmark result;
  if (!nin::benchmark_conv_forward(s, repetitions, &result)) return info.Env().Null();
  Napi::Object object = Napi::Object::New(info.Env());
  object.Set("seconds", result.seconds);
  object.Set("cpuSeconds", result.cpu_seconds);
  object.Set("implementation", result.implementation);
  return object;
}

// maxPool(shape, x, y)
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool", 3);
  const nin::PoolShape s = pool_shape(args, 0);
  const PoolSizes n = pool_sizes(args, s);
  const float* x = args.input(1, "x", n.x, kPoolX);
  nin::max_pool(s, x, args.output(2, "y", n.y, kPoolY));
  return info.Env().Undefined();
}

// avgPool(shape, x, y)
Napi::Value AvgPool(const Napi::CallbackInfo& info) {
  Args args(info, "avgPool", 3);
  const nin::PoolShape s = pool_shape(args, 0);
  const PoolSizes n = pool_sizes(args, s);
  const float* x = args.input(1, "x", n.x, kPoolX);
  nin::avg_pool(s, x, args.output(2, "y", n.y, kPoolY));
  return info.Env().Undefined();
}

// maxPoolGrad(shape, dy, x, dx)
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  Args args(info, "maxPoolGrad", 4);
  const nin::PoolShape s = pool_shape(args, 0);
  const PoolSizes n = pool_sizes(args, s);
  const float* dy = args.input(1, "dy", n.y, kPoolY);
  const float* x = args.input(2, "x", n.x, kPoolX);
  nin::max_pool_grad(s, dy, x, args.output(3, "dx", n.x, kPoolX));
  return info.Env().Undefined();
}

// avgPoolGrad(shape, dy, dx)
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  Args args(info, "avgPoolGrad", 3);
  const nin::PoolShape s = pool_shape(args, 0);
  const PoolSizes n = pool_sizes(args, s);
  const float* dy = args.input(1, "dy", n.y, kPoolY);
  nin::avg_pool_grad(s, dy, args.output(2, "dx", n.x, kPoolX));
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

// lastDyToken() -> the token of the dy the last conv2dBackpropFilter converted, 0 for none.
Napi::Value LastDyToken(const Napi::CallbackInfo& info) {
  Args args(info, "lastDyToken", 0);
  return Napi::Number::New(info.Env(), static_cast<double>(nin::last_dy_token()));
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
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("benchmarkConv", Napi::Function::New(env, BenchmarkConv));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("sgdUpdate", Napi::Function::New(env, SgdUpdate));
  exports.Set("sumLeading", Napi::Function::New(env, SumLeading));
  exports.Set("sumTrailing", Napi::Function::New(env, SumTrailing));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cores", Napi::Function::New(env, Cores));
  exports.Set("setConvLayouts", Napi::Function::New(env, SetConvLayouts));
  exports.Set("convLayouts", Napi::Function::New(env, ConvLayouts));
  exports.Set("setConvPrecision", Napi::Function::New(env, SetConvPrecision));
  exports.Set("convPrecision", Napi::Function::New(env, ConvPrecision));
  exports.Set("cpu", Napi::Function::New(env, Cpu));
  exports.Set("timers", Napi::Function::New(env, Timers));
  exports.Set("lastDyToken", Napi::Function::New(env, LastDyToken));
  exports.Set("resetTimers", Napi::Function::New(env, ResetTimers));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("version", Napi::Function::New(env, Version));
  return exports;
}

}  // namespace

NODE_API_MODULE(nin_onednn, Init)
