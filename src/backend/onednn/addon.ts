// The nin_onednn native addon (native/src/) as TypeScript sees it: where it is, whether it loads (and the
// fix when not), its typed surface and enums, and the process-wide settings it holds (threads, conv layouts).
import * as path from 'node:path';
import { clearConvPorts } from './conv-ports';

export interface OnednnStatus {
  available: boolean;
  reason?: string; // one line naming the fix
  version?: string; // oneDNN's version, e.g. "2.6.3"
  isa?: string; // the instruction set oneDNN dispatches to, e.g. "avx512_core_bf16"
  nativeBf16?: boolean; // whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX)
}

/** One 2-D convolution, named as TF.js's Conv2DInfo names it (padding flattened); see nin::ConvShape. */
export interface ConvShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  filterHeight: number;
  filterWidth: number;
  outChannels: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}

/** One 2-D pooling window over each channel; see nin::PoolShape. */
export interface PoolShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  filterHeight: number;
  filterWidth: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

// The names of the addon's enums; their numbers come from the addon (nin_onednn.h's name tables).
const UNARY_OPS = ['relu', 'step', 'sqrt', 'square'] as const;
const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;
const BROADCASTS = ['same', 'scalarA', 'scalarB', 'rowB', 'rowA'] as const;
const LAYOUT_ROLES = ['activation', 'weights', 'vector'] as const;
const CONV_PASSES = ['forward', 'backwardData', 'backwardWeights'] as const;
export type LayoutRole = (typeof LAYOUT_ROLES)[number];
export type ConvPass = (typeof CONV_PASSES)[number];
/**
 * Memory layouts of the convolutions, for benchmarks and tests: 'plain' runs oneDNN on TF.js's own
 * nhwc/hwio layouts (its gemm kernels); 'blocked-weights' keeps nhwc activations and gives the weights oneDNN's
 * blocked layout, which gets its direct AVX-512 kernels; 'blocked' lets oneDNN choose every layout; 'auto' (the
 * default) is 'blocked': tensors stay in the layouts oneDNN chose from one layer to the next.
 */
const CONV_LAYOUTS = ['plain', 'blocked-weights', 'blocked', 'auto'] as const;
export type OnednnConvLayouts = (typeof CONV_LAYOUTS)[number];
/**
 * The convolutions' arithmetic: 'fp32', or 'bf16', mixed precision as PyTorch's CPU autocast: activations and
 * their gradients bfloat16 between native kernels, sums in float32, weights, weight gradients and the optimizer
 * float32, and whatever JavaScript reads float32.
 */
export const CONV_PRECISIONS = ['fp32', 'bf16'] as const;
export type ConvPrecision = (typeof CONV_PRECISIONS)[number];
/** Native time per kind of work (nin::Timer), in the addon's order. */
export const NATIVE_TIMERS = [
  'convForward',
  'convBackwardData',
  'convBackwardWeights',
  'reorderWeights',
  'reorderActivations',
  'pool',
  'elementwise',
] as const;
export type NativeTimer = (typeof NATIVE_TIMERS)[number];
/** Wall seconds, CPU seconds of every thread of the process (what the work cost on a shared machine), calls. */
export type NativeTimes = Record<NativeTimer, { seconds: number; cpuSeconds: number; calls: number }>;

/** One forward convolution timed alone, in the layouts oneDNN prefers: fastest of several calls. */
export interface ConvBenchmark {
  seconds: number;
  cpuSeconds: number; // every thread's
  implementation: string; // e.g. "brgconv:avx512_core_amx_bf16"
}

/** A tensor's buffer in some layout: float32, or bfloat16 values kept as the top 16 bits of a float32. */
export type LayoutBuffer = Float32Array | Uint16Array;

/** One registered memory layout (nin::LayoutInfo). */
export interface LayoutInfo {
  bytes: number; // a buffer's size, padding included
  bf16: boolean; // bfloat16 elements (a Uint16Array), else float32 (a Float32Array)
  role: number; // LayoutRole value: decides the plain twin
  plain: number; // the same tensor as TF.js keeps it (float32, row-major of its shape)
  f32: number; // the same arrangement in float32: layouts with equal f32 order their elements alike
  block: number; // channels per plane for the pooling loops (0: an arrangement they do not walk)
  dims: number[]; // N, C, H, W (activations); O, I, H, W (weights); C (vectors)
}

/** The layouts of one convolution pass, by the tensor's role (nin::ConvPorts). */
export interface ConvPorts {
  x: number;
  filter: number;
  y: number;
}

/** An enum as the addon exports it: a frozen {name: value} object. */
type NativeEnum<Names extends readonly string[]> = Readonly<Record<Names[number], number>>;

/**
 * What native/src/addon.cc exports. Every function checks its arguments (count, types, each buffer's length
 * against the shape, enum ranges) and throws a TypeError or RangeError naming the wrong one.
 */
export interface Addon {
  readonly UnaryOp: NativeEnum<typeof UNARY_OPS>;
  readonly BinaryOp: NativeEnum<typeof BINARY_OPS>;
  readonly Broadcast: NativeEnum<typeof BROADCASTS>;
  readonly ConvLayouts: NativeEnum<typeof CONV_LAYOUTS>;
  readonly Precision: NativeEnum<typeof CONV_PRECISIONS>;
  readonly LayoutRole: NativeEnum<typeof LAYOUT_ROLES>;
  readonly ConvPass: NativeEnum<typeof CONV_PASSES>;
  layout(id: number): LayoutInfo;
  plainLayout(role: number, dims: number[]): number;
  // 0 when `id` is not an arrangement the pooling loops walk.
  layoutLike(id: number, dims: number[], bf16: boolean): number;
  reorder(fromLayout: number, from: LayoutBuffer, toLayout: number, to: LayoutBuffer): void;
  // Whether oneDNN has only its slow reference code for this reorder (both layouts of one tensor).
  reorderIsReference(fromLayout: number, toLayout: number): boolean;
  // null when oneDNN rejects the shape; then the caller runs TF.js's kernel.
  convPorts(pass: number, shape: ConvShape, bias: boolean): ConvPorts | null;
  // Convolutions hand the call to TF.js (false; null for conv2d) when they must (see multiplies_padding in
  // native/src/conv.cc). Each tensor comes in the layout convPorts names for its pass, with the layout's id beside it.
  // conv2d's fusedRelu asks for oneDNN's ReLU post-op, which turns NaN into 0: only for inputs where no NaN can arise
  // (kernels-conv.ts); it returns whether ReLU was applied.
  conv2d(
    shape: ConvShape,
    xLayout: number,
    x: LayoutBuffer,
    filterLayout: number,
    filter: LayoutBuffer,
    bias: Float32Array | null,
    fusedRelu: boolean,
    yLayout: number,
    y: LayoutBuffer,
  ): boolean | null;
  conv2dBackpropInput(
    shape: ConvShape,
    dyLayout: number,
    dy: LayoutBuffer,
    filterLayout: number,
    filter: LayoutBuffer,
    dxLayout: number,
    dx: LayoutBuffer,
  ): boolean;
  conv2dBackpropFilter(
    shape: ConvShape,
    xLayout: number,
    x: LayoutBuffer,
    dyLayout: number,
    dy: LayoutBuffer,
    dfilterLayout: number,
    dfilter: LayoutBuffer,
  ): boolean;
  // null when oneDNN rejects the shape; see nin::benchmark_conv_forward.
  benchmarkConv(shape: ConvShape, repetitions: number): ConvBenchmark | null;
  // Pooling over x in a layout the loops walk (block != 0); the other tensors arranged alike (layoutLike).
  // where: null, or one byte per element of y where maxPool records each window's maximum and maxPoolGrad scatters
  // from it instead of finding the maxima in x again (windows of at most 255 pixels).
  maxPool(shape: PoolShape, xLayout: number, x: LayoutBuffer, yLayout: number, y: LayoutBuffer, where: Uint8Array | null): void;
  maxPoolGrad(
    shape: PoolShape,
    dyLayout: number,
    dy: LayoutBuffer,
    xLayout: number,
    x: LayoutBuffer,
    dxLayout: number,
    dx: LayoutBuffer, // float32, or with `where` dy's element type
    where: Uint8Array | null,
  ): void;
  avgPool(shape: PoolShape, xLayout: number, x: LayoutBuffer, yLayout: number, y: Float32Array): void;
  avgPoolGrad(shape: PoolShape, dyLayout: number, dy: LayoutBuffer, dxLayout: number, dx: Float32Array): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  binary(op: number, broadcast: number, a: Float32Array, b: Float32Array, out: Float32Array, inner: number): void;
  // dy * step(y) over three buffers of one element count in one arrangement, each float32 or bfloat16.
  reluGrad(dy: LayoutBuffer, y: LayoutBuffer, out: LayoutBuffer): void;
  // The same in y's layout (out too), and dbias the per-channel sum of out: a convolution's ReLU and bias gradients.
  reluGradBias(yLayout: number, y: LayoutBuffer, dyLayout: number, dy: LayoutBuffer, out: LayoutBuffer, dbias: Float32Array): void;
  // ReLU in place (NaN kept, as TF.js's), returning the largest value left (NaN when one is NaN).
  reluInPlace(y: LayoutBuffer): number;
  // The sum of |v| in double (NaN or infinity when one is).
  absSum(x: LayoutBuffer): number;
  // a * b over three buffers of one element count in one arrangement, each float32 or bfloat16.
  multiply(a: LayoutBuffer, b: LayoutBuffer, out: LayoutBuffer): void;
  // TF.js's dropout multiplier from an Alea generator in this state; keep = Math.fround(1 - rate) (see dropout.ts).
  dropoutMask(s0: number, s1: number, s2: number, c: number, keep: number, mask: Float32Array): void;
  // One SGD (acc and accOut null) or momentum step of one variable, weight decay first (0: none); see nin::sgd_update.
  sgdUpdate(
    w: Float32Array,
    g: Float32Array,
    acc: Float32Array | null,
    wOut: Float32Array,
    accOut: Float32Array | null,
    negLr: number,
    momentum: number,
    nesterov: boolean,
    decay: number,
  ): void;
  sumLeading(x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  sumTrailing(x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  // Bytes from an ArrayBuffer's start to its first 64-byte aligned address (0-63).
  alignment(buffer: ArrayBuffer): number;
  // Advises the buffer's whole 2 MiB pages for transparent huge pages: the offset of the first (-1: none, or not Linux).
  hugePages(buffer: ArrayBuffer): number;
  setThreads(n: number): void;
  threads(): number;
  cores(): number;
  setConvLayouts(layouts: number): void;
  convLayouts(): number;
  setConvPrecision(precision: number): void;
  convPrecision(): number;
  cpu(): { isa: string; nativeBf16: boolean };
  timers(): NativeTimes;
  resetTimers(): void;
  clearCache(): void;
  version(): string;
}

// Compiled to dist/src/backend/onednn/, the addon lives in native/build/Release/ at the package root.
// NIN_ONEDNN_ADDON points at another build of it (native/sanitize.sh runs the tests on a sanitizer build).
const ADDON_PATH =
  process.env.NIN_ONEDNN_ADDON ?? path.join(__dirname, '..', '..', '..', '..', 'native', 'build', 'Release', 'nin_onednn.node');
const REBUILD_HINT = 'apt-get install libdnnl-dev, then npm rebuild';

let addon: Addon | undefined;
let loadFailure: string | undefined;

/** Functions added to the addon after its first release: a build without them is older than the sources. */
const NEWER_FUNCTIONS = [
  'sgdUpdate',
  'benchmarkConv',
  'convPorts',
  'reluGrad',
  'reluGradBias',
  'alignment',
  'multiply',
  'dropoutMask',
  'hugePages',
] as const;

/** The first enum name or function this TypeScript expects that the loaded addon lacks (a build older than the sources). */
function missingName(loaded: Addon): string | undefined {
  const missingFunction = NEWER_FUNCTIONS.find((name) => typeof (loaded as unknown as Record<string, unknown>)[name] !== 'function');
  if (missingFunction !== undefined) return missingFunction;
  const expected: [string, readonly string[]][] = [
    ['UnaryOp', UNARY_OPS],
    ['BinaryOp', BINARY_OPS],
    ['Broadcast', BROADCASTS],
    ['ConvLayouts', CONV_LAYOUTS],
    ['Precision', CONV_PRECISIONS],
    ['LayoutRole', LAYOUT_ROLES],
    ['ConvPass', CONV_PASSES],
  ];
  for (const [enumName, names] of expected) {
    const values = (loaded as unknown as Record<string, Record<string, unknown> | undefined>)[enumName];
    const missing = names.find((name) => typeof values?.[name] !== 'number');
    if (missing !== undefined) return `${enumName}.${missing}`;
  }
  return undefined;
}

function loadAddon(): Addon | undefined {
  if (addon !== undefined || loadFailure !== undefined) return addon;
  // libgomp reads these when the addon loads it, so they are set first, unless the user chose either. How long an
  // OpenMP thread spins before it sleeps: libgomp's default (300,000 spins, about 3 ms) steals the core from the
  // thread with work whenever anything else runs on the machine (2.5-3x slower steps with one busy neighbour), and
  // passive waiting alone (no spin) puts the second thread to sleep between every two kernels, which then waits
  // for it to wake up: a 2-thread step at 96px ran 3-4% slower in fp32 and 4-8% in bf16 than with a short spin.
  // 10,000 spins (about 0.1 ms) cover the gaps between a step's kernels and cost 5% with a busy neighbour.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.OMP_WAIT_POLICY = 'passive';
    process.env.GOMP_SPINCOUNT = '10000';
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon loads only through require
    const loaded = require(ADDON_PATH) as Addon;
    const missing = missingName(loaded);
    if (missing === undefined) addon = loaded;
    else loadFailure = `the oneDNN addon is older than nin's sources (it has no ${missing}): npm rebuild`;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const detail = (e.message ?? String(err)).split('\n')[0];
    loadFailure =
      e.code === 'MODULE_NOT_FOUND'
        ? `the oneDNN addon is not built (no ${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH}): ${REBUILD_HINT}`
        : `the oneDNN addon does not load (${detail}): ${REBUILD_HINT}`;
  }
  return addon;
}

export function onednnStatus(): OnednnStatus {
  const native = loadAddon();
  if (native === undefined) return { available: false, reason: loadFailure };
  try {
    return { available: true, version: native.version(), ...native.cpu() };
  } catch (err) {
    return { available: false, reason: `the oneDNN addon does not answer (${(err as Error).message}): ${REBUILD_HINT}` };
  }
}

/** The loaded addon; throws Error(reason) when it is unavailable. */
export function requireAddon(): Addon {
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

/** Frees the addon's convolution primitives (and what was learnt of them here). */
export function clearOnednnCache(): void {
  clearConvPorts();
  requireAddon().clearCache();
}

export function setOnednnConvLayouts(layouts: OnednnConvLayouts): void {
  const native = requireAddon();
  if (!Object.hasOwn(native.ConvLayouts, layouts)) {
    throw new Error(`conv layouts must be one of ${Object.keys(native.ConvLayouts).join(', ')} (got ${layouts})`);
  }
  clearConvPorts();
  native.setConvLayouts(native.ConvLayouts[layouts]);
}

export function onednnConvLayouts(): OnednnConvLayouts {
  const native = requireAddon();
  const value = native.convLayouts();
  const name = CONV_LAYOUTS.find((n) => native.ConvLayouts[n] === value);
  if (name === undefined) throw new Error(`the oneDNN addon reports unknown conv layouts ${value}`);
  return name;
}

export function setOnednnConvPrecision(precision: ConvPrecision): void {
  const native = requireAddon();
  if (!Object.hasOwn(native.Precision, precision)) {
    throw new Error(`conv precision must be one of ${Object.keys(native.Precision).join(', ')} (got ${precision})`);
  }
  clearConvPorts();
  native.setConvPrecision(native.Precision[precision]);
}

export function onednnConvPrecision(): ConvPrecision {
  const native = requireAddon();
  const value = native.convPrecision();
  const name = CONV_PRECISIONS.find((n) => native.Precision[n] === value);
  if (name === undefined) throw new Error(`the oneDNN addon reports unknown conv precision ${value}`);
  return name;
}

/** Native seconds and calls per kind of work since the last resetOnednnTimers(). */
export function onednnTimers(): NativeTimes {
  return requireAddon().timers();
}

export function resetOnednnTimers(): void {
  requireAddon().resetTimers();
}

/** Times one forward convolution alone (current threads and precision); null when oneDNN rejects the shape. */
export function benchmarkOnednnConv(shape: ConvShape, repetitions: number): ConvBenchmark | null {
  return requireAddon().benchmarkConv(shape, repetitions);
}
