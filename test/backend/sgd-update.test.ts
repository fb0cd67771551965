// The one-pass SGD / momentum update on onednn (SGD_UPDATE, nin::sgd_update) against what it replaces: weight
// decay added by TF.js ops, then TF.js's own SGD or Momentum optimizer. Bit for bit, state included, so a run is
// the same step for step whichever path updates it, and checkpoints and --resume cannot tell them apart.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { onednnKernelCalls, onednnStatus, registerOnednnBackend } from '../../src/backend/onednn';
import { requireAddon } from '../../src/backend/onednn/addon';
import { SGD_UPDATE } from '../../src/backend/onednn/kernels-update';
import { applyUpdate, makeOptimizer, type OptimizerSpec, type Trainer } from '../../src/train/step';

before(async () => {
  // Fail, not skip: CI builds the addon, so a missing one is a broken build.
  const status = onednnStatus();
  assert.ok(status.available, status.reason);
  registerOnednnBackend();
  await tf.setBackend('onednn');
});

after(async () => {
  await tf.setBackend('cpu');
});

/** Deterministic values in [-scale, scale), from a small LCG; `special` puts NaN, Infinity and -Infinity in. */
function values(n: number, seed: number, scale = 1, special = false): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 31 - 1) * scale;
  }
  if (special) [out[1], out[5], out[9]] = [NaN, Infinity, -Infinity];
  return out;
}

// A conv kernel and its bias, as NiN's layers have them; 7,000 weights so the native loop runs on several threads.
const SHAPES = [[5, 5, 14, 20], [20]];
let names = 0;

/** Variables with the same starting values for each path, and an optimizer of their own. */
function trainer(spec: OptimizerSpec): Trainer {
  const variables = SHAPES.map((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.variable(tf.tensor(values(size, 11 + i), shape), true, `sgd-update-test-${names++}`);
  });
  return { model: undefined as unknown as tf.LayersModel, optimizer: makeOptimizer(spec), variables };
}

/** Step `step`'s gradients for `t`'s variables, the same numbers for both paths. */
function gradients(t: Trainer, step: number, special: boolean): tf.NamedTensorMap {
  return Object.fromEntries(t.variables.map((v, i) => [v.name, tf.tensor(values(v.size, 100 * step + i, 0.5, special), v.shape)]));
}

/** The TF.js path step.ts takes where SGD_UPDATE is missing: weight decay as ops, then the optimizer's applyGradients. */
function tfjsUpdate(t: Trainer, grads: tf.NamedTensorMap, weightDecay: number): void {
  tf.tidy(() => {
    const decayed: tf.NamedTensorMap = {};
    for (const v of t.variables) decayed[v.name] = weightDecay > 0 ? tf.add(grads[v.name], tf.mul(v, weightDecay)) : grads[v.name];
    t.optimizer.applyGradients(decayed);
  });
}

/** Equal to the bit, NaN equal to NaN (its payload may differ between C++ and JS; both are NaN). */
function assertSame(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

async function state(t: Trainer): Promise<{ names: string[]; values: Float32Array[] }> {
  const weights = await t.optimizer.getWeights();
  return {
    names: weights.map((w) => w.name),
    values: await Promise.all(weights.map(async (w) => (await w.tensor.data()) as Float32Array)),
  };
}

const SPECS: [string, OptimizerSpec][] = [
  ['sgd', { optimizer: 'sgd', learningRate: 0.1, momentum: 0.9, nesterov: false }],
  ['momentum', { optimizer: 'momentum', learningRate: 0.03, momentum: 0.9, nesterov: false }],
  ['nesterov momentum', { optimizer: 'momentum', learningRate: 0.03, momentum: 0.9, nesterov: true }],
];

describe('one-pass update against TF.js ops and optimizer, bit for bit', () => {
  for (const [label, spec] of SPECS) {
    for (const weightDecay of [0, 5e-4]) {
      for (const special of [false, true]) {
        const name = `${label}, weight decay ${weightDecay}${special ? ', with NaN and infinite gradients' : ''}`;
        test(name, async () => {
          const fused = trainer(spec);
          const reference = trainer(spec);
          const before = onednnKernelCalls()[SGD_UPDATE]?.native ?? 0;
          for (let step = 1; step <= 3; step++) {
            // A learning rate that changes between steps, as warm-up and cosine make it.
            for (const t of [fused, reference]) (t.optimizer as tf.SGDOptimizer).setLearningRate(spec.learningRate * step * 0.7);
            const grads = gradients(fused, step, special);
            applyUpdate(fused, grads, weightDecay);
            tfjsUpdate(reference, gradients(reference, step, special), weightDecay);
            tf.dispose(Object.values(grads));
          }
          assert.equal(onednnKernelCalls()[SGD_UPDATE]?.native, before + 3 * SHAPES.length, 'every update ran natively');
          for (let i = 0; i < SHAPES.length; i++) {
            assertSame(fused.variables[i].dataSync() as Float32Array, reference.variables[i].dataSync() as Float32Array, `variable ${i}`);
          }
          const [a, b] = [await state(fused), await state(reference)];
          // TF.js's names: each variable's own name + '/momentum', in the variables' order (after the step count).
          const expectNames = (t: Trainer) => (spec.optimizer === 'momentum' ? t.variables.map((v) => `${v.name}/momentum`) : []);
          assert.deepEqual(a.names.slice(1), expectNames(fused), 'accumulator names, in order');
          assert.deepEqual(b.names.slice(1), expectNames(reference));
          a.values.forEach((v, i) => assertSame(v, b.values[i], `optimizer weight ${b.names[i]}`));
          assert.equal(fused.optimizer.iterations, 3);
          for (const t of [fused, reference]) {
            t.optimizer.dispose();
            tf.dispose(t.variables);
          }
        });
      }
    }
  }

  test('a run moves between the paths: state saved from one continues on the other', async () => {
    const spec = SPECS[2][1];
    const first = trainer(spec);
    const second = trainer(spec);
    for (let step = 1; step <= 2; step++) {
      const grads = gradients(first, step, false);
      applyUpdate(first, grads, 5e-4);
      tfjsUpdate(second, gradients(second, step, false), 5e-4);
      tf.dispose(Object.values(grads));
    }
    // Swap optimizers' state through getWeights/setWeights, as a checkpoint does, then take a third step each way.
    const saved = await first.optimizer.getWeights();
    const restored = makeOptimizer(spec);
    await restored.setWeights(saved.map((w) => ({ name: w.name, tensor: w.tensor.clone() })));
    const moved: Trainer = { ...first, optimizer: restored };
    tfjsUpdate(moved, gradients(moved, 3, false), 5e-4);
    const grads = gradients(second, 3, false);
    tfjsUpdate(second, grads, 5e-4);
    for (let i = 0; i < SHAPES.length; i++) {
      assertSame(moved.variables[i].dataSync() as Float32Array, second.variables[i].dataSync() as Float32Array, `variable ${i}`);
    }
    tf.dispose(Object.values(grads));
  });

  test('Adam keeps TF.js own update', () => {
    const adam = trainer({ optimizer: 'adam', learningRate: 0.001, momentum: 0, nesterov: false });
    const before = onednnKernelCalls()[SGD_UPDATE]?.native ?? 0;
    const grads = gradients(adam, 1, false);
    applyUpdate(adam, grads, 0);
    assert.equal(onednnKernelCalls()[SGD_UPDATE]?.native ?? 0, before);
    assert.equal(adam.optimizer.iterations, 1);
    tf.dispose(Object.values(grads));
  });
});

describe('sgdUpdate rejects wrong calls', () => {
  const native = requireAddon();
  const floats = (n: number) => new Float32Array(n);
  const rejects = (call: () => unknown, name: 'TypeError' | 'RangeError', message: RegExp) =>
    assert.throws(call, (err: Error) => err.name === name && message.test(err.message), `expected ${name} ${message}`);

  test('well-formed calls work', () => {
    native.sgdUpdate(floats(8), floats(8), null, floats(8), null, -0.1, 0, false, 0);
    native.sgdUpdate(floats(8), floats(8), floats(8), floats(8), floats(8), -0.1, 0.9, true, 5e-4);
  });

  test('each buffer has w length; acc and accOut come together; outputs share no memory', () => {
    rejects(() => native.sgdUpdate(floats(8), floats(7), null, floats(8), null, -0.1, 0, false, 0), 'RangeError', /g must have 8 elements/);
    rejects(
      () => native.sgdUpdate(floats(8), floats(8), floats(8), floats(9), floats(8), -0.1, 0.9, false, 0),
      'RangeError',
      /wOut must have 8/,
    );
    rejects(
      () => native.sgdUpdate(floats(8), floats(8), floats(8), floats(8), null, -0.1, 0.9, false, 0),
      'TypeError',
      /both be Float32Arrays/,
    );
    rejects(
      () => native.sgdUpdate(floats(8), floats(8), null, floats(8), floats(8), -0.1, 0.9, false, 0),
      'TypeError',
      /both be Float32Arrays/,
    );
    const w = floats(8);
    rejects(() => native.sgdUpdate(w, floats(8), null, w, null, -0.1, 0, false, 0), 'RangeError', /wOut must not share memory with w/);
    rejects(
      () => native.sgdUpdate(floats(8), floats(8), null, floats(8), null, '0.1' as unknown as number, 0, false, 0),
      'TypeError',
      /negLr/,
    );
    rejects(
      () => native.sgdUpdate(floats(8), floats(8), null, floats(8), null, -0.1, 0, 1 as unknown as boolean, 0),
      'TypeError',
      /nesterov/,
    );
    rejects(() => (native.sgdUpdate as unknown as (...a: unknown[]) => void)(floats(8)), 'TypeError', /expected 9 arguments, got 1/);
  });
});
