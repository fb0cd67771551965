// Elementwise kernels (ReLU, Step, Sqrt, Square; Add, Sub, Multiply, RealDiv over the broadcasts training
// uses), Sum and Mean over leading or trailing axes, and ReLU's gradient as one kernel (RELU_GRAD).
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { cpuBackendValues, replaceGradient } from '../../sys/tfjs-internals';
import type { Addon } from './addon';
import { floats, KernelArgs, NativeKernel, OnednnBackend, output } from './backend';
import { cpuKernel } from './kernels-conv';

type UnaryOp = keyof Addon['UnaryOp'];
type BinaryOp = keyof Addon['BinaryOp'];

export function unary(op: UnaryOp): NativeKernel {
  return (args, native, backend) => {
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    const xValues = floats(backend, x);
    if (xValues === undefined) return undefined;
    const alpha = op === 'step' ? ((args.attrs as unknown as tf.StepAttrs).alpha ?? 0) : 0;
    const y = output(backend, xValues.length);
    native.unary(native.UnaryOp[op], xValues, y, alpha);
    return backend.makeTensorInfo(x.shape, 'float32', y);
  };
}

/** True when `row` is a vector over the last axis of `shape` (e.g. a bias [C] or [1, 1, C] against [N, H, W, C]). */
function isLastAxisRow(row: number[], shape: number[]): boolean {
  if (shape.length === 0 || row.length === 0) return false;
  const inner = shape[shape.length - 1];
  return row[row.length - 1] === inner && tf.util.sizeFromShape(row) === inner;
}

/**
 * Multiply of two tensors of one shape where one lives in a native layout: computed there (the other read in the same
 * arrangement), the product in that layout and element type. A dropout mask applied to a bf16 activation, and to its
 * gradient, so neither goes through TF.js's values; bfloat16 times 0 or 2 is exact.
 */
function nativeMultiply(a: tf.TensorInfo, b: tf.TensorInfo, native: Addon, backend: OnednnBackend): tf.TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !tf.util.arraysEqual(a.shape, b.shape)) return undefined;
  const size = tf.util.sizeFromShape(a.shape);
  const [kept, other] = backend.producedCopy(a.dataId) !== undefined ? [a, b] : [b, a];
  const copy = backend.producedCopy(kept.dataId);
  if (copy === undefined || size === 0 || tf.util.sizeFromShape(backend.layout(copy.layout).dims) !== size) return undefined;
  const otherIn = backend.acquireArrangement(other, backend.layout(copy.layout).f32);
  const out = backend.allocate(copy.layout);
  native.multiply(copy.data, otherIn.data, out);
  const product = backend.output(a.shape, copy.layout, out);
  const [boundA, boundB] = [backend.bound(a.dataId), backend.bound(b.dataId)];
  if (boundA !== undefined && boundB !== undefined) backend.setBound(product.dataId, boundA * boundB * 1.01); // bf16 may round up
  return product;
}

export function binary(op: BinaryOp): NativeKernel {
  return (args, native, backend) => {
    const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
    if (op === 'mul') {
      const product = nativeMultiply(a, b, native, backend);
      if (product !== undefined) return product;
    }
    const aValues = floats(backend, a);
    const bValues = floats(backend, b);
    if (aValues === undefined || bValues === undefined) return undefined;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = tf.util.sizeFromShape(outShape);
    const modes = native.Broadcast;
    let mode: number;
    let inner = 1;
    if (aValues.length === size && bValues.length === size) mode = modes.same;
    else if (aValues.length === 1 && bValues.length === size) mode = modes.scalarA;
    else if (bValues.length === 1 && aValues.length === size) mode = modes.scalarB;
    else if (aValues.length === size && isLastAxisRow(b.shape, outShape)) {
      mode = modes.rowB;
      inner = bValues.length;
    } else if (bValues.length === size && isLastAxisRow(a.shape, outShape)) {
      mode = modes.rowA;
      inner = aValues.length;
    } else return undefined;
    const out = output(backend, size);
    native.binary(native.BinaryOp[op], mode, aValues, bValues, out, inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** Sum or mean over leading or trailing axes; other axis sets fall back to JS. */
export function reduce(kind: 'sum' | 'mean'): NativeKernel {
  return (args, native, backend) => {
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const xValues = floats(backend, x);
    if (xValues === undefined || x.shape.length === 0) return undefined;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    if (axes.length === 0 || axes.some((v, i) => i > 0 && v === axes[i - 1])) return undefined;
    const rank = x.shape.length;
    const leading = axes.every((v, i) => v === i);
    const trailing = axes.every((v, i) => v === rank - axes.length + i);
    if (!leading && !trailing) return undefined;
    const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const reduceSize = tf.util.sizeFromShape(reduceShape);
    const outSize = tf.util.sizeFromShape(outShape);
    const out = output(backend, outSize);
    if (leading) native.sumLeading(xValues, out, reduceSize, outSize);
    else native.sumTrailing(xValues, out, outSize, reduceSize);
    if (kind === 'mean') for (let i = 0; i < outSize; i++) out[i] /= reduceSize;
    const shape = keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    return backend.makeTensorInfo(shape, 'float32', out);
  };
}

// ReLU's gradient dy * step(x) as one kernel: TF.js's own gradient runs Step then Multiply, two passes over
// every activation. Only the onednn backend has it; registerReluGradient() makes the gradient use it there.
export const RELU_GRAD = 'NinReluGrad';

/** The JS path of RELU_GRAD (inputs that are not float32): TF.js's dy * step(x), NaN included. */
export function reluGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
  const backend = args.backend as MathBackendCPU;
  const dyValues = cpuBackendValues(backend, dy.dataId) as tf.TypedArray;
  const xValues = cpuBackendValues(backend, x.dataId) as tf.TypedArray;
  const out = new Float32Array(dyValues.length);
  for (let i = 0; i < out.length; i++) {
    const v = xValues[i];
    out[i] = dyValues[i] * (Number.isNaN(v) ? v : v > 0 ? 1 : 0);
  }
  return backend.makeTensorInfo(dy.shape, 'float32', out);
}

/**
 * Native RELU_GRAD: out = dy * step(y) in y's layout and element type (a bfloat16 activation's gradient is bfloat16,
 * as under PyTorch's autocast), reading dy as it is when it is arranged as y (either element type), else converted.
 */
export const reluGradNative: NativeKernel = (args, native, backend) => {
  const { dy, x: y } = args.inputs as Record<string, tf.TensorInfo>;
  if (dy.dtype !== 'float32' || y.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, y.shape)) return undefined;
  const copy = backend.producedCopy(y.dataId);
  if (copy === undefined || tf.util.sizeFromShape(backend.layout(copy.layout).dims) !== tf.util.sizeFromShape(y.shape)) {
    // y lives in TF.js's values (or a copy made for another shape): the plain float32 path.
    const dyValues = floats(backend, dy);
    const yValues = floats(backend, y);
    if (dyValues === undefined || yValues === undefined) return undefined;
    const out = output(backend, dyValues.length);
    native.reluGrad(dyValues, yValues, out);
    return backend.makeTensorInfo(dy.shape, 'float32', out);
  }
  const dyIn = backend.acquireArrangement(dy, backend.layout(copy.layout).f32);
  const out = backend.allocate(copy.layout);
  native.reluGrad(dyIn.data, copy.data, out);
  return backend.output(y.shape, copy.layout, out);
};

// A convolution's ReLU and bias gradients in one pass (fused-conv.ts): out = dy * step(y) and the bias gradient, out
// summed over batch and space. TF.js computes the bias gradient from the same out (a Sum kernel); the weight
// gradient then reads out as it is.
export const RELU_BIAS_GRAD = 'NinReluBiasGrad';

/** JS path of RELU_BIAS_GRAD (inputs the native one does not take): RELU_GRAD's, then TF.js's Sum over [0, 1, 2]. */
export function reluBiasGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const out = reluGradKernel(args);
  const sum = cpuKernel(tf.Sum)({ inputs: { x: out }, backend: args.backend, attrs: { axis: [0, 1, 2], keepDims: false } });
  return [out, sum as tf.TensorInfo];
}

/** Native RELU_BIAS_GRAD: y (4-D) in the layout its producer wrote when the loops walk it, else in TF.js's own. */
export const reluBiasGradNative = (args: KernelArgs, native: Addon, backend: OnednnBackend): tf.TensorInfo[] | undefined => {
  const { dy, x: y } = args.inputs as Record<string, tf.TensorInfo>;
  if (dy.dtype !== 'float32' || y.dtype !== 'float32' || y.shape.length !== 4 || !tf.util.arraysEqual(dy.shape, y.shape)) {
    return undefined;
  }
  const [batch, height, width, channels] = y.shape;
  if (batch * height * width * channels === 0) return undefined;
  const dims = [batch, channels, height, width];
  const copy = backend.producedCopy(y.dataId);
  const walkable =
    copy !== undefined && backend.layout(copy.layout).block !== 0 && tf.util.arraysEqual(backend.layout(copy.layout).dims, dims);
  const yLayout = walkable ? copy.layout : backend.plainLayout('activation', dims);
  const yData = backend.acquire(y, yLayout);
  const dyIn = backend.acquireArrangement(dy, backend.layout(yLayout).f32);
  const out = backend.allocate(yLayout);
  const dbias = output(backend, channels);
  native.reluGradBias(yLayout, yData, dyIn.layout, dyIn.data, out, dbias);
  return [backend.output(y.shape, yLayout, out), backend.makeTensorInfo([channels], 'float32', dbias)];
};

/** ReLU's gradient through RELU_GRAD on the backend named `backendName`, TF.js's own (dy * step(x)) on any other. */
export function registerReluGradient(backendName: string): void {
  replaceGradient(tf.Relu, (original) => ({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== backendName || Array.isArray(dy)) return original.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor };
    },
  }));
}
