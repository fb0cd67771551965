// webgpu against a CPU backend on one NiN training step from the same weights (dropout off): the
// loss and every gradient, as test/webgpu.test.ts and scripts/gpu-check.sh check them.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '..';
import { buildNin, forward, NUM_CLASSES } from '../../model/nin';
import { mulberry32 } from '../../sys/random';
import { trainingLoss } from '../../train/step';
import { trainableVariables } from '../../sys/tfjs-internals';
import { throwIfGpuFault } from './register';

export interface LossAndGrads {
  loss: number;
  grads: Float32Array[]; // in the order of the model's trainable weights
}

/**
 * The step's loss and gradients without an update, dropout off, on the current backend. Read back
 * with data(), not dataSync(): webgpu in Node has no synchronous read.
 */
export async function lossAndGrads(model: tf.LayersModel, x: Float32Array, labels: Int32Array, size: number): Promise<LossAndGrads> {
  const imageSize = model.inputs[0].shape[1] as number;
  const variables = trainableVariables(model);
  const { value, grads } = tf.tidy(() => {
    const input = tf.tensor4d(x, [size, imageSize, imageSize, 1]);
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES) as tf.Tensor2D;
    return tf.variableGrads(() => trainingLoss(oneHot, forward(model, input, false), 0), variables);
  });
  try {
    const values = await Promise.all(variables.map((v) => grads[v.name].data() as Promise<Float32Array>));
    return { loss: (await value.data())[0], grads: values };
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

export interface StepParity {
  reference: string; // the backend webgpu was compared with
  imageSize: number;
  batchSize: number;
  loss: { webgpu: number; reference: number };
  lossDifference: number; // relative
  gradientDifference: number; // the largest over tensors of max |difference| / max |reference value|
  worstTensor: number; // index of that tensor among the trainable weights
}

/** Largest |a - b| relative to the largest |b|. */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    const d = Math.abs(a[i] - b[i]);
    worst = d > worst || Number.isNaN(d) ? d : worst;
  }
  return scale > 0 ? worst / scale : worst;
}

/** One batch of pseudo-random images in [0, 1) and labels: the comparison needs no dataset. */
export function syntheticBatch(size: number, imageSize: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const random = mulberry32(seed);
  const x = new Float32Array(size * imageSize * imageSize).map(() => random());
  return { x, labels: Int32Array.from({ length: size }, () => Math.floor(random() * NUM_CLASSES)) };
}

/**
 * Builds NiN on `reference` (its seeded weights), takes the step there, copies the same weights to
 * webgpu and takes it again. Leaves webgpu as TF.js's backend.
 */
export async function stepParity(options: {
  imageSize: number;
  batchSize: number;
  reference: 'onednn' | 'cpu';
  seed?: number;
}): Promise<StepParity> {
  const { imageSize, batchSize, reference } = options;
  const seed = options.seed ?? 5;
  const { x, labels } = syntheticBatch(batchSize, imageSize, seed);
  await initBackend(reference, null, () => {});
  const model = buildNin({ imageSize, seed });
  const weights = model.getWeights().map((w) => ({ shape: w.shape, values: Float32Array.from(w.dataSync()) }));
  const expected = await lossAndGrads(model, x, labels, batchSize);
  model.dispose();

  await initBackend('webgpu', null, () => {});
  const onGpu = buildNin({ imageSize, seed: seed + 1 });
  tf.tidy(() => onGpu.setWeights(weights.map((w) => tf.tensor(w.values, w.shape))));
  const actual = await lossAndGrads(onGpu, x, labels, batchSize);
  onGpu.dispose();
  throwIfGpuFault();

  const differences = expected.grads.map((g, i) => relativeDifference(actual.grads[i], g));
  const gradientDifference = Math.max(...differences);
  return {
    reference,
    imageSize,
    batchSize,
    loss: { webgpu: actual.loss, reference: expected.loss },
    lossDifference: Math.abs(actual.loss - expected.loss) / Math.abs(expected.loss),
    gradientDifference,
    worstTensor: differences.indexOf(gradientDifference),
  };
}
