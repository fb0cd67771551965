// Convolution kernels on oneDNN: forward (plain, and fused with bias and ReLU), input and filter gradients. Each asks the
// addon which layouts its primitive reads and writes (convPorts), takes its inputs in them (converted only when a
// tensor has no copy there) and leaves its output in the primitive's layout for the next native kernel.
import * as tf from '@tensorflow/tfjs';
import type { Addon, ConvShape, LayoutBuffer } from './addon';
import { convPortsOf } from './conv-ports';
import { floats, KernelArgs, NativeKernel, OnednnBackend, Tensor4Shape } from './backend';

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

function conv2d(args: KernelArgs, native: Addon, backend: OnednnBackend, withBiasAndActivation: boolean): tf.TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
  if (!isNhwc(attrs.dataFormat) || x === undefined || filter === undefined) return undefined;
  if (x.shape.length !== 4 || filter.shape.length !== 4 || x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
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
  const info = nhwcConvInfo(x.shape, filter.shape, attrs, attrs.dilations ?? 1);
  if (isEmpty(info)) return undefined;
  const shape = convShape(info);
  const p = convPortsOf(native, 'forward', shape, biasValues !== null);
  if (p === null) return undefined;
  const xData = backend.acquire(x, p.x);
  const filterData = backend.acquire(filter, p.filter);
  const y = backend.allocate(p.y);
  const bound = relu ? outputBound(backend, inputBound(backend, x, xData, y.length), filterData, biasValues) : undefined;
  const reluDone = native.conv2d(shape, p.x, xData, p.filter, filterData, biasValues, bound !== undefined, p.y, y);
  if (reluDone === null) {
    backend.release(y);
    return undefined;
  }
  const out = backend.output(info.outShape, p.y, y);
  // ReLU as TF.js computes it (NaN kept) in a pass of its own, which measures the next layer's bound on the way.
  if (relu && !reluDone) backend.setBound(out.dataId, native.reluInPlace(y));
  else if (reluDone) backend.setBound(out.dataId, bound);
  return out;
}

// No float32 sum may come near overflow: below 1e36, against float32's largest 3.4e38.
const SAFE_SUM = 1e36;
// bf16 rounds x and the filter up by at most 2^-8 each: their product by at most this factor.
const ROUNDING = 1.01;

/**
 * x's bound (see backend.ts), or when it has none (the first layer's input: JavaScript made it), the sum of its |x|,
 * which bounds every |x| too and is finite only when every x is (NaN or infinity: undefined). Only where x has no
 * more values than y: one read of x then costs less than the ReLU pass over y that the bound saves.
 */
function inputBound(backend: OnednnBackend, x: tf.TensorInfo, xData: LayoutBuffer, yLength: number): number | undefined {
  const known = backend.bound(x.dataId);
  if (known !== undefined || xData.length > yLength) return known;
  const sum = backend.l1Norm(xData);
  return Number.isFinite(sum) ? sum : undefined;
}

/**
 * An upper bound on |y| that proves y = relu(conv(x, filter) + bias) can be computed with oneDNN's ReLU post-op and
 * still give TF.js's result, or undefined. The post-op turns NaN into 0; a NaN can only come from a non-finite input
 * or from a sum that overflows to infinity on both sides. Every partial sum of an output is at most
 * max|x| * sum|filter| + max|bias| in magnitude, so when x's bound is known (finite values, see backend.ts), the
 * filter and bias are finite and that product stays far below float32's largest value, no NaN can arise. The bound
 * is then y's, for the next layer.
 */
function outputBound(
  backend: OnednnBackend,
  xBound: number | undefined,
  filter: LayoutBuffer,
  bias: Float32Array | null,
): number | undefined {
  if (xBound === undefined) return undefined;
  let biasBound = 0;
  if (bias !== null) {
    for (const v of bias) biasBound = Math.max(biasBound, Math.abs(v));
    if (!Number.isFinite(biasBound)) return undefined;
  }
  const bound = xBound * ROUNDING * backend.l1Norm(filter) * ROUNDING + biasBound;
  return bound < SAFE_SUM ? bound : undefined;
}

export const conv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, false);
export const fusedConv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, true);

/** TF.js's geometry of an NHWC convolution from a kernel's attributes (its strides, padding and rounding). */
function nhwcConvInfo(
  inputShape: readonly number[],
  filterShape: readonly number[],
  attrs: { strides: [number, number] | number; pad: tf.Conv2DAttrs['pad']; dimRoundingMode?: 'floor' | 'round' | 'ceil' },
  dilations: [number, number] | number = 1,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as Tensor4Shape,
    filterShape as Tensor4Shape,
    attrs.strides,
    dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

export const conv2dBackpropInputKernel: NativeKernel = (args, native, backend) => {
  const { dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!isNhwc(attrs.dataFormat) || dy.shape.length !== 4 || attrs.inputShape.length !== 4) return undefined;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32' || filter.shape.length !== 4) return undefined;
  const info = nhwcConvInfo(attrs.inputShape, filter.shape, attrs);
  if (!tf.util.arraysEqual(info.outShape, dy.shape) || isEmpty(info)) return undefined;
  const shape = convShape(info);
  const p = convPortsOf(native, 'backwardData', shape, false);
  if (p === null) return undefined;
  const dyData = backend.acquire(dy, p.y);
  const filterData = backend.acquire(filter, p.filter);
  const dx = backend.allocate(p.x);
  if (!native.conv2dBackpropInput(shape, p.y, dyData, p.filter, filterData, p.x, dx)) {
    backend.release(dx);
    return undefined;
  }
  return backend.output(info.inShape, p.x, dx);
};

export const conv2dBackpropFilterKernel: NativeKernel = (args, native, backend) => {
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!isNhwc(attrs.dataFormat) || x.shape.length !== 4 || dy.shape.length !== 4) return undefined;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
  const info = nhwcConvInfo(x.shape, attrs.filterShape, attrs);
  if (!tf.util.arraysEqual(info.outShape, dy.shape) || isEmpty(info)) return undefined;
  const shape = convShape(info);
  const p = convPortsOf(native, 'backwardWeights', shape, false);
  if (p === null) return undefined;
  const xData = backend.acquire(x, p.x);
  const dyData = backend.acquire(dy, p.y);
  const dfilter = backend.allocate(p.filter);
  if (!native.conv2dBackpropFilter(shape, p.x, xData, p.y, dyData, p.filter, dfilter)) {
    backend.release(dfilter);
    return undefined;
  }
  return backend.output(info.filterShape, p.filter, dfilter);
};

export function cpuKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'cpu');
  if (config === undefined) throw new Error(`TF.js has no cpu kernel ${name}`);
  return config.kernelFunc;
}
