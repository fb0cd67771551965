// N-API surface of nin_onednn: unpacks Float32Arrays and shape arrays from JS and calls the kernels.
// Shapes come as Int32Arrays in the field order of ConvShape / PoolShape; outputs are written in place.
#include <omp.h>

#include <napi.h>

#include "nin_onednn.h"

namespace {

float* floats(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a Float32Array");
  }
  return value.As<Napi::Float32Array>().Data();
}

int64_t length(const Napi::Value& value) { return (int64_t)value.As<Napi::Float32Array>().ElementLength(); }

template <typename Shape>
Shape shape(const Napi::Value& value) {
  constexpr size_t count = sizeof(Shape) / sizeof(int);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      value.As<Napi::Int32Array>().ElementLength() != count) {
    throw Napi::TypeError::New(value.Env(), "shape must be an Int32Array of " + std::to_string(count));
  }
  Shape s;
  const int32_t* data = value.As<Napi::Int32Array>().Data();
  int* fields = &s.batch;
  for (size_t i = 0; i < count; ++i) fields[i] = data[i];
  return s;
}

// conv2d(shape, x, filter, bias | null, relu, y) -> boolean
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  auto s = shape<nin::ConvShape>(info[0]);
  const float* bias = info[3].IsNull() || info[3].IsUndefined() ? nullptr : floats(info[3], "bias");
  bool ok = nin::conv_forward(s, floats(info[1], "x"), floats(info[2], "filter"), bias, info[4].ToBoolean(),
                              floats(info[5], "y"));
  return Napi::Boolean::New(info.Env(), ok);
}

// conv2dBackpropInput(shape, dy, filter, dx) -> boolean
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  auto s = shape<nin::ConvShape>(info[0]);
  bool ok = nin::conv_backward_data(s, floats(info[1], "dy"), floats(info[2], "filter"), floats(info[3], "dx"));
  return Napi::Boolean::New(info.Env(), ok);
}

// conv2dBackpropFilter(shape, x, dy, dfilter, dbias | null) -> boolean
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  auto s = shape<nin::ConvShape>(info[0]);
  float* dbias = info[4].IsNull() || info[4].IsUndefined() ? nullptr : floats(info[4], "dbias");
  bool ok =
      nin::conv_backward_filter(s, floats(info[1], "x"), floats(info[2], "dy"), floats(info[3], "dfilter"), dbias);
  return Napi::Boolean::New(info.Env(), ok);
}

// maxPool(shape, x, y), avgPool(shape, x, y)
Napi::Value MaxPool(const Napi::CallbackInfo& info) {
  nin::max_pool(shape<nin::PoolShape>(info[0]), floats(info[1], "x"), floats(info[2], "y"));
  return info.Env().Undefined();
}

Napi::Value AvgPool(const Napi::CallbackInfo& info) {
  nin::avg_pool(shape<nin::PoolShape>(info[0]), floats(info[1], "x"), floats(info[2], "y"));
  return info.Env().Undefined();
}

// maxPoolGrad(shape, dy, x, dx)
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  nin::max_pool_grad(shape<nin::PoolShape>(info[0]), floats(info[1], "dy"), floats(info[2], "x"),
                     floats(info[3], "dx"));
  return info.Env().Undefined();
}

// avgPoolGrad(shape, dy, dx)
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  nin::avg_pool_grad(shape<nin::PoolShape>(info[0]), floats(info[1], "dy"), floats(info[2], "dx"));
  return info.Env().Undefined();
}

// unary(op, x, y, alpha)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  auto op = static_cast<nin::UnaryOp>(info[0].As<Napi::Number>().Int32Value());
  nin::unary(op, floats(info[1], "x"), floats(info[2], "y"), length(info[2]), info[3].As<Napi::Number>().FloatValue());
  return info.Env().Undefined();
}

// binary(op, broadcast, a, b, out, inner)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  auto op = static_cast<nin::BinaryOp>(info[0].As<Napi::Number>().Int32Value());
  auto mode = static_cast<nin::Broadcast>(info[1].As<Napi::Number>().Int32Value());
  nin::binary(op, mode, floats(info[2], "a"), floats(info[3], "b"), floats(info[4], "out"), length(info[4]),
              info[5].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

// sumLeading(x, out, outer, inner), sumTrailing(x, out, outer, inner)
Napi::Value SumLeading(const Napi::CallbackInfo& info) {
  nin::sum_leading(floats(info[0], "x"), floats(info[1], "out"), info[2].As<Napi::Number>().Int64Value(),
                   info[3].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value SumTrailing(const Napi::CallbackInfo& info) {
  nin::sum_trailing(floats(info[0], "x"), floats(info[1], "out"), info[2].As<Napi::Number>().Int64Value(),
                    info[3].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  omp_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), omp_get_max_threads()); }

Napi::Value Cores(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), omp_get_num_procs()); }

// setConvLayouts(0 | 1 | 2 | 3), convLayouts(): see nin::ConvLayouts.
Napi::Value SetConvLayouts(const Napi::CallbackInfo& info) {
  const int layouts = info[0].As<Napi::Number>().Int32Value();
  if (layouts < 0 || layouts > 3) throw Napi::RangeError::New(info.Env(), "conv layouts must be 0, 1, 2 or 3");
  nin::set_conv_layouts(static_cast<nin::ConvLayouts>(layouts));
  return info.Env().Undefined();
}

Napi::Value ConvLayouts(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(nin::conv_layouts()));
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  nin::clear_conv_cache();
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), nin::onednn_version()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("avgPool", Napi::Function::New(env, AvgPool));
  exports.Set("avgPoolGrad", Napi::Function::New(env, AvgPoolGrad));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("sumLeading", Napi::Function::New(env, SumLeading));
  exports.Set("sumTrailing", Napi::Function::New(env, SumTrailing));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cores", Napi::Function::New(env, Cores));
  exports.Set("setConvLayouts", Napi::Function::New(env, SetConvLayouts));
  exports.Set("convLayouts", Napi::Function::New(env, ConvLayouts));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("version", Napi::Function::New(env, Version));
  return exports;
}

}  // namespace

NODE_API_MODULE(nin_onednn, Init)
