// Max and average pooling kernels and their gradients, on the addon's plain loops (TF.js's semantics).
import * as tf from '@tensorflow/tfjs';
import type { PoolShape } from './addon';
import { floats, NativeKernel, output, Tensor4Shape } from './backend';

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

/** The pooling geometry, or undefined for what the addon does not take (not 4-D, or empty). */
function poolInfo(x: tf.TensorInfo, attrs: tf.MaxPoolAttrs): tf.backend_util.Conv2DInfo | undefined {
  if (x.shape.length !== 4) return undefined;
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

export function pool(kind: 'max' | 'avg'): NativeKernel {
  return (args, native, backend) => {
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    const xValues = floats(backend, x);
    const info = poolInfo(x, args.attrs as unknown as tf.MaxPoolAttrs);
    if (xValues === undefined || info === undefined) return undefined;
    const y = output(backend, tf.util.sizeFromShape(info.outShape));
    (kind === 'max' ? native.maxPool : native.avgPool)(poolShape(info), xValues, y);
    return backend.makeTensorInfo(info.outShape, 'float32', y);
  };
}

export const maxPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input } = args.inputs as Record<string, tf.TensorInfo>;
  const dyValues = floats(backend, dy);
  const xValues = floats(backend, input);
  const info = poolInfo(input, args.attrs as unknown as tf.MaxPoolAttrs);
  if (dyValues === undefined || xValues === undefined || info === undefined) return undefined;
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dx = output(backend, xValues.length);
  native.maxPoolGrad(poolShape(info), dyValues, xValues, dx);
  return backend.makeTensorInfo(input.shape, 'float32', dx);
};

export const avgPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input } = args.inputs as Record<string, tf.TensorInfo>;
  const dyValues = floats(backend, dy);
  const info = poolInfo(input, args.attrs as unknown as tf.MaxPoolAttrs);
  if (dyValues === undefined || info === undefined || input.dtype !== 'float32') return undefined;
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dx = output(backend, tf.util.sizeFromShape(input.shape));
  native.avgPoolGrad(poolShape(info), dyValues, dx);
  return backend.makeTensorInfo(input.shape, 'float32', dx);
};
