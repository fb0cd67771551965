// Max and average pooling kernels and their gradients, on the addon's loops (TF.js's semantics), over the layout the
// pooled tensor lives in when the loops walk it (nhwc, nChw16c, nChw8c, nchw; float32 or bfloat16), else over
// TF.js's own. Max pooling keeps its input's element type; sums (average, gradients) are float32.
import * as tf from '@tensorflow/tfjs';
import type { PoolShape } from './addon';
import { NativeKernel, NativeCopy, OnednnBackend, Tensor4Shape } from './backend';

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
    if (kind === 'max') native.maxPool(poolShape(info), xIn.layout, xIn.data, yLayout, y);
    else native.avgPool(poolShape(info), xIn.layout, xIn.data, yLayout, y as Float32Array);
    const out = backend.output(info.outShape, yLayout, y);
    // A maximum or an average of values is bounded as they are.
    backend.setBound(out.dataId, backend.bound(x.dataId));
    return out;
  };
}

export const maxPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input: x } = args.inputs as Record<string, tf.TensorInfo>;
  const info = poolInfo(x, args.attrs as unknown as tf.MaxPoolAttrs);
  if (info === undefined || dy.dtype !== 'float32' || !tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const xIn = input(backend, x, info);
  const dyArrangement = backend.layoutLike(xIn.layout, outDims(info), false);
  const dxLayout = backend.layoutLike(xIn.layout, inDims(info), false);
  if (dyArrangement === 0 || dxLayout === 0) return undefined;
  const dyIn = backend.acquireArrangement(dy, dyArrangement);
  const dx = backend.allocate(dxLayout) as Float32Array;
  native.maxPoolGrad(poolShape(info), dyIn.layout, dyIn.data, xIn.layout, xIn.data, dxLayout, dx);
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
