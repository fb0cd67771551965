// Max and average pooling kernels and their gradients, on the addon's loops (TF.js's semantics), over the layout the
// pooled tensor lives in when the loops walk it (nhwc, nChw16c, nChw8c, nchw; float32 or bfloat16), else over
// TF.js's own. Max pooling keeps its input's element type; sums (average, gradients) are float32.
import * as tf from '@tensorflow/tfjs';
import type { PoolShape } from './addon';
import { isRecordingGradients } from '../../sys/tfjs-internals';
import { NativeKernel, NativeCopy, OnednnBackend, Tensor4Shape } from './backend';

// The addon records a window's maximum in a byte: windows of at most 255 pixels.
const MAX_RECORDED_WINDOW = 255;
// Channels per plane from which recording the maxima pays (see pool()).
const MIN_RECORDED_BLOCK = 32;

function poolShape(info: tf.backend_util.Conv2DInfo): PoolShape {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** The pooling geometry, or undefined for what the addon does not take (not 4-D float32, or empty). */
function poolInfo(x: tf.TensorInfo, attrs: tf.MaxPoolAttrs): tf.backend_util.Conv2DInfo | undefined {
  if (x.shape.length !== 4 || x.dtype !== 'float32') return undefined;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as Tensor4Shape,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const empty = tf.util.sizeFromShape(info.inShape) === 0 || tf.util.sizeFromShape(info.outShape) === 0;
  return empty ? undefined : info;
}

const inDims = (info: tf.backend_util.Conv2DInfo) => [info.batchSize, info.inChannels, info.inHeight, info.inWidth];
const outDims = (info: tf.backend_util.Conv2DInfo) => [info.batchSize, info.inChannels, info.outHeight, info.outWidth];

/**
 * The layout the pooled tensor x is walked in: the one its producer wrote when the loops walk it and it holds x's
 * current shape, else TF.js's own.
 */
function inputLayout(backend: OnednnBackend, x: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): number {
  const copy = backend.producedCopy(x.dataId);
  if (copy !== undefined) {
    const layout = backend.layout(copy.layout);
    if (layout.block !== 0 && tf.util.arraysEqual(layout.dims, inDims(info))) return copy.layout;
  }
  return backend.plainLayout('activation', inDims(info));
}

function input(backend: OnednnBackend, x: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): NativeCopy {
  const layout = inputLayout(backend, x, info);
  return { layout, data: backend.acquire(x, layout) };
}

export function pool(kind: 'max' | 'avg'): NativeKernel {
  return (args, native, backend) => {
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    const info = poolInfo(x, args.attrs as unknown as tf.MaxPoolAttrs);
    if (info === undefined) return undefined;
    const xIn = input(backend, x, info);
    const bf16 = kind === 'max' && backend.layout(xIn.layout).bf16;
    const yLayout = backend.layoutLike(xIn.layout, outDims(info), bf16);
    if (yLayout === 0) return undefined;
    const y = backend.allocate(yLayout);
    // While a gradient tape records, max pooling notes where each maximum lies: its gradient then reads that
    // instead of x, gathers each pixel's sum and writes it once, with no pass to zero it first. That pays on
    // planes of many channels (nhwc, as AMX leaves activations: pooling 9-10 -> 6-6.7 ms a bf16 step at 96px, one
    // thread); on nChw16c's 16, the gather's per-pixel work doubled the gradient's time, so it finds the maxima again.
    const layout = backend.layout(yLayout);
    const record =
      kind === 'max' &&
      isRecordingGradients() &&
      layout.block >= MIN_RECORDED_BLOCK &&
      info.filterHeight * info.filterWidth <= MAX_RECORDED_WINDOW
        ? new Uint8Array(layout.bytes / (layout.bf16 ? 2 : 4))
        : null;
    if (kind === 'max') native.maxPool(poolShape(info), xIn.layout, xIn.data, yLayout, y, record);
    else native.avgPool(poolShape(info), xIn.layout, xIn.data, yLayout, y as Float32Array);
    const out = backend.output(info.outShape, yLayout, y);
    if (record !== null) backend.setMaxima(out.dataId, { layout: yLayout, where: record });
    // A maximum or an average of values is bounded as they are.
    backend.setBound(out.dataId, backend.bound(x.dataId));
    return out;
  };
}

export const maxPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input: x, output: y } = args.inputs as Record<string, tf.TensorInfo>;
  const info = poolInfo(x, args.attrs as unknown as tf.MaxPoolAttrs);
  if (info === undefined || dy.dtype !== 'float32' || !tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const xIn = input(backend, x, info);
  const dyArrangement = backend.layoutLike(xIn.layout, outDims(info), false);
  if (dyArrangement === 0) return undefined;
  const dyIn = backend.acquireArrangement(dy, dyArrangement);
  // The forward's record serves when it was made for this x, arranged as dy is read; dx then has dy's element type
  // (the sums are float32 either way; ReLU's gradient after rounds a bf16 dx to the same values).
  const record = y === undefined ? undefined : backend.maximaOf(y.dataId);
  const where = record !== undefined && backend.layout(record.layout).f32 === dyArrangement ? record.where : null;
  const dxLayout = backend.layoutLike(xIn.layout, inDims(info), where !== null && backend.layout(dyIn.layout).bf16);
  if (dxLayout === 0) return undefined;
  const dx = backend.allocate(dxLayout);
  native.maxPoolGrad(poolShape(info), dyIn.layout, dyIn.data, xIn.layout, xIn.data, dxLayout, dx, where);
  return backend.output(x.shape, dxLayout, dx);
};

export const avgPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input: x } = args.inputs as Record<string, tf.TensorInfo>;
  const info = poolInfo(x, args.attrs as unknown as tf.MaxPoolAttrs);
  if (info === undefined || dy.dtype !== 'float32' || !tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  // dx is arranged as x (which this kernel does not read): the next kernel back, ReLU's gradient, reads both.
  const base = inputLayout(backend, x, info);
  const dyArrangement = backend.layoutLike(base, outDims(info), false);
  const dxLayout = backend.layoutLike(base, inDims(info), false);
  if (dyArrangement === 0 || dxLayout === 0) return undefined;
  const dyIn = backend.acquireArrangement(dy, dyArrangement);
  const dx = backend.allocate(dxLayout) as Float32Array;
  native.avgPoolGrad(poolShape(info), dyIn.layout, dyIn.data, dxLayout, dx);
  return backend.output(x.shape, dxLayout, dx);
};
