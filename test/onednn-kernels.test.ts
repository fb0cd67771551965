// Each kernel the onednn backend replaces, against the pure-JS 'cpu' kernel it replaces, on random inputs:
// strides 1/2/4, valid/same/explicit padding, kernels 1/3/5/11, batches of 1 and more, non-square images.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';
import {
  OnednnConvLayouts, onednnConvLayouts, onednnKernelCalls, onednnStatus, onednnThreads, registerOnednnBackend,
  setOnednnConvLayouts, setOnednnThreads,
} from '../src/backend/onednn';

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
  { x: [2, 15, 12, 5], kernel: [3, 3], outChannels: 7, strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 20, 21, 8], kernel: [3, 5], outChannels: 9, strides: 4, pad: 'same' },
  { x: [2, 14, 11, 6], kernel: [3, 3], outChannels: 10, strides: 2, pad: 1 },
  { x: [1, 16, 13, 3], kernel: [3, 3], outChannels: 4, strides: 1, pad: 'same', dilations: 2 },
  { x: [4, 6, 6, 96], kernel: [1, 1], outChannels: 96, strides: 1, pad: 'valid' },
  { x: [3, 10, 9, 24], kernel: [5, 5], outChannels: 32, strides: 1, pad: 'same' },
  { x: [2, 7, 7, 40], kernel: [3, 3], outChannels: 48, strides: 2, pad: 'valid' },
];

function describeConv(c: ConvCase): string {
  const pad = Array.isArray(c.pad) ? JSON.stringify(c.pad) : c.pad;
  return `x ${c.x.join('x')} kernel ${c.kernel.join('x')} -> ${c.outChannels}, stride ${c.strides}, pad ${pad}` +
    (c.dilations ? `, dilation ${c.dilations}` : '');
}

function convInputs(c: ConvCase, seed: number): { x: Input; filter: Input; bias: Input; dy: Input } {
  const filterShape = [c.kernel[0], c.kernel[1], c.x[3], c.outChannels];
  const info = tf.backend_util.computeConv2DInfo(
    c.x, filterShape as [number, number, number, number], c.strides, c.dilations ?? 1, c.pad as 'same', undefined, false, 'channelsLast');
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
          tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: ft as tf.Tensor4D, bias: bt, strides: c.strides, pad: c.pad, dilations, activation: 'relu' })));
      test('FusedConv2D with bias, linear', () =>
        check('FusedConv2D', [x, filter, bias], (xt, ft, bt) =>
          tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: ft as tf.Tensor4D, bias: bt, strides: c.strides, pad: c.pad, dilations, activation: 'linear' })));
      test('FusedConv2D relu without bias', () =>
        check('FusedConv2D', [x, filter], (xt, ft) =>
          tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: ft as tf.Tensor4D, strides: c.strides, pad: c.pad, dilations, activation: 'relu' })));
      if (dilations !== 1) return; // TF.js's conv gradients only exist without dilation
      test('fused conv + bias + relu under a gradient tape (NinFusedConv2D): value and gradients', async () => {
        const fused = (xt: tf.Tensor, ft: tf.Tensor, bt: tf.Tensor) => tf.fused.conv2d({
          x: xt as tf.Tensor4D, filter: ft as tf.Tensor4D, bias: bt, strides: c.strides, pad: c.pad, activation: 'relu',
        });
        const r = random(tf.backend_util.computeConv2DInfo(c.x, filter.shape as [number, number, number, number],
          c.strides, 1, c.pad as 'same', undefined, false, 'channelsLast').outShape, 7);
        for (const which of [0, 1, 2, 3]) {
          // which 0: the tape's forward value; 1-3: gradients of sum(y * r) for x, filter, bias.
          await check(which === 0 ? 'NinFusedConv2D' : 'NinConv2DBackpropFilterBias', [x, filter, bias, r], (xt, ft, bt, rt) => {
            const f = (p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(fused(p, q, s), rt));
            if (which === 0) {
              let y: tf.Tensor | undefined;
              tf.grads((p: tf.Tensor) => { y = tf.keep(fused(p, ft, bt)); return tf.sum(y); })([xt]);
              return y!;
            }
            return tf.grads(f)([xt, ft, bt])[which - 1];
          });
        }
      });
      test('Conv2DBackpropInput', () =>
        check('Conv2DBackpropInput', [dy, filter], (dyt, ft) =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: ft },
            { inputShape: c.x, strides: c.strides, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor));
      test('Conv2DBackpropFilter', () =>
        check('Conv2DBackpropFilter', [x, dy], (xt, dyt) =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt },
            { filterShape: filter.shape, strides: c.strides, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor));
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
      for (const [name, input] of [['random', x], ['relu ties', xRelu]] as const) {
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
    ['Add', tf.add], ['Sub', tf.sub], ['Multiply', tf.mul], ['RealDiv', tf.div],
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
  assert.ok(tf.engine().registryFactory.onednn !== undefined);
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
