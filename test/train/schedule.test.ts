// The options beyond d2l's recipe: schedules' values at given steps, augmentation under a seed, label smoothing's loss.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { learningRateAt, type ScheduleSpec } from '../../src/train/schedule';
import { augmentImage, AUGMENT_PADDING } from '../../src/data/augment';
import { batches, type Split } from '../../src/data/idx';
import { trainingLoss } from '../../src/train/step';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test("constant schedule is d2l's fixed rate at every step", () => {
  const spec: ScheduleSpec = { schedule: 'constant', learningRate: 0.1, warmupEpochs: 0, epochs: 10 };
  for (const step of [0, 1, 50, 999]) assert.equal(learningRateAt(spec, step, 100), 0.1);
});

test('linear warm-up reaches the peak at the end of the warm-up epochs', () => {
  const spec: ScheduleSpec = { schedule: 'constant', learningRate: 0.2, warmupEpochs: 1, epochs: 10 };
  close(learningRateAt(spec, 0, 100), 0.002);
  close(learningRateAt(spec, 49, 100), 0.1);
  close(learningRateAt(spec, 99, 100), 0.2);
  close(learningRateAt(spec, 100, 100), 0.2);
});

test('cosine decays from the peak to zero after warm-up', () => {
  const spec: ScheduleSpec = { schedule: 'cosine', learningRate: 0.1, warmupEpochs: 0, epochs: 10 };
  close(learningRateAt(spec, 0, 100), 0.1);
  close(learningRateAt(spec, 500, 100), 0.05);
  close(learningRateAt(spec, 1000, 100), 0);
  const warm: ScheduleSpec = { ...spec, warmupEpochs: 2 };
  close(learningRateAt(warm, 199, 100), 0.1);
  close(learningRateAt(warm, 200, 100), 0.1);
  close(learningRateAt(warm, 600, 100), 0.05);
});

test('onecycle rises from lr/25 to lr over 30% of the steps, then falls to lr/25e4', () => {
  const spec: ScheduleSpec = { schedule: 'onecycle', learningRate: 0.1, warmupEpochs: 0, epochs: 10 };
  close(learningRateAt(spec, 0, 100), 0.004);
  close(learningRateAt(spec, 300, 100), 0.1);
  close(learningRateAt(spec, 999, 100), 0.1 / 25e4);
  assert.ok(learningRateAt(spec, 150, 100) > 0.004 && learningRateAt(spec, 150, 100) < 0.1);
  close(learningRateAt({ ...spec, warmupEpochs: 1 }, 100, 100), 0.1);
});

function image(seed: number): Uint8Array {
  const img = new Uint8Array(28 * 28);
  for (let i = 0; i < img.length; i++) img[i] = (i * 37 + seed * 11) % 256;
  return img;
}

test('augmentation is deterministic under a seed and varies with seed, epoch and example', () => {
  const src = image(1);
  const a = new Uint8Array(784);
  const b = new Uint8Array(784);
  augmentImage(src, 0, 28, a, 7, 1, 5);
  augmentImage(src, 0, 28, b, 7, 1, 5);
  assert.deepEqual(a, b);
  const outs = new Set<string>();
  for (let e = 0; e < 20; e++) {
    augmentImage(src, 0, 28, b, 7, e, 5);
    outs.add(Buffer.from(b).toString('hex'));
  }
  assert.ok(outs.size > 10, `only ${outs.size} distinct augmentations in 20 epochs`);
});

test('augmentation is a flip and a shift of at most the padding, with zeros entering', () => {
  const src = new Uint8Array(784);
  src[14 * 28 + 10] = 255; // one bright pixel at (14, 10)
  const out = new Uint8Array(784);
  let flips = 0;
  for (let example = 0; example < 200; example++) {
    augmentImage(src, 0, 28, out, 3, 0, example);
    const at = out.findIndex((v) => v === 255);
    assert.ok(at >= 0, 'the pixel stays in frame for a central pixel');
    const y = Math.floor(at / 28);
    const x = at % 28;
    assert.ok(Math.abs(y - 14) <= AUGMENT_PADDING);
    const unflipped = Math.abs(x - 10) <= AUGMENT_PADDING;
    const flipped = Math.abs(x - (27 - 10)) <= AUGMENT_PADDING;
    assert.ok(unflipped || flipped);
    if (!unflipped) flips++;
    assert.equal(
      out.reduce((s, v) => s + v, 0),
      255,
      'nothing but the shifted pixel',
    );
  }
  assert.ok(flips > 60 && flips < 140, `flipped ${flips} of 200`);
});

test('batches with augment are reproducible and differ from plain batches', () => {
  const count = 10;
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) images.set(image(i), i * 784);
  const split: Split = { images, labels: new Uint8Array(count).map((_, i) => i % 10), count };
  const opts = { batchSize: 4, imageSize: 67, shuffle: true, seed: 5, epoch: 2 };
  const one = [...batches(split, { ...opts, augment: true })];
  const two = [...batches(split, { ...opts, augment: true })];
  const plain = [...batches(split, opts)];
  assert.deepEqual(
    one.map((b) => Array.from(b.x)),
    two.map((b) => Array.from(b.x)),
  );
  assert.deepEqual(
    one.map((b) => Array.from(b.labels)),
    plain.map((b) => Array.from(b.labels)),
    'same examples, same order',
  );
  assert.notDeepEqual(
    one.map((b) => Array.from(b.x)),
    plain.map((b) => Array.from(b.x)),
  );
});

test('label smoothing gives the known cross-entropy on uniform logits and on a confident prediction', async () => {
  await tf.setBackend('cpu');
  const oneHot: tf.Tensor2D = tf.tensor2d([[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]]);
  // Uniform logits: every target distribution gives ln 10.
  const uniform = tf.zeros([1, 10]) as tf.Tensor2D;
  close(trainingLoss(oneHot, uniform, 0.1).dataSync()[0], Math.log(10), 1e-6);
  // Logits [0, 10, 0...]: p_true = e^10 / (e^10 + 9); smoothing 0.1 spreads 0.01 to each class.
  const logits = tf.tensor2d([[0, 10, 0, 0, 0, 0, 0, 0, 0, 0]]);
  const z = Math.exp(10) + 9;
  const logTrue = 10 - Math.log(z);
  const logOther = -Math.log(z);
  const expected = -(0.91 * logTrue + 9 * 0.01 * logOther);
  close(trainingLoss(oneHot, logits, 0.1).dataSync()[0], expected, 1e-5);
  close(trainingLoss(oneHot, logits, 0).dataSync()[0], -logTrue, 1e-5);
});

test("--kernel-init he draws conv kernels as PyTorch's kaiming_uniform_ for ReLU, uniform in +-sqrt(6/fan_in); xavier (d2l's) in +-sqrt(6/(fan_in+fan_out))", async () => {
  await tf.setBackend('cpu');
  const { buildNin } = await import('../../src/model/nin');
  const xavier = buildNin({ imageSize: 67, seed: 0, biasInit: 'zeros' });
  const he = buildNin({ imageSize: 67, seed: 0, biasInit: 'zeros', kernelInit: 'he' });
  try {
    // [fan_in, fan_out] of a few convs: kernel area times input channels, kernel area times filters.
    const fans: Record<string, [number, number]> = {
      block1_conv1: [121, 121 * 96],
      block2_conv1: [96 * 25, 256 * 25],
      block4_conv1: [384 * 9, 10 * 9],
      block4_conv3: [10, 10],
    };
    for (const [name, [fanIn, fanOut]] of Object.entries(fans)) {
      const heLimit = Math.sqrt(6 / fanIn);
      const xavierLimit = Math.sqrt(6 / (fanIn + fanOut));
      for (const [model, limit, kind] of [
        [he, heLimit, 'he'],
        [xavier, xavierLimit, 'xavier'],
      ] as const) {
        const largest = model.getLayer(name).getWeights()[0].abs().max().dataSync()[0];
        assert.ok(largest <= limit, `${name} ${kind} kernel within +-${limit}`);
        assert.ok(largest > limit * 0.9, `${name} ${kind} kernel spans its range`);
      }
    }
  } finally {
    xavier.dispose();
    he.dispose();
  }
});

test("--class-bias sets the last convolution's ten biases and nothing else; without it they follow --bias-init", async () => {
  await tf.setBackend('cpu');
  const { buildNin } = await import('../../src/model/nin');
  const plain = buildNin({ imageSize: 67, seed: 0, biasInit: 'zeros', kernelInit: 'he' });
  const alive = buildNin({ imageSize: 67, seed: 0, biasInit: 'zeros', kernelInit: 'he', classBias: 1 });
  try {
    assert.deepEqual(Array.from(alive.getLayer('block4_conv3').getWeights()[1].dataSync()), new Array(10).fill(1));
    assert.ok(
      plain
        .getLayer('block4_conv3')
        .getWeights()[1]
        .dataSync()
        .every((v) => v === 0),
    );
    // Every other weight is the same draw.
    for (const layer of plain.layers) {
      plain
        .getLayer(layer.name)
        .getWeights()
        .forEach((w, i) => {
          if (layer.name === 'block4_conv3' && i === 1) return;
          assert.deepEqual(
            Array.from(w.dataSync()),
            Array.from(alive.getLayer(layer.name).getWeights()[i].dataSync()),
            `${layer.name}[${i}]`,
          );
        });
    }
  } finally {
    plain.dispose();
    alive.dispose();
  }
});

test("--bias-init pytorch draws conv biases as PyTorch's Conv2d default, uniform in +-1/sqrt(fan_in); --bias-init zeros makes them 0", async () => {
  await tf.setBackend('cpu');
  const { buildNin } = await import('../../src/model/nin');
  const zeros = buildNin({ imageSize: 67, seed: 0, biasInit: 'zeros' });
  const torchLike = buildNin({ imageSize: 67, seed: 0, biasInit: 'pytorch' });
  try {
    const fanIn: Record<string, number> = {
      block1_conv1: 121,
      block1_conv2: 96,
      block2_conv1: 96 * 25,
      block3_conv1: 256 * 9,
      block4_conv1: 384 * 9,
      block4_conv3: 10,
    };
    for (const [name, fan] of Object.entries(fanIn)) {
      assert.ok(
        zeros
          .getLayer(name)
          .getWeights()[1]
          .dataSync()
          .every((v) => v === 0),
        `${name} bias is zero with 'zeros'`,
      );
      const bias = Array.from(torchLike.getLayer(name).getWeights()[1].dataSync());
      const bound = 1 / Math.sqrt(fan);
      assert.ok(
        bias.every((v) => Math.abs(v) <= bound),
        `${name} bias within +-${bound}`,
      );
      assert.ok(Math.max(...bias.map(Math.abs)) > bound / 2, `${name} bias spans its range`);
      // Kernels are the same Xavier draw either way.
      assert.deepEqual(
        Array.from(zeros.getLayer(name).getWeights()[0].dataSync()),
        Array.from(torchLike.getLayer(name).getWeights()[0].dataSync()),
      );
    }
  } finally {
    zeros.dispose();
    torchLike.dispose();
  }
});
