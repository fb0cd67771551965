// Whole training steps on the onednn backend: same loss and gradients as the pure-JS 'cpu' backend from
// the same weights (a reduced-channel NiN, and d2l's full NiN at a small image size), and no leaks over many steps.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as tf from '@tensorflow/tfjs';
import { OnednnConvLayouts, onednnKernelCalls, onednnStatus, registerOnednnBackend, setOnednnConvLayouts } from '../../src/backend/onednn';
import { buildNin } from '../../src/model/nin';

const TOLERANCE = 1e-3;

before(() => {
  const status = onednnStatus();
  assert.ok(status.available, status.reason);
  registerOnednnBackend();
});

after(async () => {
  await tf.setBackend('cpu');
});

/** A NiN with d2l's structure (11x11/4 block, 5x5 and 3x3 'same' blocks, 3x3/2 max-pools, global average) but few channels. */
function smallNin(imageSize: number, channels: [number, number, number]): tf.Sequential {
  const model = tf.sequential();
  let seed = 7;
  const conv = (filters: number, kernelSize: number, strides: number, padding: 'valid' | 'same', first = false) =>
    model.add(
      tf.layers.conv2d({
        filters,
        kernelSize,
        strides,
        padding,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
        biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed++ }),
        ...(first ? { inputShape: [imageSize, imageSize, 1] } : {}),
      }),
    );
  const block = (filters: number, kernelSize: number, strides: number, padding: 'valid' | 'same', first = false) => {
    conv(filters, kernelSize, strides, padding, first);
    conv(filters, 1, 1, 'valid');
    conv(filters, 1, 1, 'valid');
  };
  block(channels[0], 11, 4, 'valid', true);
  model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }));
  block(channels[1], 5, 1, 'same');
  model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }));
  block(channels[2], 3, 1, 'same');
  model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }));
  block(10, 3, 1, 'same');
  const size = model.outputs[0].shape[1] as number;
  model.add(tf.layers.averagePooling2d({ poolSize: size, strides: size }));
  model.add(tf.layers.flatten());
  return model;
}

function batch(size: number, imageSize: number): { x: Float32Array; labels: Int32Array } {
  const x = new Float32Array(size * imageSize * imageSize);
  let state = 12345;
  for (let i = 0; i < x.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    x[i] = state / 2 ** 32;
  }
  const labels = Int32Array.from({ length: size }, (_, i) => (i * 3) % 10);
  return { x, labels };
}

interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
}

/** Loss and gradients of every trainable weight for one batch on the current backend (dropout off: deterministic). */
function lossAndGrads(model: tf.LayersModel, data: { x: Float32Array; labels: Int32Array }, imageSize: number): StepResult {
  const n = data.labels.length;
  let result: StepResult | undefined;
  tf.tidy(() => {
    const x = tf.tensor4d(data.x, [n, imageSize, imageSize, 1]);
    const labels = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar,
      variables,
    );
    const copies = new Map<string, Float32Array>();
    for (const [name, g] of Object.entries(grads)) copies.set(name, Float32Array.from(g.dataSync()));
    result = { loss: value.dataSync()[0], grads: copies };
  });
  return result!;
}

function normRelativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
}

/**
 * Loss and gradients on 'cpu', then on 'onednn' in each conv layout mode. Rounding differs between the
 * two by ~1e-7 relative, so a pre-activation within ~1e-7 of zero may land on the other side of ReLU's
 * kink and route its gradient differently (seen with buildNin seed 3 in 'auto' layouts: one unit out of
 * 226k, 1% off in the first layers' gradients); the seeds below have no such unit.
 */
async function compareStep(model: tf.LayersModel, imageSize: number, batchSize: number, layouts: OnednnConvLayouts[]): Promise<void> {
  const data = batch(batchSize, imageSize);
  await tf.setBackend('cpu');
  const expected = lossAndGrads(model, data, imageSize);
  assert.ok(Number.isFinite(expected.loss));
  await tf.setBackend('onednn'); // the model's variables move over with their values
  try {
    for (const layout of layouts) {
      setOnednnConvLayouts(layout);
      const convBefore = onednnKernelCalls().NinReluBiasGrad.native;
      const actual = lossAndGrads(model, data, imageSize);
      assert.ok(onednnKernelCalls().NinReluBiasGrad.native > convBefore, 'fused native convolution gradients did not run');
      assert.ok(
        Math.abs(actual.loss - expected.loss) <= TOLERANCE * Math.abs(expected.loss),
        `${layout}: loss ${actual.loss} vs ${expected.loss}`,
      );
      assert.equal(actual.grads.size, expected.grads.size);
      let nonzero = 0;
      for (const [name, g] of expected.grads) {
        const error = normRelativeError(actual.grads.get(name)!, g);
        assert.ok(error <= TOLERANCE, `${layout}: gradient of ${name}: relative error ${error}`);
        if (g.some((v) => v !== 0)) nonzero++;
      }
      assert.ok(nonzero >= expected.grads.size / 2, 'most gradients should be nonzero for the comparison to mean something');
    }
  } finally {
    setOnednnConvLayouts('auto');
  }
}

const ALL_LAYOUTS: OnednnConvLayouts[] = ['auto', 'blocked-weights', 'blocked', 'plain'];

test('reduced-channel NiN at 67px, batch 3: same loss and gradients as cpu', async () => {
  await tf.setBackend('cpu');
  const model = smallNin(67, [12, 24, 32]);
  await compareStep(model, 67, 3, ALL_LAYOUTS);
  model.dispose();
});

test("d2l's full NiN at 67px, batch 2: same loss and gradients as cpu", async () => {
  await tf.setBackend('cpu');
  const model = buildNin({ imageSize: 67, seed: 1 });
  await compareStep(model, 67, 2, ALL_LAYOUTS);
  model.dispose();
});

test('a NiN whose weights are all NaN: loss, gradients and predictions as on cpu (NaN, not ln 10)', async () => {
  // Issue 13: oneDNN's ReLU post-op turned NaN into 0, so such a checkpoint evaluated to loss ln(10), accuracy 0.1.
  await tf.setBackend('cpu');
  const imageSize = 67;
  const model = smallNin(imageSize, [12, 24, 32]);
  model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, NaN)));
  const data = batch(2, imageSize);
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const { loss, grads } = lossAndGrads(model, data, imageSize); // under a tape: NinFusedConv2D on onednn
    const logits = tf.tidy(() => (model.predict(tf.tensor4d(data.x, [2, imageSize, imageSize, 1])) as tf.Tensor).dataSync());
    return { loss, grads, logits }; // predict: no tape, FusedConv2D with relu on onednn
  };
  const expected = await run('cpu');
  const actual = await run('onednn');
  assert.ok(Number.isNaN(expected.loss) && Number.isNaN(actual.loss), `loss: onednn ${actual.loss}, cpu ${expected.loss}`);
  assert.ok(expected.logits.every(Number.isNaN) && actual.logits.every(Number.isNaN), `predictions: onednn ${actual.logits}`);
  // TF.js's max pool skips NaN (an all-NaN window gives -Inf and passes no gradient back), so the first
  // block's gradients are 0 and the later ones NaN: the same on both.
  for (const [name, g] of expected.grads) {
    const same = g.every((v, i) => Object.is(v, actual.grads.get(name)![i]));
    assert.ok(same, `gradient of ${name}: onednn ${actual.grads.get(name)!.slice(0, 4)}..., cpu ${g.slice(0, 4)}...`);
  }
  model.dispose();
});

test('no leak: tensor count and resident memory stay flat over 30 SGD steps', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await tf.setBackend('onednn');
  const imageSize = 96;
  const model = buildNin({ imageSize, seed: 5 });
  const optimizer = tf.train.sgd(0.01);
  const data = batch(8, imageSize);
  const x = tf.tensor4d(data.x, [8, imageSize, imageSize, 1]);
  const labels = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  const step = () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      true,
    );
    const value = loss!.dataSync()[0];
    loss!.dispose();
    return value;
  };
  const tensorCounts: number[] = [];
  const rss: number[] = [];
  for (let i = 1; i <= 30; i++) {
    assert.ok(Number.isFinite(step()));
    if (i % 5 === 0) {
      gc();
      tensorCounts.push(tf.memory().numTensors);
      rss.push(process.memoryUsage().rss);
    }
  }
  assert.ok(
    tensorCounts.every((n) => n === tensorCounts[0]),
    `tensor counts ${tensorCounts}`,
  );
  const mib = rss.map((r) => Math.round(r / 2 ** 20));
  // After warm-up (primitive caches, allocator pools) resident memory must not keep climbing.
  const growth = mib[mib.length - 1] - mib[1];
  assert.ok(growth < 64, `resident memory grew by ${growth} MiB over 20 steps: ${mib.join(', ')} MiB`);
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
});
