// The 'onednn' TF.js backend: the pure-JS CPU backend's storage and kernels, with the hot kernels
// (convolutions, pooling, ReLU, elementwise and sums) swapped for the nin_onednn native addon.
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

export interface OnednnStatus {
  available: boolean;
  reason?: string; // one line naming the fix
  version?: string; // oneDNN's version, e.g. "2.6.3"
}

/** What native/src/addon.cc exports. Shapes are Int32Arrays in the field order of ConvShape / PoolShape. */
interface Addon {
  conv2d(shape: Int32Array, x: Float32Array, filter: Float32Array, bias: Float32Array | null, relu: boolean, y: Float32Array): boolean;
  conv2dBackpropInput(shape: Int32Array, dy: Float32Array, filter: Float32Array, dx: Float32Array): boolean;
  conv2dBackpropFilter(shape: Int32Array, x: Float32Array, dy: Float32Array, dfilter: Float32Array, dbias: Float32Array | null): boolean;
  maxPool(shape: Int32Array, x: Float32Array, y: Float32Array): void;
  maxPoolGrad(shape: Int32Array, dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  avgPool(shape: Int32Array, x: Float32Array, y: Float32Array): void;
  avgPoolGrad(shape: Int32Array, dy: Float32Array, dx: Float32Array): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  binary(op: number, broadcast: number, a: Float32Array, b: Float32Array, out: Float32Array, inner: number): void;
  sumLeading(x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  sumTrailing(x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  setThreads(n: number): void;
  threads(): number;
  cores(): number;
  setConvLayouts(layouts: number): void;
  convLayouts(): number;
  clearCache(): void;
  version(): string;
}

export const ONEDNN_BACKEND = 'onednn';
// Below 'cpu' (1): TF.js never picks this backend on its own, callers ask for it with tf.setBackend.
const BACKEND_PRIORITY = -1;
// Compiled to dist/src/backend/, the addon lives in native/build/Release/ at the package root.
const ADDON_PATH = path.join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'nin_onednn.node');
const REBUILD_HINT = 'apt-get install libdnnl-dev, then npm rebuild';

// Matches the enums in native/src/nin_onednn.h.
const UNARY = { relu: 0, step: 1, sqrt: 2, square: 3 } as const;
const BINARY = { add: 0, sub: 1, mul: 2, div: 3, reluGrad: 4 } as const;
const BROADCAST = { same: 0, scalarA: 1, scalarB: 2, rowB: 3, rowA: 4 } as const;

let addon: Addon | undefined;
let loadFailure: string | undefined;

function loadAddon(): Addon | undefined {
  if (addon !== undefined || loadFailure !== undefined) return addon;
  // OpenMP threads that spin while waiting steal the core from the thread with work whenever anything
  // else runs on the machine (3x slower steps measured with one busy neighbour); libgomp reads this when
  // the addon loads it, so set it first unless the user chose otherwise.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  try {
    addon = require(ADDON_PATH) as Addon;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const detail = (e.message ?? String(err)).split('\n')[0];
    loadFailure = e.code === 'MODULE_NOT_FOUND'
      ? `the oneDNN addon is not built (no ${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH}): ${REBUILD_HINT}`
      : `the oneDNN addon does not load (${detail}): ${REBUILD_HINT}`;
  }
  return addon;
}

export function onednnStatus(): OnednnStatus {
  const native = loadAddon();
  if (native === undefined) return { available: false, reason: loadFailure };
  try {
    return { available: true, version: native.version() };
  } catch (err) {
    return { available: false, reason: `the oneDNN addon does not answer (${(err as Error).message}): ${REBUILD_HINT}` };
  }
}

function requireAddon(): Addon {
  const status = onednnStatus();
  if (!status.available || addon === undefined) throw new Error(status.reason);
  return addon;
}

/** OpenMP threads for every native kernel; the default is all cores (or OMP_NUM_THREADS). */
export function setOnednnThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`oneDNN threads must be a positive integer (got ${n})`);
  requireAddon().setThreads(n);
}

export function onednnThreads(): number {
  return requireAddon().threads();
}

/**
 * Memory layouts of the convolutions, for benchmarks and tests: 'plain' runs oneDNN on TF.js's own
 * nhwc/hwio buffers (its gemm kernels); 'blocked-weights' reorders only the weights into oneDNN's blocked
 * layout, which gets its direct AVX-512 kernels; 'blocked' reorders activations too; 'auto' (the default)
 * is 'blocked-weights' plus blocked activations for spatial kernels on small activations, where it pays.
 */
export type OnednnConvLayouts = 'plain' | 'blocked-weights' | 'blocked' | 'auto';
const CONV_LAYOUTS: readonly OnednnConvLayouts[] = ['plain', 'blocked-weights', 'blocked', 'auto'];

export function setOnednnConvLayouts(layouts: OnednnConvLayouts): void {
  const index = CONV_LAYOUTS.indexOf(layouts);
  if (index < 0) throw new Error(`conv layouts must be one of ${CONV_LAYOUTS.join(', ')} (got ${layouts})`);
  requireAddon().setConvLayouts(index);
}

export function onednnConvLayouts(): OnednnConvLayouts {
  return CONV_LAYOUTS[requireAddon().convLayouts()];
}

// ---- backend: the CPU backend plus a pool of output buffers ------------------------------------

// Fresh multi-megabyte Float32Arrays cost page faults on first write, several times the cost of a ReLU
// over them; so native kernels take their outputs from a pool that disposed tensors give back to.
const POOL_MIN_LENGTH = 16 * 1024; // smaller arrays are cheap to allocate
const POOL_MAX_FREE_BYTES = Math.min(3 * 2 ** 30, os.totalmem() / 4);

class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  // Arrays handed out to a live tensor that may come back; an array leaves this set for good when it is
  // pinned (something else may still reference it) or returned.
  private readonly lent = new WeakSet<Float32Array>();
  private freeBytes = 0;

  take(length: number): Float32Array {
    if (length < POOL_MIN_LENGTH) return new Float32Array(length);
    const list = this.free.get(length);
    const reused = list?.pop();
    if (list !== undefined && list.length === 0) this.free.delete(length);
    if (reused !== undefined) this.freeBytes -= reused.byteLength;
    const array = reused ?? new Float32Array(length);
    this.lent.add(array);
    return array;
  }

  lentOut(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.lent.has(values);
  }

  /** Never take this array back: a view of it may outlive its tensor. */
  pin(values: Float32Array): void {
    this.lent.delete(values);
  }

  /** Called when the array's tensor is gone; keeps it for reuse within the pool's budget. */
  give(values: Float32Array): void {
    if (!this.lent.has(values)) return;
    this.lent.delete(values);
    if (this.freeBytes + values.byteLength > POOL_MAX_FREE_BYTES) return;
    const list = this.free.get(values.length);
    if (list) list.push(values);
    else this.free.set(values.length, [values]);
    this.freeBytes += values.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}

class OnednnBackend extends MathBackendCPU {
  readonly pool = new BufferPool();

  override disposeData(dataId: object, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (released && this.pool.lentOut(values)) this.pool.give(values);
    return released;
  }

  // dataSync()/data() hand the backend's array to the caller, who may keep it: give them a copy of pooled ones.
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.pool.lentOut(values) ? values.slice() : values;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

/** An output array for a native kernel: pooled when the backend is ours. */
function output(backend: MathBackendCPU, length: number): Float32Array {
  return backend instanceof OnednnBackend ? backend.pool.take(length) : new Float32Array(length);
}

/** After a JS kernel: an output that shares memory with a pooled input (Slice returns views) pins that input. */
function pinAliasedInputs(backend: MathBackendCPU, inputs: tf.NamedTensorInfoMap, result: tf.TensorInfo | tf.TensorInfo[]): void {
  if (!(backend instanceof OnednnBackend)) return;
  const outputs = Array.isArray(result) ? result : [result];
  for (const input of Object.values(inputs)) {
    if (input == null || !backend.data.has(input.dataId)) continue;
    const values = backend.data.get(input.dataId).values;
    if (!backend.pool.lentOut(values)) continue;
    for (const out of outputs) {
      if (out.dataId === input.dataId || !backend.data.has(out.dataId)) continue;
      const outValues = backend.data.get(out.dataId).values as ArrayBufferView | undefined;
      if (outValues !== undefined && ArrayBuffer.isView(outValues) && outValues.buffer === values.buffer) backend.pool.pin(values);
    }
  }
}

// ---- kernels ---------------------------------------------------------------------------------

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Tensor4Shape = [number, number, number, number];

/** The Float32Array behind a tensor, or undefined when the kernel must leave it to the JS fallback. */
function floats(backend: MathBackendCPU, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (t === undefined || t.dtype !== 'float32') return undefined;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : undefined;
}

function convShape(info: tf.backend_util.Conv2DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.outChannels,
    info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    p.top, p.bottom, p.left, p.right,
  ]);
}

function poolShape(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth,
    info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ]);
}

function isNhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

function isOne(dilations: unknown): boolean {
  return dilations === undefined || dilations === 1 || (Array.isArray(dilations) && dilations.every((d) => d === 1));
}

/** A native kernel returns undefined for inputs it does not handle; the JS 'cpu' kernel then runs. */
type NativeKernel = (args: KernelArgs, native: Addon, backend: MathBackendCPU) => tf.TensorInfo | undefined;

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
    x.shape as Tensor4Shape, filter.shape as Tensor4Shape, attrs.strides, attrs.dilations ?? 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
  const y = output(backend, tf.util.sizeFromShape(info.outShape));
  if (!native.conv2d(convShape(info), xValues, filterValues, biasValues, relu, y)) return undefined;
  return backend.makeTensorInfo(info.outShape, 'float32', y);
}

const conv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, false);
const fusedConv2dKernel: NativeKernel = (args, native, backend) => conv2d(args, native, backend, true);

const conv2dBackpropInputKernel: NativeKernel = (args, native, backend) => {
  const { dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!isNhwc(attrs.dataFormat) || dy.shape.length !== 4 || attrs.inputShape.length !== 4) return undefined;
  const dyValues = floats(backend, dy);
  const filterValues = floats(backend, filter);
  if (dyValues === undefined || filterValues === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape as Tensor4Shape, filter.shape as Tensor4Shape, attrs.strides, 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dx = output(backend, tf.util.sizeFromShape(info.inShape));
  if (!native.conv2dBackpropInput(convShape(info), dyValues, filterValues, dx)) return undefined;
  return backend.makeTensorInfo(info.inShape, 'float32', dx);
};

const conv2dBackpropFilterKernel: NativeKernel = (args, native, backend) => {
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!isNhwc(attrs.dataFormat) || x.shape.length !== 4 || dy.shape.length !== 4) return undefined;
  const xValues = floats(backend, x);
  const dyValues = floats(backend, dy);
  if (xValues === undefined || dyValues === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Tensor4Shape, attrs.filterShape as Tensor4Shape, attrs.strides, 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dfilter = output(backend, tf.util.sizeFromShape(info.filterShape));
  if (!native.conv2dBackpropFilter(convShape(info), xValues, dyValues, dfilter, null)) return undefined;
  return backend.makeTensorInfo(info.filterShape, 'float32', dfilter);
};

function poolInfo(x: tf.TensorInfo, attrs: tf.MaxPoolAttrs): tf.backend_util.Conv2DInfo | undefined {
  if (x.shape.length !== 4) return undefined;
  return tf.backend_util.computePool2DInfo(
    x.shape as Tensor4Shape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
}

function pool(kind: 'max' | 'avg'): NativeKernel {
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

const maxPoolGradKernel: NativeKernel = (args, native, backend) => {
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

const avgPoolGradKernel: NativeKernel = (args, native, backend) => {
  const { dy, input } = args.inputs as Record<string, tf.TensorInfo>;
  const dyValues = floats(backend, dy);
  const info = poolInfo(input, args.attrs as unknown as tf.MaxPoolAttrs);
  if (dyValues === undefined || info === undefined || input.dtype !== 'float32') return undefined;
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dx = output(backend, tf.util.sizeFromShape(input.shape));
  native.avgPoolGrad(poolShape(info), dyValues, dx);
  return backend.makeTensorInfo(input.shape, 'float32', dx);
};

function unary(op: number): NativeKernel {
  return (args, native, backend) => {
    const { x } = args.inputs as Record<string, tf.TensorInfo>;
    const xValues = floats(backend, x);
    if (xValues === undefined) return undefined;
    const alpha = op === UNARY.step ? ((args.attrs as unknown as tf.StepAttrs).alpha ?? 0) : 0;
    const y = output(backend, xValues.length);
    native.unary(op, xValues, y, alpha);
    return backend.makeTensorInfo(x.shape, 'float32', y);
  };
}

/** True when `row` is a vector over the last axis of `shape` (e.g. a bias [C] or [1, 1, C] against [N, H, W, C]). */
function isLastAxisRow(row: number[], shape: number[]): boolean {
  if (shape.length === 0 || row.length === 0) return false;
  const inner = shape[shape.length - 1];
  return row[row.length - 1] === inner && tf.util.sizeFromShape(row) === inner;
}

function binary(op: number): NativeKernel {
  return (args, native, backend) => {
    const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
    const aValues = floats(backend, a);
    const bValues = floats(backend, b);
    if (aValues === undefined || bValues === undefined) return undefined;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = tf.util.sizeFromShape(outShape);
    let mode: number;
    let inner = 1;
    if (aValues.length === size && bValues.length === size) mode = BROADCAST.same;
    else if (aValues.length === 1 && bValues.length === size) mode = BROADCAST.scalarA;
    else if (bValues.length === 1 && aValues.length === size) mode = BROADCAST.scalarB;
    else if (aValues.length === size && isLastAxisRow(b.shape, outShape)) { mode = BROADCAST.rowB; inner = bValues.length; }
    else if (bValues.length === size && isLastAxisRow(a.shape, outShape)) { mode = BROADCAST.rowA; inner = aValues.length; }
    else return undefined;
    const out = output(backend, size);
    native.binary(op, mode, aValues, bValues, out, inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** Sum or mean over leading or trailing axes; other axis sets fall back to JS. */
function reduce(kind: 'sum' | 'mean'): NativeKernel {
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

const NATIVE_KERNELS: Record<string, NativeKernel> = {
  [tf.Conv2D]: conv2dKernel,
  [tf.FusedConv2D]: fusedConv2dKernel,
  [tf.Conv2DBackpropInput]: conv2dBackpropInputKernel,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilterKernel,
  [tf.MaxPool]: pool('max'),
  [tf.MaxPoolGrad]: maxPoolGradKernel,
  [tf.AvgPool]: pool('avg'),
  [tf.AvgPoolGrad]: avgPoolGradKernel,
  [tf.Relu]: unary(UNARY.relu),
  [tf.Step]: unary(UNARY.step),
  [tf.Sqrt]: unary(UNARY.sqrt),
  [tf.Square]: unary(UNARY.square),
  [tf.Add]: binary(BINARY.add),
  [tf.Sub]: binary(BINARY.sub),
  [tf.Multiply]: binary(BINARY.mul),
  [tf.RealDiv]: binary(BINARY.div),
  [tf.Sum]: reduce('sum'),
  [tf.Mean]: reduce('mean'),
};

// ReLU's gradient dy * step(x) as one kernel: TF.js's own gradient runs Step then Multiply, two passes over
// every activation. Only the onednn backend has it; the gradient registered below uses it there.
export const RELU_GRAD = 'NinReluGrad';

/** The JS path of RELU_GRAD (inputs that are not float32): TF.js's dy * step(x), NaN included. */
function reluGradKernel(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
  const backend = args.backend as MathBackendCPU;
  const dyValues = backend.data.get(dy.dataId).values as tf.TypedArray;
  const xValues = backend.data.get(x.dataId).values as tf.TypedArray;
  const out = new Float32Array(dyValues.length);
  for (let i = 0; i < out.length; i++) {
    const v = xValues[i];
    out[i] = dyValues[i] * (Number.isNaN(v) ? v : v > 0 ? 1 : 0);
  }
  return backend.makeTensorInfo(dy.shape, 'float32', out);
}

const reluGradNative: NativeKernel = (args, native, backend) => {
  const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
  const dyValues = floats(backend, dy);
  const xValues = floats(backend, x);
  if (dyValues === undefined || xValues === undefined || dyValues.length !== xValues.length) return undefined;
  const out = output(backend, dyValues.length);
  native.binary(BINARY.reluGrad, BROADCAST.same, dyValues, xValues, out, 1);
  return backend.makeTensorInfo(dy.shape, 'float32', out);
};

// ---- conv + bias + ReLU as one op while training ------------------------------------------------
// While a gradient tape records, TF.js's fused conv2d falls back to Conv2D, Add(bias), Relu, whose backward
// adds Step, Multiply and Sum: four extra passes over every activation. On this backend, tf.fused.conv2d
// (what tf.layers.conv2d calls) records FUSED_CONV instead: oneDNN adds bias and ReLU in the convolution,
// and the backward takes the bias gradient from oneDNN's weight gradient. Same math as TF.js's own fused
// gradient (dy * step(y), bias gradient = sum of that), just without its gradient-mode fallback.
export const FUSED_CONV = 'NinFusedConv2D';
export const FILTER_BIAS_GRAD = 'NinConv2DBackpropFilterBias';

interface FusedConvAttrs {
  strides: [number, number] | number;
  pad: tf.backend_util.ExplicitPadding | 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function cpuKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'cpu');
  if (config === undefined) throw new Error(`TF.js has no cpu kernel ${name}`);
  return config.kernelFunc;
}

/** JS path of FILTER_BIAS_GRAD: TF.js's filter gradient and a sum of dy over batch and space. */
function filterBiasGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const dfilter = cpuKernel(tf.Conv2DBackpropFilter)(args) as tf.TensorInfo;
  const dbias = cpuKernel(tf.Sum)({
    inputs: { x: (args.inputs as Record<string, tf.TensorInfo>).dy }, backend: args.backend,
    attrs: { axis: [0, 1, 2], keepDims: false },
  }) as tf.TensorInfo;
  return [dfilter, dbias];
}

const filterBiasGradNative = (args: KernelArgs, native: Addon, backend: MathBackendCPU): tf.TensorInfo[] | undefined => {
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const xValues = floats(backend, x);
  const dyValues = floats(backend, dy);
  if (xValues === undefined || dyValues === undefined || x.shape.length !== 4 || dy.shape.length !== 4) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Tensor4Shape, attrs.filterShape as Tensor4Shape, attrs.strides, 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
  if (!tf.util.arraysEqual(info.outShape, dy.shape)) return undefined;
  const dfilter = output(backend, tf.util.sizeFromShape(info.filterShape));
  const dbias = output(backend, info.outChannels);
  if (!native.conv2dBackpropFilter(convShape(info), xValues, dyValues, dfilter, dbias)) return undefined;
  return [
    backend.makeTensorInfo(info.filterShape, 'float32', dfilter),
    backend.makeTensorInfo([info.outChannels], 'float32', dbias),
  ];
};

function registerFusedConvGradient(): void {
  tf.registerGradient({
    kernelName: FUSED_CONV,
    inputsToSave: ['x', 'filter', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, bias, y] = saved;
      const { strides, pad, dimRoundingMode } = attrs as unknown as FusedConvAttrs;
      const engine = tf.engine();
      const dyActivation = engine.runKernel(RELU_GRAD, { dy: dy as tf.Tensor, x: y }) as tf.Tensor;
      const [dfilter, dbias] = engine.runKernel(FILTER_BIAS_GRAD, { x, dy: dyActivation },
        { strides, pad, dimRoundingMode, dataFormat: 'NHWC', filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return {
        // Lazy, so the first layer's input gradient (never needed) is not computed.
        x: () => engine.runKernel(tf.Conv2DBackpropInput, { dy: dyActivation, filter },
          { strides, pad, dimRoundingMode, dataFormat: 'NHWC', inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () => dfilter,
        bias: () => tf.reshape(dbias, bias.shape),
      };
    },
  });
}

type FusedConv2dOp = typeof tf.fused.conv2d;

/** Routes tf.fused.conv2d with bias + ReLU through FUSED_CONV when on onednn and a gradient tape records. */
function patchFusedConv2d(): void {
  const ops = tf.fused as unknown as { conv2d: FusedConv2dOp & { ninOnednn?: boolean } };
  if (ops.conv2d.ninOnednn) return;
  const original = ops.conv2d;
  const patched = ((args: Parameters<FusedConv2dOp>[0]) => {
    const { x, filter, bias, strides, pad, dataFormat, dilations, dimRoundingMode, activation, preluActivationWeights } = args;
    const recording = (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
    if (!recording || tf.getBackend() !== ONEDNN_BACKEND || activation !== 'relu' || preluActivationWeights != null ||
        !isNhwc(dataFormat) || !isOne(dilations) || !(x instanceof tf.Tensor) || !(filter instanceof tf.Tensor) ||
        !(bias instanceof tf.Tensor) || x.rank !== 4 || filter.rank !== 4 || bias.rank !== 1 ||
        x.dtype !== 'float32' || filter.dtype !== 'float32' || bias.dtype !== 'float32' || bias.size !== filter.shape[3]) {
      return original(args);
    }
    return tf.engine().runKernel(FUSED_CONV, { x, filter, bias },
      { strides, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode, activation } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }) as FusedConv2dOp & { ninOnednn?: boolean };
  patched.ninOnednn = true;
  ops.conv2d = patched;
}

/** The kernels the onednn backend runs natively (the rest are TF.js's pure-JS 'cpu' kernels). */
export function onednnNativeKernels(): string[] {
  return [...Object.keys(NATIVE_KERNELS), RELU_GRAD, FUSED_CONV, FILTER_BIAS_GRAD];
}

let registered = false;
const calls = new Map<string, { native: number; fallback: number }>();

/**
 * Per replaced kernel: how often it ran natively, and how often it handed its inputs to the JS kernel
 * (unsupported dtype, layout or shape). For tests and profiling.
 */
export function onednnKernelCalls(): Record<string, { native: number; fallback: number }> {
  return Object.fromEntries([...calls].map(([name, count]) => [name, { ...count }]));
}

/** Registers the 'onednn' backend (idempotent); throws Error(reason) when the addon is unavailable. */
export function registerOnednnBackend(): void {
  if (registered && tf.findBackendFactory(ONEDNN_BACKEND) != null) return;
  const native = requireAddon();
  if (tf.findBackendFactory(ONEDNN_BACKEND) == null) {
    tf.registerBackend(ONEDNN_BACKEND, () => new OnednnBackend(), BACKEND_PRIORITY);
  }
  const configs: tf.KernelConfig[] = [
    ...tf.getKernelsForBackend('cpu'),
    { kernelName: RELU_GRAD, backendName: 'cpu', kernelFunc: reluGradKernel as tf.KernelFunc },
    { kernelName: FUSED_CONV, backendName: 'cpu', kernelFunc: cpuKernel(tf.FusedConv2D) },
    { kernelName: FILTER_BIAS_GRAD, backendName: 'cpu', kernelFunc: filterBiasGradKernel as tf.KernelFunc },
  ];
  const nativeKernels: Record<string, NativeKernel> = {
    ...NATIVE_KERNELS, [RELU_GRAD]: reluGradNative, [FUSED_CONV]: fusedConv2dKernel,
    [FILTER_BIAS_GRAD]: filterBiasGradNative as unknown as NativeKernel,
  };
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, ONEDNN_BACKEND) !== undefined) tf.unregisterKernel(config.kernelName, ONEDNN_BACKEND);
    const nativeKernel = nativeKernels[config.kernelName];
    const jsKernel = config.kernelFunc;
    const fallback: tf.KernelFunc = (args) => {
      const result = jsKernel(args);
      pinAliasedInputs(args.backend as MathBackendCPU, args.inputs, result);
      return result;
    };
    if (nativeKernel === undefined) {
      tf.registerKernel({ ...config, backendName: ONEDNN_BACKEND, kernelFunc: fallback });
      continue;
    }
    const count = { native: 0, fallback: 0 };
    calls.set(config.kernelName, count);
    tf.registerKernel({
      ...config,
      backendName: ONEDNN_BACKEND,
      kernelFunc: (args) => {
        const out = nativeKernel(args, native, args.backend as MathBackendCPU);
        if (out !== undefined) {
          count.native++;
          return out;
        }
        count.fallback++;
        return fallback(args);
      },
    });
  }
  registerReluGradient();
  registerFusedConvGradient();
  patchFusedConv2d();
  registered = true;
}

/** ReLU's gradient through RELU_GRAD on the onednn backend, TF.js's own (dy * step(x)) on any other. */
function registerReluGradient(): void {
  const original = tf.getGradient(tf.Relu);
  if (original === undefined || (original as { ninOnednn?: boolean }).ninOnednn) return;
  const config: tf.GradConfig & { ninOnednn: boolean } = {
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    ninOnednn: true,
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== ONEDNN_BACKEND || Array.isArray(dy)) return original.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor };
    },
  };
  tf.registerGradient(config);
}
