// Each kernel the onednn backend replaces, against the pure-JS 'cpu' kernel it replaces, on random inputs:
// strides 1/2/4, valid/same/explicit padding, kernels 1/3/5/11, batches of 1 and more, non-square images.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  OnednnConvLayouts,
  onednnConvLayouts,
  onednnKernelCalls,
  onednnStatus,
  onednnThreads,
  onednnTimers,
  registerOnednnBackend,
  setOnednnConvLayouts,
  setOnednnThreads,
} from '../../src/backend/onednn';
import { ConvShape, PoolShape, requireAddon } from '../../src/backend/onednn/addon';

const TOLERANCE = 1e-4;

interface Input {
  shape: number[];
  values: Float32Array;
}

/** Deterministic values in [-1, 1) (or [0, 1) after ReLU-like clamping when `relu`), from a small LCG. */
function random(shape: number[], seed: number, relu = false): Input {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed >>> 0 || 1;
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const v = state / 2 ** 31 - 1;
    values[i] = relu ? Math.max(0, v) : v;
  }
  return { shape, values };
}

interface Output {
  shape: number[];
  values: Float32Array;
}

/** Runs fn on fresh copies of the inputs on one backend, returns its output's shape and values. */
async function runOn(backend: string, inputs: Input[], fn: (...t: tf.Tensor[]) => tf.Tensor): Promise<Output> {
  await tf.setBackend(backend);
  const tensors = inputs.map((i) => tf.tensor(i.values.slice(), i.shape));
  const out = fn(...tensors);
  const result = { shape: out.shape.slice(), values: Float32Array.from(out.dataSync()) };
  tf.dispose([out, ...tensors]);
  return result;
}

/** The onednn backend's buffer pool (made current first), to see where it places buffers. */
async function onednnPool(): Promise<{ take(n: number): Float32Array; takeLayout(b: number, h: boolean): Uint16Array }> {
  await tf.setBackend('onednn');
  return (tf.backend() as unknown as { pool: Awaited<ReturnType<typeof onednnPool>> }).pool;
}

/** Transparent huge pages the kernel gives on request (madvise or always), or why a test needing them is skipped. */
function thpSkip(): string | false {
  try {
    const mode = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    return /\[(madvise|always)\]/.test(mode) ? false : `transparent huge pages are off here (${mode.trim()})`;
  } catch {
    return 'no transparent huge pages on this system';
  }
}

/** Bytes of this process's anonymous memory in huge pages. */
function anonHugeBytes(): number {
  const match = /^AnonHugePages:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** max |a - b| / max |b|: robust for sums of hundreds of terms, where single small entries carry large relative error. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/** Same op on 'cpu' and 'onednn': same shape, values within TOLERANCE, and `kernel` ran natively on onednn. */
async function check(kernel: string, inputs: Input[], fn: (...t: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const expected = await runOn('cpu', inputs, fn);
  const before = onednnKernelCalls()[kernel];
  assert.ok(before, `${kernel} is not a replaced kernel`);
  const actual = await runOn('onednn', inputs, fn);
  const after = onednnKernelCalls()[kernel];
  assert.ok(after.native > before.native, `${kernel} did not run natively`);
  assert.equal(after.fallback, before.fallback, `${kernel} fell back to JS`);
  assert.deepEqual(actual.shape, expected.shape);
  for (const v of actual.values) assert.ok(!Number.isNaN(v), `${kernel} produced NaN`);
  const error = relativeError(actual.values, expected.values);
  assert.ok(error <= TOLERANCE, `${kernel}: relative error ${error}`);
}

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  x: [number, number, number, number]; // NHWC
  kernel: [number, number];
  outChannels: number;
  strides: number;
  pad: Pad;
  dilations?: number;
}

const CONV_CASES: ConvCase[] = [
  { x: [1, 9, 7, 3], kernel: [1, 1], outChannels: 4, strides: 1, pad: 'valid' },
  { x: [2, 23, 19, 3], kernel: [3, 3], outChannels: 8, strides: 2, pad: 'same' },
  { x: [3, 30, 26, 4], kernel: [5, 5], outChannels: 6, strides: 1, pad: 'same' },
  { x: [2, 67, 53, 1], kernel: [11, 11], outChannels: 16, strides: 4, pad: 'valid' },
  { x: [2, 45, 38, 2], kernel: [11, 11], outChannels: 5, strides: 4, pad: 'same' },
  {
    x: [2, 15, 12, 5],
    kernel: [3, 3],
    outChannels: 7,
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [1, 20, 21, 8], kernel: [3, 5], outChannels: 9, strides: 4, pad: 'same' },
  { x: [2, 14, 11, 6], kernel: [3, 3], outChannels: 10, strides: 2, pad: 1 },
  { x: [1, 16, 13, 3], kernel: [3, 3], outChannels: 4, strides: 1, pad: 'same', dilations: 2 },
  { x: [4, 6, 6, 96], kernel: [1, 1], outChannels: 96, strides: 1, pad: 'valid' },
  { x: [3, 10, 9, 24], kernel: [5, 5], outChannels: 32, strides: 1, pad: 'same' },
  { x: [2, 7, 7, 40], kernel: [3, 3], outChannels: 48, strides: 2, pad: 'valid' },
  // float32 Winograd (3x3, stride 1, channels in 16s), whose transforms would spread an infinity over a tile.
  { x: [2, 6, 6, 32], kernel: [3, 3], outChannels: 32, strides: 1, pad: 'same' },
];

function describeConv(c: ConvCase): string {
  const pad = Array.isArray(c.pad) ? JSON.stringify(c.pad) : c.pad;
  return (
    `x ${c.x.join('x')} kernel ${c.kernel.join('x')} -> ${c.outChannels}, stride ${c.strides}, pad ${pad}` +
    (c.dilations ? `, dilation ${c.dilations}` : '')
  );
}

function convInputs(c: ConvCase, seed: number): { x: Input; filter: Input; bias: Input; dy: Input } {
  const filterShape = [c.kernel[0], c.kernel[1], c.x[3], c.outChannels];
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    filterShape as [number, number, number, number],
    c.strides,
    c.dilations ?? 1,
    c.pad as 'same',
    undefined,
    false,
    'channelsLast',
  );
  return {
    x: random(c.x, seed),
    filter: random(filterShape, seed + 1),
    bias: random([c.outChannels], seed + 2),
    dy: random(info.outShape, seed + 3),
  };
}

function convCases(layouts: OnednnConvLayouts): void {
  before(() => setOnednnConvLayouts(layouts));

  CONV_CASES.forEach((c, i) => {
    describe(describeConv(c), () => {
      const { x, filter, bias, dy } = convInputs(c, 100 + 10 * i);
      const dilations = c.dilations ?? 1;
      test('Conv2D', () =>
        check('Conv2D', [x, filter], (xt, ft) => tf.conv2d(xt as tf.Tensor4D, ft as tf.Tensor4D, c.strides, c.pad, 'NHWC', dilations)));
      test('FusedConv2D with bias and relu', () =>
        check('FusedConv2D', [x, filter, bias], (xt, ft, bt) =>
          tf.fused.conv2d({
            x: xt as tf.Tensor4D,
            filter: ft as tf.Tensor4D,
            bias: bt,
            strides: c.strides,
            pad: c.pad,
            dilations,
            activation: 'relu',
          }),
        ));
      test('FusedConv2D with bias, linear', () =>
        check('FusedConv2D', [x, filter, bias], (xt, ft, bt) =>
          tf.fused.conv2d({
            x: xt as tf.Tensor4D,
            filter: ft as tf.Tensor4D,
            bias: bt,
            strides: c.strides,
            pad: c.pad,
            dilations,
            activation: 'linear',
          }),
        ));
      test('FusedConv2D relu without bias', () =>
        check('FusedConv2D', [x, filter], (xt, ft) =>
          tf.fused.conv2d({
            x: xt as tf.Tensor4D,
            filter: ft as tf.Tensor4D,
            strides: c.strides,
            pad: c.pad,
            dilations,
            activation: 'relu',
          }),
        ));
      if (dilations !== 1) return; // TF.js's conv gradients only exist without dilation
      test('fused conv + bias + relu under a gradient tape (NinFusedConv2D): value and gradients', async () => {
        const fused = (xt: tf.Tensor, ft: tf.Tensor, bt: tf.Tensor) =>
          tf.fused.conv2d({
            x: xt as tf.Tensor4D,
            filter: ft as tf.Tensor4D,
            bias: bt,
            strides: c.strides,
            pad: c.pad,
            activation: 'relu',
          });
        const r = random(
          tf.backend_util.computeConv2DInfo(
            c.x,
            filter.shape as [number, number, number, number],
            c.strides,
            1,
            c.pad as 'same',
            undefined,
            false,
            'channelsLast',
          ).outShape,
          7,
        );
        for (const which of [0, 1, 2, 3]) {
          // which 0: the tape's forward value; 1-3: gradients of sum(y * r) for x, filter, bias.
          await check(which === 0 ? 'NinFusedConv2D' : 'NinReluBiasGrad', [x, filter, bias, r], (xt, ft, bt, rt) => {
            const f = (p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(fused(p, q, s), rt));
            if (which === 0) {
              let y: tf.Tensor | undefined;
              tf.grads((p: tf.Tensor) => {
                y = tf.keep(fused(p, ft, bt));
                return tf.sum(y);
              })([xt]);
              return y!;
            }
            return tf.grads(f)([xt, ft, bt])[which - 1];
          });
        }
      });
      test('Conv2DBackpropInput', () =>
        check(
          'Conv2DBackpropInput',
          [dy, filter],
          (dyt, ft) =>
            tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: ft }, {
              inputShape: c.x,
              strides: c.strides,
              pad: c.pad,
              dataFormat: 'NHWC',
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ));
      test('Conv2DBackpropFilter', () =>
        check(
          'Conv2DBackpropFilter',
          [x, dy],
          (xt, dyt) =>
            tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, {
              filterShape: filter.shape,
              strides: c.strides,
              pad: c.pad,
              dataFormat: 'NHWC',
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ));
    });
  });
}

interface PoolCase {
  x: [number, number, number, number];
  size: [number, number];
  strides: number;
  pad: 'valid' | 'same';
}

const POOL_CASES: PoolCase[] = [
  { x: [2, 22, 22, 96], size: [3, 3], strides: 2, pad: 'valid' },
  { x: [1, 13, 10, 5], size: [3, 3], strides: 2, pad: 'same' },
  { x: [3, 9, 11, 70], size: [2, 3], strides: 1, pad: 'same' },
  { x: [2, 5, 5, 10], size: [5, 5], strides: 5, pad: 'valid' },
  { x: [2, 17, 15, 4], size: [5, 5], strides: 4, pad: 'same' },
  { x: [1, 8, 8, 3], size: [1, 1], strides: 1, pad: 'valid' },
];

before(() => {
  // Fail, not skip: CI builds the addon, so a missing one is a broken build.
  const status = onednnStatus();
  assert.ok(status.available, status.reason);
  registerOnednnBackend();
});

after(async () => {
  setOnednnConvLayouts('auto');
  await tf.setBackend('cpu');
});

describe('convolutions in plain nhwc/hwio layouts', () => convCases('plain'));
describe('convolutions with blocked weights', () => convCases('blocked-weights'));
describe('convolutions with blocked weights and activations', () => convCases('blocked'));
describe('convolutions with layouts chosen per shape (the default)', () => convCases('auto'));

describe('pooling', () => {
  POOL_CASES.forEach((c, i) => {
    describe(`x ${c.x.join('x')} window ${c.size.join('x')} stride ${c.strides} pad ${c.pad}`, () => {
      const x = random(c.x, 500 + i);
      // After ReLU many window entries tie at 0: the gradient must go to the same (first) maximum as in TF.js.
      const xRelu = random(c.x, 600 + i, true);
      const info = tf.backend_util.computePool2DInfo(c.x, c.size, c.strides, 1, c.pad);
      const dy = random(info.outShape, 700 + i);
      const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad } as unknown as tf.NamedAttrMap;
      test('MaxPool', () => check('MaxPool', [x], (xt) => tf.maxPool(xt as tf.Tensor4D, c.size, c.strides, c.pad)));
      test('AvgPool', () => check('AvgPool', [x], (xt) => tf.avgPool(xt as tf.Tensor4D, c.size, c.strides, c.pad)));
      for (const [name, input] of [
        ['random', x],
        ['relu ties', xRelu],
      ] as const) {
        test(`MaxPoolGrad (${name})`, () =>
          check('MaxPoolGrad', [dy, input], (dyt, xt) => {
            const y = tf.maxPool(xt as tf.Tensor4D, c.size, c.strides, c.pad);
            return tf.engine().runKernel('MaxPoolGrad', { dy: dyt, input: xt, output: y }, attrs) as tf.Tensor;
          }));
      }
      test('AvgPoolGrad', () =>
        check('AvgPoolGrad', [dy, x], (dyt, xt) => tf.engine().runKernel('AvgPoolGrad', { dy: dyt, input: xt }, attrs) as tf.Tensor));
    });
  });
});

describe('elementwise', () => {
  const big = [3, 21, 17, 40]; // large enough for the threaded paths
  const a = random(big, 801);
  const b = random(big, 802);
  const scalar = random([], 803);
  const row = random([40], 804);
  const row3 = random([1, 1, 40], 805);
  test('Relu', () => check('Relu', [a], (t) => tf.relu(t)));
  test('Relu on a small tensor', () => check('Relu', [random([7], 806)], (t) => tf.relu(t)));
  test('Step', () => check('Step', [a], (t) => tf.step(t)));
  test('Step with alpha', () => check('Step', [a], (t) => tf.step(t, 0.25)));
  test('Sqrt', () => check('Sqrt', [a], (t) => tf.sqrt(tf.abs(t))));
  test('Square', () => check('Square', [a], (t) => tf.square(t)));
  const ops: [string, (p: tf.Tensor, q: tf.Tensor) => tf.Tensor][] = [
    ['Add', tf.add],
    ['Sub', tf.sub],
    ['Multiply', tf.mul],
    ['RealDiv', tf.div],
  ];
  for (const [kernel, op] of ops) {
    test(`${kernel} same shape`, () => check(kernel, [a, b], op));
    test(`${kernel} scalar first`, () => check(kernel, [scalar, b], op));
    test(`${kernel} scalar second`, () => check(kernel, [a, scalar], op));
    test(`${kernel} row over the last axis`, () => check(kernel, [a, row], op));
    test(`${kernel} [1,1,C] row first`, () => check(kernel, [row3, b], op));
  }
  test('Multiply with a [1, C] x [N, 1] broadcast falls back to JS and agrees', async () => {
    const p = random([5, 1], 810);
    const q = random([1, 6], 811);
    const expected = await runOn('cpu', [p, q], tf.mul);
    const actual = await runOn('onednn', [p, q], tf.mul);
    assert.deepEqual(actual.shape, expected.shape);
    assert.ok(relativeError(actual.values, expected.values) <= TOLERANCE);
  });
});

describe('reductions', () => {
  const x = random([4, 13, 11, 96], 900);
  test('Sum over [0, 1, 2] (bias gradient)', () => check('Sum', [x], (t) => tf.sum(t, [0, 1, 2])));
  test('Sum over [0] keepDims', () => check('Sum', [x], (t) => tf.sum(t, 0, true)));
  test('Sum over the last axis', () => check('Sum', [x], (t) => tf.sum(t, -1)));
  test('Sum over [2, 3]', () => check('Sum', [x], (t) => tf.sum(t, [3, 2])));
  test('Sum over everything', () => check('Sum', [x], (t) => tf.sum(t)));
  test('Mean over leading and trailing axes', async () => {
    await check('Mean', [x], (t) => tf.mean(t, 0));
    await check('Mean', [x], (t) => tf.mean(t, -1, true));
  });
});

test('status names the oneDNN version; registering twice is harmless', () => {
  assert.match(onednnStatus().version ?? '', /^\d+\.\d+\.\d+$/);
  registerOnednnBackend();
  assert.ok(tf.findBackendFactory('onednn') != null);
});

test('threads: all cores the process may use by default, settable, positive integers only', () => {
  const initial = onednnThreads();
  // OpenMP counts the cores in the affinity mask (taskset, container CPU sets), as availableParallelism does.
  if (process.env.OMP_NUM_THREADS === undefined) assert.equal(initial, os.availableParallelism());
  setOnednnThreads(1);
  assert.equal(onednnThreads(), 1);
  assert.throws(() => setOnednnThreads(0), /positive integer/);
  assert.throws(() => setOnednnThreads(1.5), /positive integer/);
  setOnednnThreads(initial);
  assert.equal(onednnThreads(), initial);
});

test("OpenMP waits by a short spin, then sleeps, unless the user set libgomp's waiting", () => {
  // libgomp reads its environment when the addon loads it: each case is a fresh process.
  const waiting = (env: Record<string, string>): [string | null, string | null] => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const key of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT']) if (!(key in env)) delete childEnv[key];
    const script =
      `require(${JSON.stringify(require.resolve('../../src/backend/onednn/addon'))}).onednnStatus();` +
      'process.stdout.write(JSON.stringify([process.env.OMP_WAIT_POLICY ?? null, process.env.GOMP_SPINCOUNT ?? null]))';
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: childEnv, encoding: 'utf8' }));
  };
  assert.deepEqual(waiting({}), ['passive', '10000']);
  assert.deepEqual(waiting({ OMP_WAIT_POLICY: 'active' }), ['active', null]);
  assert.deepEqual(waiting({ GOMP_SPINCOUNT: '500' }), [null, '500']);
});

test('conv layouts switch, and reject unknown names', () => {
  assert.equal(onednnConvLayouts(), 'auto');
  for (const layouts of ['plain', 'blocked', 'blocked-weights', 'auto'] as const) {
    setOnednnConvLayouts(layouts);
    assert.equal(onednnConvLayouts(), layouts);
  }
  assert.throws(() => setOnednnConvLayouts('nchw' as OnednnConvLayouts), /conv layouts must be one of/);
});

describe('output buffer reuse', () => {
  const big = random([64, 32, 32], 950); // above the pool's minimum size

  test('arrays read with dataSync() stay intact after their tensor is disposed and its buffer reused', async () => {
    await tf.setBackend('onednn');
    const x = tf.tensor(big.values, big.shape);
    const y = tf.relu(x);
    const read = y.dataSync();
    const expected = Float32Array.from(read);
    y.dispose();
    const z = tf.step(x); // takes the buffer y gave back
    assert.deepEqual(read, expected);
    tf.dispose([x, z]);
  });

  test('a JS kernel returning a view of a pooled buffer (Slice) keeps that buffer from being reused', async () => {
    await tf.setBackend('onednn');
    const x = tf.tensor(big.values, big.shape);
    const y = tf.relu(x);
    const slice = tf.slice(y, [3], [2]); // contiguous: TF.js returns a subarray view
    const expected = Float32Array.from(slice.dataSync());
    y.dispose();
    const others = [tf.step(x), tf.neg(x), tf.relu(tf.neg(x))];
    assert.deepEqual(slice.dataSync(), expected);
    tf.dispose([x, slice, ...others]);
  });
});

describe('fused ReLU gradient', () => {
  const x = random([3, 21, 17, 40], 990);
  x.values[5] = NaN;
  x.values[6] = 0;
  const dy = random([3, 21, 17, 40], 991);
  const gradOfRelu = (xt: tf.Tensor, dyt: tf.Tensor) => tf.grad((t: tf.Tensor) => tf.relu(t))(xt, dyt);

  test('tf.grad of relu runs NinReluGrad natively and matches dy * step(x) on cpu, NaN included', async () => {
    const expected = await runOn('cpu', [x, dy], gradOfRelu);
    const before = onednnKernelCalls().NinReluGrad.native;
    const actual = await runOn('onednn', [x, dy], gradOfRelu);
    assert.ok(onednnKernelCalls().NinReluGrad.native > before, 'NinReluGrad did not run');
    assert.deepEqual(actual.shape, expected.shape);
    assert.ok(Number.isNaN(actual.values[5]) && Number.isNaN(expected.values[5]));
    actual.values[5] = expected.values[5] = 0;
    assert.deepEqual(actual.values, expected.values);
  });
});

describe('fused ReLU and bias gradient (NinReluBiasGrad)', () => {
  // One activation in TF.js's layout, with NaN, infinities and zeros in both y and dy.
  const y = withSpecials(random([3, 7, 5, 40], 995), 6, true);
  const dy = withSpecials(random([3, 7, 5, 40], 996), 6, true);
  const onCpu = (yt: tf.Tensor, dyt: tf.Tensor) => {
    const out = tf.mul(dyt, tf.step(yt));
    return [out, tf.sum(out, [0, 1, 2])];
  };
  const onOnednn = (yt: tf.Tensor, dyt: tf.Tensor) => tf.engine().runKernel('NinReluBiasGrad', { dy: dyt, x: yt }) as tf.Tensor[];

  test('dy * step(y) and its sum per channel, as TF.js computes them, NaN and infinities included', async () => {
    const results = async (backend: string, f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor[]) => {
      await tf.setBackend(backend);
      const [yt, dyt] = [tf.tensor(y.values, y.shape), tf.tensor(dy.values, dy.shape)];
      const outs = f(yt, dyt);
      const values = outs.map((t) => Float32Array.from(t.dataSync()));
      tf.dispose([yt, dyt, ...outs]);
      return values;
    };
    const [expectedOut, expectedBias] = await results('cpu', onCpu);
    const before = onednnKernelCalls().NinReluBiasGrad.native;
    const [actualOut, actualBias] = await results('onednn', onOnednn);
    assert.equal(onednnKernelCalls().NinReluBiasGrad.native, before + 1, 'NinReluBiasGrad did not run natively');
    for (let i = 0; i < expectedOut.length; i++) assert.ok(Object.is(actualOut[i], expectedOut[i]), `out at ${i}`);
    let special = 0;
    for (let c = 0; c < expectedBias.length; c++) {
      const [a, e] = [actualBias[c], expectedBias[c]];
      if (!Number.isFinite(e)) {
        special++;
        assert.ok(Object.is(a, e), `bias at ${c}: onednn ${a}, cpu ${e}`);
      } else {
        assert.ok(Math.abs(a - e) <= 1e-5 * Math.max(1, Math.abs(e)), `bias at ${c}: onednn ${a}, cpu ${e}`);
      }
    }
    assert.ok(special > 0, 'no NaN or Inf reached the bias gradient');
  });
});

describe('conv + bias + ReLU in one oneDNN kernel where no NaN can arise', () => {
  // Three 1x1 convolutions with ReLU. The first one's input, from JavaScript, has no known bound: the sum of its |x|
  // (no more values than the output) gives one; each may take oneDNN's ReLU post-op, unless its weights could make a
  // sum overflow (then NaN could arise, which the post-op would turn into 0) and it runs ReLU in a pass of its own.
  const x = random([2, 5, 5, 16], 1901);
  const filters = [random([1, 1, 16, 16], 1902), random([1, 1, 16, 16], 1903), random([1, 1, 16, 16], 1904)];
  const bias = random([16], 1905);
  const chain = (xt: tf.Tensor, ...rest: tf.Tensor[]) =>
    rest
      .slice(0, 3)
      .reduce(
        (y, f) =>
          tf.fused.conv2d({ x: y as tf.Tensor4D, filter: f as tf.Tensor4D, bias: rest[3], strides: 1, pad: 'valid', activation: 'relu' }),
        xt,
      );
  // Native elementwise passes: ReLU's own passes, and one L1 norm per filter or input a bound needs.
  const passes = () => onednnTimers().elementwise.calls;

  test('bounded inputs: no ReLU pass for three layers, the results as on cpu', async () => {
    const expected = await runOn('cpu', [x, ...filters, bias], chain);
    const before = passes();
    const actual = await runOn('onednn', [x, ...filters, bias], chain);
    assert.equal(passes() - before, 1 + 3, "the input's norm and three filter norms: every layer applied ReLU inside");
    assert.ok(relativeError(actual.values, expected.values) <= TOLERANCE);
  });

  test('weights large enough that a sum could overflow: ReLU in a pass, infinities and NaN as on cpu', async () => {
    const huge = { shape: filters[1].shape, values: filters[1].values.map((v) => v * 1e37) };
    const hugeToo = { shape: filters[2].shape, values: filters[2].values.map((v) => v * 1e37) };
    const inputs = [x, filters[0], huge, hugeToo, bias];
    const expected = await runOn('cpu', inputs, chain);
    const before = passes();
    const actual = await runOn('onednn', inputs, chain);
    // The first layer's two norms, then for each huge layer a norm (its filter's, or its input's where that holds an
    // infinity) and a ReLU pass.
    assert.equal(passes() - before, 2 + 2 + 2, 'the two layers with huge weights applied ReLU in a pass');
    let special = 0;
    for (let i = 0; i < expected.values.length; i++) {
      if (Number.isFinite(expected.values[i])) continue;
      special++;
      assert.ok(Object.is(actual.values[i], expected.values[i]), `at ${i}: onednn ${actual.values[i]}, cpu ${expected.values[i]}`);
    }
    assert.ok(special > 0, 'no infinity or NaN reached the output');
  });
});

describe('dropout with its mask drawn natively (NinDropoutMask)', () => {
  const x = withSpecials(random([3, 5, 4, 40], 997), 4, true);

  /** tf.dropout's output and its gradient for dy, on one backend (cpu: TF.js's own dropout). */
  async function dropoutOn(backend: string, rate: number, seed: number | string) {
    await tf.setBackend(backend);
    const xt = tf.tensor(x.values, x.shape);
    const dy = tf.tensor(random(x.shape, 998).values, x.shape);
    const y = tf.dropout(xt, rate, undefined, seed);
    const dx = tf.grad((t: tf.Tensor) => tf.dropout(t, rate, undefined, seed))(xt, dy);
    const result = [Float32Array.from(y.dataSync()), Float32Array.from(dx.dataSync())];
    tf.dispose([xt, dy, y, dx]);
    return result;
  }

  for (const [rate, seed] of [
    [0.5, 0],
    [0.5, 123456789],
    [0.3, 17],
    [0.5, '7'],
    [0.9, 2 ** 40 + 0.5],
  ] as const) {
    test(`rate ${rate}, seed ${JSON.stringify(seed)}: the mask and gradient TF.js draws, bit for bit, specials included`, async () => {
      const [expectedY, expectedDx] = await dropoutOn('cpu', rate, seed);
      const before = onednnKernelCalls().NinDropoutMask.native;
      const [actualY, actualDx] = await dropoutOn('onednn', rate, seed);
      assert.equal(onednnKernelCalls().NinDropoutMask.native, before + 2, 'NinDropoutMask did not run natively');
      for (let i = 0; i < expectedY.length; i++)
        assert.ok(Object.is(actualY[i], expectedY[i]), `y at ${i}: ${actualY[i]} vs ${expectedY[i]}`);
      for (let i = 0; i < expectedDx.length; i++) assert.ok(Object.is(actualDx[i], expectedDx[i]), `dx at ${i}`);
    });
  }

  test('what NinDropoutMask does not take goes to TF.js: no seed, a noise shape, rate 0', async () => {
    await tf.setBackend('onednn');
    const before = onednnKernelCalls().NinDropoutMask.native;
    const xt = tf.tensor(x.values, x.shape);
    const outs = [tf.dropout(xt, 0.5), tf.dropout(xt, 0.5, [3, 1, 1, 40], 1), tf.dropout(xt, 0, undefined, 1)];
    assert.equal(onednnKernelCalls().NinDropoutMask.native, before);
    assert.deepEqual(outs[2].dataSync(), xt.dataSync());
    tf.dispose([xt, ...outs]);
  });
});

// ---- NaN and Inf: every native kernel gives what TF.js's cpu kernel gives -----------------------------

/** A copy of `input` with NaN, +Inf and -Inf at `count` spread-out positions each (and zeros when `zeros`). */
function withSpecials(input: Input, count = 1, zeros = false): Input {
  const values = input.values.slice();
  const specials = zeros ? [NaN, Infinity, -Infinity, 0] : [NaN, Infinity, -Infinity];
  const slots = specials.length * count;
  const step = Math.max(1, Math.floor(values.length / (slots + 1)));
  for (let i = 0; i < slots; i++) values[(3 + i * step) % values.length] = specials[i % specials.length];
  return { shape: input.shape, values };
}

interface SpecialsOptions {
  mayFallBack?: boolean; // the addon may hand this call to TF.js on purpose (see pads_through_gemm in native/src/conv.cc)
  reachOutput?: boolean; // NaN or Inf must reach the output (default true), so the comparison means something
}

/**
 * Same op on 'cpu' and 'onednn': NaN exactly where cpu has NaN, the same infinities, finite values within
 * TOLERANCE of the largest finite one; and `kernel` ran natively.
 */
async function checkSpecials(
  kernel: string,
  inputs: Input[],
  fn: (...t: tf.Tensor[]) => tf.Tensor,
  options: SpecialsOptions = {},
): Promise<void> {
  const { mayFallBack = false, reachOutput = true } = options;
  const expected = await runOn('cpu', inputs, fn);
  const before = onednnKernelCalls()[kernel];
  const actual = await runOn('onednn', inputs, fn);
  const after = onednnKernelCalls()[kernel];
  if (!mayFallBack) assert.equal(after.fallback, before.fallback, `${kernel} fell back to JS`);
  assert.ok(after.native + after.fallback > before.native + before.fallback, `${kernel} did not run`);
  assert.deepEqual(actual.shape, expected.shape);
  let scale = 0;
  for (const v of expected.values) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let special = 0;
  for (let i = 0; i < expected.values.length; i++) {
    const [a, e] = [actual.values[i], expected.values[i]];
    const where = `${kernel} at ${i}: onednn ${a}, cpu ${e}`;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      special++;
      assert.ok(Object.is(a, e), where);
    } else {
      assert.ok(Math.abs(a - e) <= TOLERANCE * Math.max(scale, 1e-30), where);
    }
  }
  if (reachOutput) assert.ok(special > 0, `${kernel}: no NaN or Inf reached the output, so the test shows nothing`);
}

describe('NaN and Inf propagate as on cpu', () => {
  const SPECIAL_CONV_CASES: ConvCase[] = [CONV_CASES[1], CONV_CASES[3], CONV_CASES[9], CONV_CASES[10], CONV_CASES[12]];
  for (const layouts of ['plain', 'blocked-weights', 'blocked', 'auto'] as const) {
    describe(`convolutions, ${layouts} layouts`, () => {
      before(() => setOnednnConvLayouts(layouts));
      after(() => setOnednnConvLayouts('auto'));
      SPECIAL_CONV_CASES.forEach((c, i) => {
        const { x, filter, bias, dy } = convInputs(c, 1000 + 10 * i);
        // oneDNN's gemm kernels (plain layouts) multiply padding by the filter or dy: those calls go to TF.js.
        const padded = { mayFallBack: layouts === 'plain' && c.pad !== 'valid' };
        const conv = (xt: tf.Tensor, ft: tf.Tensor) => tf.conv2d(xt as tf.Tensor4D, ft as tf.Tensor4D, c.strides, c.pad);
        const fused = (xt: tf.Tensor, ft: tf.Tensor, bt: tf.Tensor) =>
          tf.fused.conv2d({
            x: xt as tf.Tensor4D,
            filter: ft as tf.Tensor4D,
            bias: bt,
            strides: c.strides,
            pad: c.pad,
            activation: 'relu',
          });
        const backpropInput = (dyt: tf.Tensor, ft: tf.Tensor) =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: ft }, {
            inputShape: c.x,
            strides: c.strides,
            pad: c.pad,
            dataFormat: 'NHWC',
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
        const backpropFilter = (xt: tf.Tensor, dyt: tf.Tensor) =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, {
            filterShape: filter.shape,
            strides: c.strides,
            pad: c.pad,
            dataFormat: 'NHWC',
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
        describe(describeConv(c), () => {
          test('Conv2D, specials in x', () => checkSpecials('Conv2D', [withSpecials(x), filter], conv));
          test('Conv2D, specials in the filter', () => checkSpecials('Conv2D', [x, withSpecials(filter)], conv, padded));
          test('FusedConv2D with bias and relu, specials in x (ReLU keeps NaN)', () =>
            checkSpecials('FusedConv2D', [withSpecials(x), filter, bias], fused));
          test('FusedConv2D with bias and relu, specials in the bias', () =>
            checkSpecials('FusedConv2D', [x, filter, withSpecials(bias)], fused));
          test('FusedConv2D with bias and relu, specials in the filter', () =>
            checkSpecials('FusedConv2D', [x, withSpecials(filter), bias], fused, padded));
          test('NinFusedConv2D under a gradient tape: value and gradients, specials in x', async () => {
            const xs = withSpecials(x);
            const r = random(dy.shape, 7);
            await checkSpecials('NinFusedConv2D', [xs, filter, bias], (xt, ft, bt) => {
              let y: tf.Tensor | undefined;
              tf.grads((p: tf.Tensor) => {
                y = tf.keep(fused(p, ft, bt));
                return tf.sum(y);
              })([xt]);
              return y!;
            });
            for (const which of [0, 1, 2]) {
              await checkSpecials(
                'NinReluBiasGrad',
                [xs, filter, bias, r],
                (xt, ft, bt, rt) =>
                  tf.grads((p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(fused(p, q, s), rt)))([xt, ft, bt])[which],
                padded,
              );
            }
          });
          test('Conv2DBackpropInput, specials in dy', () =>
            checkSpecials('Conv2DBackpropInput', [withSpecials(dy), filter], backpropInput));
          test('Conv2DBackpropInput, specials in the filter', () =>
            checkSpecials('Conv2DBackpropInput', [dy, withSpecials(filter)], backpropInput));
          test('Conv2DBackpropFilter, specials in x', () => checkSpecials('Conv2DBackpropFilter', [withSpecials(x), dy], backpropFilter));
          test('Conv2DBackpropFilter, specials in dy', () =>
            checkSpecials('Conv2DBackpropFilter', [x, withSpecials(dy)], backpropFilter, padded));
        });
      });
    });
  }

  describe('pooling', () => {
    POOL_CASES.slice(0, 3).forEach((c, i) => {
      describe(`x ${c.x.join('x')} window ${c.size.join('x')} stride ${c.strides} pad ${c.pad}`, () => {
        const x = withSpecials(random(c.x, 1500 + i), 4);
        const info = tf.backend_util.computePool2DInfo(c.x, c.size, c.strides, 1, c.pad);
        const dy = random(info.outShape, 1600 + i);
        const attrs = { filterSize: c.size, strides: c.strides, pad: c.pad } as unknown as tf.NamedAttrMap;
        const maxPoolGrad = (dyt: tf.Tensor, xt: tf.Tensor) =>
          tf
            .engine()
            .runKernel(
              'MaxPoolGrad',
              { dy: dyt, input: xt, output: tf.maxPool(xt as tf.Tensor4D, c.size, c.strides, c.pad) },
              attrs,
            ) as tf.Tensor;
        // TF.js's max pool skips NaN (a window of NaN and 1 gives 1); its average pool keeps it.
        test('MaxPool', () => checkSpecials('MaxPool', [x], (xt) => tf.maxPool(xt as tf.Tensor4D, c.size, c.strides, c.pad)));
        test('AvgPool', () => checkSpecials('AvgPool', [x], (xt) => tf.avgPool(xt as tf.Tensor4D, c.size, c.strides, c.pad)));
        test('MaxPoolGrad, specials in x (they move the maximum, as on cpu)', () =>
          checkSpecials('MaxPoolGrad', [dy, x], maxPoolGrad, { reachOutput: false }));
        test('MaxPoolGrad, specials in dy', () => checkSpecials('MaxPoolGrad', [withSpecials(dy, 4), random(c.x, 1700 + i)], maxPoolGrad));
        // Under a gradient tape the forward records where each maximum lies and the gradient scatters from that.
        const gradOfPool = (dyt: tf.Tensor, xt: tf.Tensor) =>
          tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, c.size, c.strides, c.pad))(xt, dyt);
        test('tf.grad of maxPool (the recorded maxima), specials in x', () =>
          checkSpecials('MaxPoolGrad', [dy, x], gradOfPool, { reachOutput: false }));
        test('tf.grad of maxPool (the recorded maxima), specials in dy', () =>
          checkSpecials('MaxPoolGrad', [withSpecials(dy, 4), random(c.x, 1700 + i)], gradOfPool));
        test('AvgPoolGrad, specials in dy', () =>
          checkSpecials(
            'AvgPoolGrad',
            [withSpecials(dy, 4), x],
            (dyt, xt) => tf.engine().runKernel('AvgPoolGrad', { dy: dyt, input: xt }, attrs) as tf.Tensor,
          ));
      });
    });
  });

  describe('elementwise and reductions', () => {
    const big = [3, 21, 17, 40]; // large enough for the threaded paths
    const a = withSpecials(random(big, 1801), 50, true);
    const b = withSpecials(random(big, 1802), 50, true);
    const small = withSpecials(random([13], 1806), 1, true);
    test('Relu', () => checkSpecials('Relu', [a], (t) => tf.relu(t)));
    test('Relu on a small tensor', () => checkSpecials('Relu', [small], (t) => tf.relu(t)));
    test('Step', () => checkSpecials('Step', [a], (t) => tf.step(t)));
    test('Step with alpha', () => checkSpecials('Step', [a], (t) => tf.step(t, 0.25)));
    test('Sqrt (of negatives too)', () => checkSpecials('Sqrt', [a], (t) => tf.sqrt(t)));
    test('Square', () => checkSpecials('Square', [a], (t) => tf.square(t)));
    const ops: [string, (p: tf.Tensor, q: tf.Tensor) => tf.Tensor][] = [
      ['Add', tf.add],
      ['Sub', tf.sub],
      ['Multiply', tf.mul],
      ['RealDiv', tf.div],
    ];
    for (const [kernel, op] of ops) {
      test(`${kernel} same shape`, () => checkSpecials(kernel, [a, b], op));
      test(`${kernel} scalar NaN first`, () => checkSpecials(kernel, [{ shape: [], values: Float32Array.of(NaN) }, b], op));
      test(`${kernel} scalar Inf second`, () => checkSpecials(kernel, [a, { shape: [], values: Float32Array.of(Infinity) }], op));
      test(`${kernel} row over the last axis`, () => checkSpecials(kernel, [a, withSpecials(random([40], 1804), 2, true)], op));
    }
    test('Sum over [0, 1, 2] and over the last axis', async () => {
      await checkSpecials('Sum', [a], (t) => tf.sum(t, [0, 1, 2]));
      await checkSpecials('Sum', [a], (t) => tf.sum(t, -1));
    });
    test('Mean over leading and trailing axes', async () => {
      await checkSpecials('Mean', [a], (t) => tf.mean(t, 0));
      await checkSpecials('Mean', [a], (t) => tf.mean(t, [2, 3]));
    });
    test('NinReluGrad: specials in x and dy', () =>
      checkSpecials('NinReluGrad', [a, b], (xt, dyt) => tf.grad((t: tf.Tensor) => tf.relu(t))(xt, dyt)));
  });
});

// ---- the native boundary: a wrong call is a JS exception, never a crash -----------------------------------

describe('the addon rejects wrong calls with a TypeError or RangeError naming the argument', () => {
  const native = requireAddon();
  const floats = (n: number) => new Float32Array(n);
  // x 2x9x9x3 (486), filter 3x3x3x4 (108), y 2x7x7x4 (392): in plain layouts (below) float32 of those sizes.
  const conv: ConvShape = {
    batch: 2,
    inHeight: 9,
    inWidth: 9,
    inChannels: 3,
    filterHeight: 3,
    filterWidth: 3,
    outChannels: 4,
    outHeight: 7,
    outWidth: 7,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
    padTop: 0,
    padBottom: 0,
    padLeft: 0,
    padRight: 0,
  };
  // x 1x8x8x4 (256), y 1x4x4x4 (64).
  const pool: PoolShape = {
    batch: 1,
    inHeight: 8,
    inWidth: 8,
    channels: 4,
    filterHeight: 2,
    filterWidth: 2,
    outHeight: 4,
    outWidth: 4,
    strideHeight: 2,
    strideWidth: 2,
    padTop: 0,
    padLeft: 0,
  };
  const { relu } = native.UnaryOp;
  const { add } = native.BinaryOp;
  const { same, scalarA, rowB } = native.Broadcast;
  const rejects = (call: () => unknown, name: 'TypeError' | 'RangeError', message: RegExp) =>
    assert.throws(call, (err: Error) => err.name === name && message.test(err.message), `expected ${name} ${message}`);
  // TF.js's own layouts, so that each buffer is a Float32Array of the tensor's element count.
  before(() => setOnednnConvLayouts('plain'));
  after(() => setOnednnConvLayouts('auto'));
  const ports = (pass: 'forward' | 'backwardData' | 'backwardWeights', bias = false) => {
    const p = native.convPorts(native.ConvPass[pass], conv, bias);
    assert.ok(p !== null, `no ${pass} primitive`);
    return p;
  };
  const poolX = () => native.plainLayout(native.LayoutRole.activation, [1, 4, 8, 8]);
  const poolY = () => native.layoutLike(poolX(), [1, 4, 4, 4], false);

  test('well-formed calls work (the cases below each break one thing)', () => {
    const f = ports('forward', true);
    const d = ports('backwardData');
    const w = ports('backwardWeights', true);
    assert.equal(typeof native.conv2d(conv, f.x, floats(486), f.filter, floats(108), floats(4), true, f.y, floats(392)), 'boolean');
    assert.equal(native.conv2d(conv, f.x, floats(486), f.filter, floats(108), floats(4), false, f.y, floats(392)), false);
    assert.equal(native.reluInPlace(Float32Array.of(-1, 2, 0.5)), 2);
    assert.ok(Number.isNaN(native.reluInPlace(Float32Array.of(-1, NaN))));
    const sum = native.absSum(Float32Array.of(-1, 2, -0.5)); // an upper bound within 2^-15
    assert.ok(sum >= 3.5 && sum <= 3.5 * (1 + 2 ** -15), `absSum ${sum}`);
    assert.equal(native.conv2dBackpropInput(conv, d.y, floats(392), d.filter, floats(108), d.x, floats(486)), true);
    assert.equal(native.conv2dBackpropFilter(conv, w.x, floats(486), w.y, floats(392), w.filter, floats(108)), true);
    native.reluGradBias(poolX(), floats(256), poolX(), floats(256), floats(256), floats(4));
    native.maxPool(pool, poolX(), floats(256), poolY(), floats(64), null);
    native.maxPoolGrad(pool, poolY(), floats(64), poolX(), floats(256), poolX(), floats(256), null);
    native.avgPool(pool, poolX(), floats(256), poolY(), floats(64));
    native.avgPoolGrad(pool, native.layoutLike(poolX(), [1, 4, 4, 4], true), new Uint16Array(64), poolX(), floats(256));
    native.unary(relu, floats(10), floats(10), 0);
    native.binary(add, rowB, floats(12), floats(4), floats(12), 4);
    native.reluGrad(floats(12), new Uint16Array(12), new Uint16Array(12));
    native.multiply(new Uint16Array(12), floats(12), new Uint16Array(12));
    native.dropoutMask(0.25, 0.5, 0.75, 1, 0.5, floats(12));
    native.sumLeading(floats(12), floats(4), 3, 4);
    native.sumTrailing(floats(12), floats(3), 3, 4);
    native.unary(relu, floats(0), floats(0), 0); // empty tensors are fine for elementwise ops
    const blocked = native.layoutLike(poolX(), [1, 4, 8, 8], true);
    native.reorder(poolX(), floats(256), blocked, new Uint16Array(256));
    assert.equal(typeof native.reorderIsReference(poolX(), blocked), 'boolean');
    assert.equal(native.layout(blocked).bf16, true);
    assert.equal(native.layout(blocked).plain, poolX());
  });

  test('layout ids: each kernel reads and writes the layouts convPorts names, and no id names nothing', () => {
    const f = ports('forward');
    const other = native.plainLayout(native.LayoutRole.activation, [2, 3, 9, 10]);
    rejects(
      () => native.conv2d(conv, other, floats(540), f.filter, floats(108), null, false, f.y, floats(392)),
      'RangeError',
      new RegExp(`^conv2d: xLayout must be ${f.x} \\(the layout this kernel reads\\), got ${other}$`),
    );
    rejects(
      () => native.conv2d(conv, f.x, floats(486), f.filter, floats(108), null, false, f.x, floats(486)),
      'RangeError',
      /^conv2d: yLayout must be \d+ \(the layout this kernel writes\)/,
    );
    rejects(() => native.layout(1 << 30), 'RangeError', /^layout: id 1073741824 names no layout$/);
    rejects(() => native.layout(0), 'RangeError', /^layout: id must be an integer from 1/);
    rejects(
      () => native.maxPool(pool, 1 << 30, floats(256), poolY(), floats(64), null),
      'RangeError',
      /^maxPool: xLayout 1073741824 names no layout$/,
    );
    // A pooled tensor's layout must hold the shape's input, and the output must be arranged alike.
    rejects(
      () => native.maxPool(pool, poolY(), floats(64), poolY(), floats(64), null),
      'RangeError',
      /^maxPool: xLayout must hold a 1x4x8x8/,
    );
    rejects(() => native.maxPool(pool, poolX(), floats(256), poolX(), floats(256), null), 'RangeError', /^maxPool: yLayout must be \d+/);
    // A reorder is between two layouts of one tensor.
    const bigger = native.plainLayout(native.LayoutRole.activation, [1, 4, 8, 9]);
    rejects(
      () => native.reorder(poolX(), floats(256), bigger, floats(288)),
      'RangeError',
      /^reorder: fromLayout and toLayout must hold the same tensor/,
    );
    rejects(
      () => native.reorderIsReference(poolX(), bigger),
      'RangeError',
      /^reorderIsReference: fromLayout and toLayout must hold the same tensor/,
    );
    rejects(() => native.reorderIsReference(poolX(), 1 << 30), 'RangeError', /^reorderIsReference: toLayout 1073741824 names no layout$/);
    assert.equal(native.layoutLike(f.filter, [1, 1, 1, 1], false), 0, 'a filter layout is not one the pooling loops walk');
    rejects(
      () => native.reluGradBias(poolX(), floats(256), poolY(), floats(64), floats(256), floats(4)),
      'RangeError',
      /^reluGradBias: dyLayout \(\d+\) must be arranged as yLayout/,
    );
    rejects(
      () => native.reluGradBias(f.filter, floats(108), f.filter, floats(108), floats(108), floats(4)),
      'RangeError',
      /^reluGradBias: yLayout must be an activation/,
    );
  });

  test('dims of a layout: an Array of positive sizes, as many as the role has', () => {
    const { activation, vector } = native.LayoutRole;
    rejects(() => native.plainLayout(activation, [1, 2, 3]), 'RangeError', /^plainLayout: dims must have 4 sizes, got 3$/);
    rejects(() => native.plainLayout(vector, [1, 2]), 'RangeError', /^plainLayout: dims must have 1 sizes, got 2$/);
    rejects(() => native.plainLayout(activation, [1, 0, 3, 4]), 'RangeError', /^plainLayout: dims\[1\] must be an integer from 1/);
    rejects(
      () => native.plainLayout(activation, new Int32Array(4) as unknown as number[]),
      'TypeError',
      /^plainLayout: dims must be an Array of 4 sizes, got an Int32Array$/,
    );
    rejects(
      () => native.plainLayout(activation, [2 ** 24, 2 ** 24, 1, 1]),
      'RangeError',
      /^plainLayout: dims gives more than 2147483647 elements$/,
    );
    rejects(() => native.plainLayout(3, [1]), 'RangeError', /^plainLayout: role must be one of 0 activation, 1 weights, 2 vector, got 3$/);
  });

  test('a short or long output', () => {
    const f = ports('forward');
    const d = ports('backwardData');
    rejects(
      () => native.conv2d(conv, f.x, floats(486), f.filter, floats(108), null, false, f.y, floats(391)),
      'RangeError',
      new RegExp(`^conv2d: y must have 1568 bytes \\(layout ${f.y}\\), got 1564$`),
    );
    rejects(
      () => native.conv2dBackpropInput(conv, d.y, floats(392), d.filter, floats(108), d.x, floats(485)),
      'RangeError',
      /conv2dBackpropInput: dx must have 1944 bytes/,
    );
    rejects(
      () => native.reluGradBias(poolX(), floats(256), poolX(), floats(256), floats(256), floats(3)),
      'RangeError',
      /^reluGradBias: dbias must have 4 elements \(yLayout's channels\), got 3$/,
    );
    rejects(
      () => native.reluGradBias(poolX(), floats(256), poolX(), floats(256), new Uint16Array(256), floats(4)),
      'RangeError',
      /^reluGradBias: out must be a Float32Array of 1024 bytes \(yLayout's\)$/,
    );
    rejects(() => native.maxPool(pool, poolX(), floats(256), poolY(), floats(10), null), 'RangeError', /^maxPool: y must have 256 bytes/);
    rejects(
      () => native.maxPool(pool, poolX(), floats(256), poolY(), floats(64), new Uint8Array(63)),
      'RangeError',
      /^maxPool: where must have 64 bytes \(one per element of the pooled output\), got 63$/,
    );
    rejects(
      () => native.maxPool(pool, poolX(), floats(256), poolY(), floats(64), new Int8Array(64) as unknown as Uint8Array),
      'TypeError',
      /^maxPool: where must be a Uint8Array, got an Int8Array$/,
    );
    rejects(
      () => native.maxPoolGrad(pool, poolY(), floats(64), poolX(), floats(256), poolX(), floats(256), new Uint8Array(65)),
      'RangeError',
      /^maxPoolGrad: where must have 64 bytes/,
    );
    rejects(
      () => native.avgPoolGrad(pool, poolY(), floats(64), poolX(), floats(257)),
      'RangeError',
      /^avgPoolGrad: dx must have 1024 bytes/,
    );
    rejects(() => native.unary(relu, floats(4), floats(1 << 16), 0), 'RangeError', /^unary: y must have 4 elements \(x's length\)/);
    rejects(() => native.reluGrad(floats(4), floats(4), floats(5)), 'RangeError', /^reluGrad: out must have 4 elements \(dy's\)$/);
    rejects(() => native.multiply(floats(4), floats(4), new Uint16Array(5)), 'RangeError', /^multiply: out must have 4 elements \(a's\)$/);
    rejects(() => native.sumLeading(floats(12), floats(3), 3, 4), 'RangeError', /^sumLeading: out must have 4 elements \(inner\)/);
    rejects(() => native.reorder(poolX(), floats(256), poolX(), floats(255)), 'RangeError', /^reorder: to must have 1024 bytes/);
  });

  test('a short or long input', () => {
    const f = ports('forward');
    rejects(
      () => native.conv2d(conv, f.x, floats(10), f.filter, floats(108), null, false, f.y, floats(392)),
      'RangeError',
      new RegExp(`^conv2d: x must have 1944 bytes \\(layout ${f.x}\\), got 40$`),
    );
    rejects(
      () => native.conv2d(conv, f.x, floats(486), f.filter, floats(109), null, false, f.y, floats(392)),
      'RangeError',
      /filter must have 432 bytes/,
    );
    const fb = ports('forward', true);
    rejects(
      () => native.conv2d(conv, fb.x, floats(486), fb.filter, floats(108), floats(3), false, fb.y, floats(392)),
      'RangeError',
      /bias must have 4/,
    );
    rejects(
      () => native.maxPoolGrad(pool, poolY(), floats(64), poolX(), floats(255), poolX(), floats(256), null),
      'RangeError',
      /^maxPoolGrad: x must have 1024 bytes/,
    );
    rejects(() => native.reluGrad(floats(4), new Uint16Array(5), floats(4)), 'RangeError', /^reluGrad: y must have 4 elements/);
    rejects(() => native.binary(add, same, floats(100), floats(3), floats(100), 1), 'RangeError', /^binary: b must have 100 elements/);
    rejects(
      () => native.binary(add, scalarA, floats(2), floats(100), floats(100), 1),
      'RangeError',
      /^binary: a must have 1 elements \(one scalar/,
    );
    rejects(() => native.binary(add, rowB, floats(12), floats(3), floats(12), 4), 'RangeError', /^binary: b must have 4 elements \(inner/);
    rejects(
      () => native.sumLeading(floats(10), floats(4), 1000, 4),
      'RangeError',
      /^sumLeading: x must have 4000 elements \(outer\*inner\)/,
    );
  });

  test('an output that shares memory with another buffer', () => {
    const x = floats(10);
    rejects(() => native.unary(relu, x, x, 0), 'RangeError', /^unary: y must not share memory with x$/);
    rejects(
      () => native.reluInPlace(new Float64Array(4) as unknown as Float32Array),
      'TypeError',
      /^reluInPlace: y must be a Float32Array or a Uint16Array/,
    );
    rejects(() => native.absSum([1, 2] as unknown as Float32Array), 'TypeError', /^absSum: x must be a Float32Array or a Uint16Array/);
    const buffer = floats(20);
    rejects(() => native.unary(relu, buffer.subarray(0, 10), buffer.subarray(5, 15), 0), 'RangeError', /share memory/);
    native.binary(add, same, x, x, floats(10), 1); // inputs may share memory
    rejects(() => native.reluGrad(x, floats(10), x), 'RangeError', /^reluGrad: out must not share memory with dy$/);
    const halves = new Uint16Array(40);
    rejects(
      () => native.reluGrad(floats(10), halves.subarray(0, 10), halves.subarray(5, 15)),
      'RangeError',
      /out must not share memory with y/,
    );
    const f = ports('forward');
    const xs = floats(486);
    rejects(
      () => native.conv2d(conv, f.x, xs, f.filter, floats(108), null, false, f.x, xs),
      'RangeError',
      /^conv2d: yLayout must be/, // checked before memory: the layout comes first
    );
  });

  test('a wrong type', () => {
    const f = ports('forward');
    const fb = ports('forward', true);
    rejects(
      () =>
        native.conv2d(conv, f.x, new Float64Array(486) as unknown as Float32Array, f.filter, floats(108), null, false, f.y, floats(392)),
      'TypeError',
      /^conv2d: x must be a Float32Array or a Uint16Array \(bfloat16\), got a Float64Array$/,
    );
    rejects(
      () => native.conv2d(conv, f.x, new Uint16Array(972), f.filter, floats(108), null, false, f.y, floats(392)),
      'TypeError',
      new RegExp(`^conv2d: x must be a Float32Array \\(layout ${f.x} holds float32\\), got a Uint16Array$`),
    );
    rejects(
      () => native.maxPool(pool, poolX(), Array(256).fill(0) as unknown as Float32Array, poolY(), floats(64), null),
      'TypeError',
      /x must be a Float32Array or a Uint16Array \(bfloat16\), got an Array/,
    );
    rejects(
      () => native.conv2d(conv, fb.x, floats(486), fb.filter, floats(108), undefined as unknown as null, false, fb.y, floats(392)),
      'TypeError',
      /bias must be a Float32Array, got undefined/,
    );
    rejects(
      () => native.conv2d(conv, f.x, floats(486), f.filter, floats(108), null, 1 as unknown as boolean, f.y, floats(392)),
      'TypeError',
      /fusedRelu must be a boolean, got the number 1/,
    );
    rejects(
      () => native.conv2d(conv, '1' as unknown as number, floats(486), f.filter, floats(108), null, false, f.y, floats(392)),
      'TypeError',
      /^conv2d: xLayout must be a number, got a string$/,
    );
    rejects(
      () => native.unary('relu' as unknown as number, floats(4), floats(4), 0),
      'TypeError',
      /^unary: op must be a number, got a string$/,
    );
    rejects(() => native.unary(relu, floats(4), floats(4), null as unknown as number), 'TypeError', /alpha must be a number, got null/);
    rejects(() => native.setThreads('2' as unknown as number), 'TypeError', /^setThreads: threads must be a number/);
    rejects(
      () =>
        native.maxPool(
          Int32Array.from([1, 8, 8, 4, 2, 2, 4, 4, 2, 2, 0, 0]) as unknown as PoolShape,
          poolX(),
          floats(256),
          poolY(),
          floats(64),
          null,
        ),
      'TypeError',
      /^maxPool: shape must be an object of 12 named sizes, got an Int32Array$/,
    );
    rejects(
      () => native.layoutLike(poolX(), [1, 4, 8, 8], 1 as unknown as boolean),
      'TypeError',
      /^layoutLike: bf16 must be a boolean, got the number 1$/,
    );
    rejects(
      () => native.convPorts(native.ConvPass.forward, conv, 'no' as unknown as boolean),
      'TypeError',
      /^convPorts: bias must be a boolean/,
    );
  });

  test('the dropout mask: a generator state and a rate in range', () => {
    rejects(() => native.dropoutMask(1, 0.5, 0.5, 1, 0.5, floats(4)), 'RangeError', /^dropoutMask: s0 must be in \[0, 1\), got 1$/);
    rejects(() => native.dropoutMask(0.5, -0.1, 0.5, 1, 0.5, floats(4)), 'RangeError', /^dropoutMask: s1 must be in \[0, 1\)/);
    rejects(() => native.dropoutMask(0.5, 0.5, 0.5, 1.5, 0.5, floats(4)), 'RangeError', /^dropoutMask: c must be a whole number/);
    rejects(() => native.dropoutMask(0.5, 0.5, 0.5, 2 ** 31, 0.5, floats(4)), 'RangeError', /^dropoutMask: c must be a whole number/);
    rejects(() => native.dropoutMask(0.5, 0.5, NaN, 1, 0.5, floats(4)), 'RangeError', /^dropoutMask: s2 must be in \[0, 1\), got nan$/i);
    rejects(
      () => native.dropoutMask(0.5, 0.5, 0.5, 1, 1, floats(4)),
      'RangeError',
      /^dropoutMask: keep must be a float32 value in \(0, 1\), got 1$/,
    );
    rejects(() => native.dropoutMask(0.5, 0.5, 0.5, 1, 0.1, floats(4)), 'RangeError', /^dropoutMask: keep must be a float32 value/);
    rejects(
      () => native.dropoutMask('0' as unknown as number, 0.5, 0.5, 1, 0.5, floats(4)),
      'TypeError',
      /^dropoutMask: s0 must be a number, got a string$/,
    );
    rejects(
      () => native.dropoutMask(0.5, 0.5, 0.5, 1, 0.5, new Uint16Array(4) as unknown as Float32Array),
      'TypeError',
      /mask must be a Float32Array/,
    );
  });

  test('missing or extra arguments', () => {
    const call = (f: unknown, ...args: unknown[]) => (f as (...a: unknown[]) => unknown)(...args);
    rejects(() => call(native.unary, relu), 'TypeError', /^unary: expected 4 arguments, got 1$/);
    rejects(() => call(native.conv2d, conv, 1, floats(486), 2, floats(108)), 'TypeError', /^conv2d: expected 9 arguments, got 5$/);
    rejects(() => call(native.avgPool), 'TypeError', /^avgPool: expected 5 arguments, got 0$/);
    rejects(() => call(native.threads, 1), 'TypeError', /^threads: expected 0 arguments, got 1$/);
    rejects(() => call(native.sumTrailing, floats(12), floats(3), 3, 4, 5), 'TypeError', /expected 4 arguments, got 5/);
    rejects(() => call(native.reorder, 1, floats(1)), 'TypeError', /^reorder: expected 4 arguments, got 2$/);
    rejects(() => call(native.reorderIsReference, 1), 'TypeError', /^reorderIsReference: expected 2 arguments, got 1$/);
  });

  test('an enum value out of range', () => {
    rejects(
      () => native.unary(4, floats(4), floats(4), 0),
      'RangeError',
      /^unary: op must be one of 0 relu, 1 step, 2 sqrt, 3 square, got 4$/,
    );
    rejects(() => native.unary(-1, floats(4), floats(4), 0), 'RangeError', /got -1$/);
    rejects(() => native.unary(1.5, floats(4), floats(4), 0), 'RangeError', /got 1.5$/);
    rejects(() => native.unary(NaN, floats(4), floats(4), 0), 'RangeError', /got nan$/i);
    rejects(
      () => native.binary(4, same, floats(4), floats(4), floats(4), 1),
      'RangeError',
      /^binary: op must be one of 0 add, 1 sub, 2 mul, 3 div, got 4$/,
    );
    rejects(
      () => native.binary(add, 5, floats(4), floats(4), floats(4), 1),
      'RangeError',
      /^binary: broadcast must be one of .*4 rowA, got 5$/,
    );
    rejects(
      () => native.convPorts(3, conv, false),
      'RangeError',
      /^convPorts: pass must be one of 0 forward, 1 backwardData, 2 backwardWeights, got 3$/,
    );
    rejects(
      () => native.setConvLayouts(4),
      'RangeError',
      /^setConvLayouts: layouts must be one of 0 plain, 1 blocked-weights, 2 blocked, 3 auto, got 4$/,
    );
    rejects(() => native.setThreads(0), 'RangeError', /^setThreads: threads must be an integer from 1 to/);
  });

  test('a bad shape: negative, zero, absurd, missing or extra fields', () => {
    const f = ports('forward');
    const forward = (shape: ConvShape) => native.conv2d(shape, f.x, floats(486), f.filter, floats(108), null, false, f.y, floats(392));
    rejects(() => forward({ ...conv, batch: -2 }), 'RangeError', /^conv2d: shape.batch must be an integer from 1 to 16777216, got -2$/);
    rejects(
      () => native.maxPool({ ...pool, inHeight: 0 }, poolX(), floats(256), poolY(), floats(64), null),
      'RangeError',
      /^maxPool: shape.inHeight must be an integer from 1/,
    );
    rejects(
      () => native.maxPool({ ...pool, strideWidth: 0 }, poolX(), floats(256), poolY(), floats(64), null),
      'RangeError',
      /shape.strideWidth must be an integer from 1/,
    );
    rejects(() => forward({ ...conv, padTop: -1 }), 'RangeError', /shape.padTop must be an integer from 0/);
    rejects(() => forward({ ...conv, outHeight: 2.5 }), 'RangeError', /shape.outHeight .* got 2.5$/);
    rejects(
      () => native.maxPool({ ...pool, channels: 2 ** 31 }, poolX(), floats(256), poolY(), floats(64), null),
      'RangeError',
      /shape.channels must be an integer from 1 to 16777216, got 2147483648$/,
    );
    // Each size is allowed, their product is not: the element count is checked before it can overflow.
    const huge = { ...pool, batch: 2 ** 24, inHeight: 2 ** 24, inWidth: 2 ** 24, channels: 2 ** 24 };
    rejects(
      () => native.maxPool(huge, poolX(), floats(256), poolY(), floats(64), null),
      'RangeError',
      /^maxPool: the shape gives x more than 2147483647 elements$/,
    );
    rejects(
      () => native.convPorts(native.ConvPass.forward, { ...conv, inChannels: 2 ** 24, inHeight: 2 ** 24 }, false),
      'RangeError',
      /^convPorts: the shape gives x more than 2147483647 elements$/,
    );
    const { padRight: _, ...missing } = conv;
    rejects(() => forward(missing as ConvShape), 'TypeError', /^conv2d: shape.padRight must be a number, got undefined$/);
    rejects(
      () => native.maxPool({ ...pool, padBottom: 0 } as PoolShape, poolX(), floats(256), poolY(), floats(64), null),
      'TypeError',
      /^maxPool: shape must have exactly 12 fields, got 13$/,
    );
    rejects(
      () => native.binary(add, rowB, floats(12), floats(5), floats(12), 5),
      'RangeError',
      /^binary: inner \(5\) must divide out's length \(12\)$/,
    );
    rejects(() => native.binary(add, rowB, floats(12), floats(0), floats(12), 0), 'RangeError', /^binary: inner must be an integer from 1/);
    rejects(() => native.sumLeading(floats(12), floats(4), -3, 4), 'RangeError', /^sumLeading: outer must be an integer from 0/);
  });

  test('alignment: the offset of the first 64-byte aligned byte of an ArrayBuffer, where pooled buffers start', async () => {
    for (const bytes of [1, 1000, 1 << 20]) {
      const offset = native.alignment(new ArrayBuffer(bytes));
      assert.ok(Number.isInteger(offset) && offset >= 0 && offset < 64, `offset ${offset}`);
    }
    rejects(
      () => native.alignment(new Float32Array(4) as unknown as ArrayBuffer),
      'TypeError',
      /^alignment: buffer must be an ArrayBuffer, got a Float32Array$/,
    );
    const pool = await onednnPool();
    for (const view of [pool.take(100), pool.take(1 << 17), pool.takeLayout((1 << 21) - 2, true)]) {
      assert.equal(view.byteOffset, native.alignment(view.buffer as ArrayBuffer), 'a pooled buffer starts at an aligned address');
    }
  });

  test('hugePages: a pooled buffer of 2 MiB or more starts at a 2 MiB boundary, advised for huge pages', async () => {
    const twoMiB = 2 * 2 ** 20;
    for (const bytes of [5 * twoMiB, 2 * twoMiB - 1]) {
      const buffer = new ArrayBuffer(bytes);
      const offset = native.hugePages(buffer);
      assert.ok(Number.isInteger(offset) && offset >= 0 && offset < twoMiB && offset + twoMiB <= bytes, `offset ${offset}`);
      assert.equal((offset - native.alignment(buffer)) % 64, 0, 'a 2 MiB boundary is 64-byte aligned too');
    }
    assert.equal(native.hugePages(new ArrayBuffer(1000)), -1, 'no whole 2 MiB page inside');
    rejects(
      () => native.hugePages(new Uint8Array(4) as unknown as ArrayBuffer),
      'TypeError',
      /^hugePages: buffer must be an ArrayBuffer, got a Uint8Array$/,
    );
    const pool = await onednnPool();
    for (const view of [pool.take(1 << 20), pool.takeLayout(3 << 20, true)]) {
      assert.equal(
        view.byteOffset,
        native.hugePages(view.buffer as ArrayBuffer),
        'a large pooled buffer starts at its first 2 MiB boundary',
      );
      assert.ok(view.byteOffset + view.byteLength <= view.buffer.byteLength);
    }
  });

  test('large native outputs live in huge pages where Linux gives them on request', { skip: thpSkip() }, async () => {
    await tf.setBackend('onednn');
    const before = anonHugeBytes();
    const x = tf.tensor(random([64, 22, 22, 96], 1200).values, [64, 22, 22, 96]);
    const filter = tf.tensor(random([1, 1, 96, 96], 1201).values, [1, 1, 96, 96]);
    const y = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'valid'); // 11.9 MB out of the pool
    y.dataSync();
    assert.ok(anonHugeBytes() - before >= 2 * 2 ** 20, `huge pages before ${before}, after ${anonHugeBytes()}`);
    tf.dispose([x, filter, y]);
  });

  test('the enums are frozen objects read from the addon, in the order of nin_onednn.h', () => {
    assert.deepEqual({ ...native.UnaryOp }, { relu: 0, step: 1, sqrt: 2, square: 3 });
    assert.deepEqual({ ...native.BinaryOp }, { add: 0, sub: 1, mul: 2, div: 3 });
    assert.deepEqual({ ...native.Broadcast }, { same: 0, scalarA: 1, scalarB: 2, rowB: 3, rowA: 4 });
    assert.deepEqual({ ...native.ConvLayouts }, { plain: 0, 'blocked-weights': 1, blocked: 2, auto: 3 });
    assert.deepEqual({ ...native.LayoutRole }, { activation: 0, weights: 1, vector: 2 });
    assert.deepEqual({ ...native.ConvPass }, { forward: 0, backwardData: 1, backwardWeights: 2 });
    const enums = [native.UnaryOp, native.BinaryOp, native.Broadcast, native.ConvLayouts, native.LayoutRole, native.ConvPass];
    for (const values of enums) assert.ok(Object.isFrozen(values));
    assert.throws(() => {
      (native.UnaryOp as Record<string, number>).relu = 3;
    }, TypeError);
  });
});
