// The 'onednn' TF.js backend: TF.js's pure-JS CPU backend with its hot kernels (convolutions, pooling,
// ReLU, elementwise ops and sums) on the nin_onednn native addon. This file is its public surface.
export {
  benchmarkOnednnConv,
  CONV_PRECISIONS,
  NATIVE_TIMERS,
  onednnConvLayouts,
  onednnConvPrecision,
  onednnStatus,
  onednnThreads,
  onednnTimers,
  resetOnednnTimers,
  setOnednnConvLayouts,
  setOnednnConvPrecision,
  setOnednnThreads,
} from './addon';
export type { ConvBenchmark, ConvPrecision, NativeTimer, NativeTimes, OnednnConvLayouts, OnednnStatus } from './addon';
export { DROPOUT_MASK } from './dropout';
export { FUSED_CONV } from './fused-conv';
export { convShape } from './kernels-conv';
export { RELU_BIAS_GRAD, RELU_GRAD } from './kernels-elementwise';
export type { Conversions } from './backend';
export {
  ONEDNN_BACKEND,
  onednnConversions,
  onednnKernelCalls,
  onednnNativeKernels,
  registerOnednnBackend,
  resetOnednnConversions,
} from './register';
