// Convolution kernels on oneDNN: forward (plain, and fused with bias and ReLU), input and filter gradients,
// and the filter gradient with the bias gradient in one pass (FILTER_BIAS_GRAD, for fused-conv.ts).
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Addon, ConvShape } from './addon';
import { floats, KernelArgs, NativeKernel, output, Tensor4Shape } from './backend';

export const FILTER_BIAS_GRAD = 'NinConv2DBackpropFilterBias';
/**
 * An attribute nin adds to Conv2DBackpropInput when the same dy's weight gradient ran just before (fused-conv.ts):
 * the addon then reuses that kernel's conversion of dy (to bf16, or to a blocked layout) instead of redoing it.
 */
export const DY_TOKEN_ATTR = 'ninDyToken';

// TF.js never writes into a tensor's values once made (a variable's assign gives it new values), so a number per
// dataId names fixed contents: the addon keeps a weight's reordered copy under it between inference batches.
const valuesTokens = new WeakMap<object, number>();
let nextValuesToken = 1;

function valuesToken(t: tf.TensorInfo): number {
  let token = valuesTokens.get(t.dataId);
  if (token === undefined) {
    token = nextValuesToken++;
    valuesTokens.set(t.dataId, token);
  }
  return token;
}

// What the last native filter gradient's dy conversion is called (0: none, or the JS kernel ran).
let lastDyToken = 0;

/** The token of the dy the last FILTER_BIAS_GRAD converted natively, once: reading it clears it. */
export function takeDyToken(): number {
  const token = lastDyToken;
  lastDyToken = 0;
  return token;
}

export function convShape(info: tf.backend_util.Conv2DInfo): ConvShape {
  const p = info.padInfo;
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    outChannels: info.outChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: p.top,
    padBottom: p.bottom,
    padLeft: p.left,
    padRight: p.right,
  };
}

/** Empty tensors go to TF.js's kernels: the addon takes only sizes of at least 1. */
function isEmpty(info: tf.backend_util.Conv2DInfo): boolean {
  return [info.inShape, info.outShape, info.filterShape].some((shape) => tf.util.sizeFromShape(shape) === 0);
}

export function isNhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

export function isOne(dilations: unknown): boolean {
  return dilations === undefined || dilations === 1 || (Array.isArray(dilations) && dilations.every((d) => d === 1));
}

function conv2d(args: KernelArgs, native: Addon, backend: MathBackendCPU, withBiasAndActivation: boolean): tf.TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
  if (!isNhwc(attrs.dataFormat) || x === undefined || filter === undefined) return undefined;
  if (x.shape.length !== 4 || filter.shape.length !== 4) return undefined;
  let relu = false;
  let biasValues: Float32Array | null = null;
  if (withBiasAndActivation) {
    const activation = attrs.activation ?? 'linear';
    if (activation !== 'linear' && activation !== 'relu') return undefined;
    if (preluActivationWeights != null) return undefined;
    relu = activation === 'relu';
    if (bias != null) {
      if (tf.util.sizeFromShape(bias.shape) !== filter.shape[3]) return undefined;
      biasValues = floats(backend, bias) ?? null;
      if (biasValues === null) return undefined;
    }
  }
  const xValues = floats(backend, x);
  const filterValues = floats(backend, filter);
  if (xValues === undefined || filterValues === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Tensor4Shape,
    filter.shape as Tensor4Shape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (isEmpty(info)) return undefined;
  const y = output(backend, tf.util.sizeFromShape(info.outShape));
  if (!native.conv2d(convShape(info), xValues, filterValues, biasValues, relu, y, valuesToken(filter))) return undefined;
  return backend.makeTensorInfo(info.outShape, 'float32', y);
}

export const conv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, false);
export const fusedConv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, true);

export const conv2dBackpropInputKernel: NativeKernel = (args, native, backend) => {
  const { dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!isNhwc(attrs.dataFormat) || dy.shape.length !== 4 || attrs.inputShape.length !== 4) return undefined;
  const dyValues = floats(backend, dy);
  const filterValues = floats(backend, filter);
  if (dyValues === undefined || filterValues === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape as Tensor4Shape,
    filter.shape as Tensor4Shape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (!tf.util.arraysEqual(info.outShape, dy.shape) || isEmpty(info)) return undefined;
  const dx = output(backend, tf.util.sizeFromShape(info.inShape));
  const token = (attrs as unknown as Record<string, unknown>)[DY_TOKEN_ATTR];
  const dyToken = typeof token === 'number' && Number.isSafeInteger(token) && token > 0 ? token : 0;
  if (!native.conv2dBackpropInput(convShape(info), dyValues, filterValues, dx, dyToken)) return undefined;
  return backend.makeTensorInfo(info.inShape, 'float32', dx);
};

/** The filter gradient, with the bias gradient (dy summed over batch and space) when `withBias`. */
function filterGrad(args: KernelArgs, native: Addon, backend: MathBackendCPU, withBias: boolean): tf.TensorInfo[] | undefined {
  lastDyToken = 0;
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!isNhwc(attrs.dataFormat) || x.shape.length !== 4 || dy.shape.length !== 4) return undefined;
  const xValues = floats(backend, x);
  const dyValues = floats(backend, dy);
  if (xValues === undefined || dyValues === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Tensor4Shape,
    attrs.filterShape as Tensor4Shape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  if (!tf.util.arraysEqual(info.outShape, dy.shape) || isEmpty(info)) return undefined;
  const dfilter = output(backend, tf.util.sizeFromShape(info.filterShape));
  const dbias = withBias ? output(backend, info.outChannels) : null;
  if (!native.conv2dBackpropFilter(convShape(info), xValues, dyValues, dfilter, dbias)) return undefined;
  lastDyToken = native.lastDyToken();
  const filterInfo = backend.makeTensorInfo(info.filterShape, 'float32', dfilter);
  return dbias === null ? [filterInfo] : [filterInfo, backend.makeTensorInfo([info.outChannels], 'float32', dbias)];
}

export const conv2dBackpropFilterKernel: NativeKernel = (args, native, backend) => filterGrad(args, native, backend, false)?.[0];

export const filterBiasGradNative = (args: KernelArgs, native: Addon, backend: MathBackendCPU): tf.TensorInfo[] | undefined =>
  filterGrad(args, native, backend, true);

export function cpuKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'cpu');
  if (config === undefined) throw new Error(`TF.js has no cpu kernel ${name}`);
  return config.kernelFunc;
}

/** JS path of FILTER_BIAS_GRAD: TF.js's filter gradient and a sum of dy over batch and space. */
export function filterBiasGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const dfilter = cpuKernel(tf.Conv2DBackpropFilter)(args) as tf.TensorInfo;
  const dbias = cpuKernel(tf.Sum)({
    inputs: { x: (args.inputs as Record<string, tf.TensorInfo>).dy },
    backend: args.backend,
    attrs: { axis: [0, 1, 2], keepDims: false },
  }) as tf.TensorInfo;
  return [dfilter, dbias];
}
