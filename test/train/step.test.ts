// The one training step (src/step.ts) that train, bench, the parity test and the scripts share:
// no tensor leaks, micro-batches give the whole batch's update, dropout off is deterministic.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { TEST_BACKEND } from '../helpers/small-run';
import { batches, IMAGE_SIZE_RAW, loadFashionMnist } from '../../src/data/idx';
import { buildNin } from '../../src/model/nin';
import { deferredStep, makeTrainer, trainStep, type StepOptions } from '../../src/train/step';

const BACKEND = TEST_BACKEND;
const SIZE = 67;

describe('trainStep', () => {
  before(async () => {
    await initBackend(BACKEND, null);
  });

  test('the tensor count is the same before and after several steps, with and without micro-batches', async () => {
    const data = loadFashionMnist({ trainLimit: 16, testLimit: 1 });
    const steps = [...batches(data.train, { batchSize: 4, imageSize: SIZE, shuffle: true, seed: 0, epoch: 1 })];
    for (const microBatchSize of [undefined, 3]) {
      const trainer = makeTrainer(buildNin({ imageSize: SIZE, seed: 0 }), tf.train.sgd(0.1));
      const options = (i: number): StepOptions => ({
        imageSize: SIZE,
        labelSmoothing: 0,
        weightDecay: 1e-4,
        dropoutSeed: i,
        microBatchSize,
      });
      const losses: number[] = [];
      // The first step creates the optimizer's state; count after it.
      losses.push((await trainStep(trainer, steps[0].x, steps[0].labels, steps[0].size, options(1))).loss);
      const before = tf.memory().numTensors;
      for (let i = 1; i < steps.length; i++)
        losses.push((await trainStep(trainer, steps[i].x, steps[i].labels, steps[i].size, options(i + 1))).loss);
      assert.equal(tf.memory().numTensors, before, `microBatchSize ${microBatchSize}`);
      assert.ok(losses.every(Number.isFinite), `losses: ${losses}`);
      trainer.model.dispose();
      trainer.optimizer.dispose();
    }
  });

  test('micro-batches of 3, 3 and 2 images give the loss, hits and update of one batch of 8 (dropout off)', async () => {
    const data = loadFashionMnist({ trainLimit: 8, testLimit: 1 });
    const [batch] = [...batches(data.train, { batchSize: 8, imageSize: SIZE, shuffle: false, seed: 0, epoch: 1 })];
    const run = async (microBatchSize: number | undefined) => {
      const trainer = makeTrainer(buildNin({ imageSize: SIZE, seed: 3, biasInit: 'pytorch' }), tf.train.sgd(0.5));
      const result = await trainStep(trainer, batch.x, batch.labels, batch.size, {
        imageSize: SIZE,
        labelSmoothing: 0.1,
        weightDecay: 1e-3,
        dropoutSeed: null,
        microBatchSize,
      });
      const weights = trainer.model.getWeights().map((w) => w.dataSync().slice());
      trainer.model.dispose();
      trainer.optimizer.dispose();
      return { result, weights };
    };
    const whole = await run(undefined);
    const split = await run(3);
    assert.ok(Math.abs(whole.result.loss - split.result.loss) <= 1e-5, `loss ${whole.result.loss} vs ${split.result.loss}`);
    assert.equal(split.result.hits, whole.result.hits);
    let worst = 0;
    whole.weights.forEach((w, i) => w.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - split.weights[i][j])))));
    // lr 0.5: weights within 5e-6 means gradients within 1e-5.
    assert.ok(worst <= 5e-6, `largest weight difference ${worst}`);
  });

  test('28x28 batches resized on the device (inputSize, as webgpu trains) give the step of batches resized on the CPU', async () => {
    const data = loadFashionMnist({ trainLimit: 6, testLimit: 1 });
    const stream = (imageSize: number) => [...batches(data.train, { batchSize: 6, imageSize, shuffle: false, seed: 0, epoch: 1 })][0];
    const resized = stream(SIZE);
    const raw = stream(IMAGE_SIZE_RAW);
    const run = async (batch: typeof raw, inputSize: number | undefined, microBatchSize?: number) => {
      const trainer = makeTrainer(buildNin({ imageSize: SIZE, seed: 5 }), tf.train.sgd(0.5));
      const before = tf.memory().numTensors;
      const metrics = deferredStep(trainer, batch.x, batch.labels, batch.size, {
        imageSize: SIZE,
        inputSize,
        labelSmoothing: 0,
        weightDecay: 0,
        dropoutSeed: null,
        microBatchSize,
      });
      const [loss, hits] = await metrics.data();
      metrics.dispose();
      assert.equal(tf.memory().numTensors, before, 'the step leaves only the weights it updated');
      const weights = trainer.model.getWeights().map((w) => w.dataSync().slice());
      trainer.model.dispose();
      trainer.optimizer.dispose();
      return { loss, hits, weights };
    };
    const onCpu = await run(resized, undefined);
    for (const microBatchSize of [undefined, 4]) {
      const onDevice = await run(raw, IMAGE_SIZE_RAW, microBatchSize);
      assert.ok(Math.abs(onDevice.loss - onCpu.loss) <= 1e-5 * onCpu.loss, `loss ${onDevice.loss} vs ${onCpu.loss}`);
      assert.equal(onDevice.hits, onCpu.hits);
      let worst = 0;
      onCpu.weights.forEach((w, i) => w.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - onDevice.weights[i][j])))));
      assert.ok(worst <= 5e-6, `largest weight difference ${worst} (micro-batch ${microBatchSize})`);
    }
  });

  test('a diverged loss skips the update', async () => {
    const data = loadFashionMnist({ trainLimit: 2, testLimit: 1 });
    const [batch] = [...batches(data.train, { batchSize: 2, imageSize: SIZE, shuffle: false, seed: 0, epoch: 1 })];
    const trainer = makeTrainer(buildNin({ imageSize: SIZE, seed: 0 }), tf.train.sgd(0.1));
    // Weights of 1e6 overflow the logits: the loss is huge or not finite.
    trainer.model.setWeights(trainer.model.getWeights().map((w) => tf.fill(w.shape, 1e6)));
    const before = trainer.model.getWeights().map((w) => w.dataSync().slice());
    const result = await trainStep(trainer, batch.x, batch.labels, batch.size, {
      imageSize: SIZE,
      labelSmoothing: 0,
      weightDecay: 0,
      dropoutSeed: null,
    });
    assert.equal(result.updated, false, `loss ${result.loss}`);
    trainer.model.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), before[i]));
    trainer.model.dispose();
    trainer.optimizer.dispose();
  });
});
