// One NiN training step: the graph `nin train` runs, `nin bench` times, and the parity test and
// scripts check. Forward with seeded dropout (or none), d2l's softmax cross-entropy, gradients,
// optional weight decay, one optimizer update; a batch may be split into micro-batches whose
// gradients are accumulated, so the update equals the whole batch's.
import * as tf from '@tensorflow/tfjs';
import { forward, NUM_CLASSES } from '../model/nin';
import { deriveSeed } from '../sys/random';
import { sgdInternals, trainableVariables } from '../sys/tfjs-internals';
import { SGD_UPDATE, type SgdUpdateAttrs } from '../backend/onednn/kernels-update';
import type { OptimizerName } from '../config/config';
import { IMAGE_SIZE_RAW } from '../data/fashion-mnist';

export interface OptimizerSpec {
  optimizer: OptimizerName;
  learningRate: number;
  momentum: number; // 'momentum' only
  nesterov: boolean; // 'momentum' only
}

export function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  switch (spec.optimizer) {
    case 'sgd':
      return tf.train.sgd(spec.learningRate);
    case 'momentum':
      return tf.train.momentum(spec.learningRate, spec.momentum, spec.nesterov);
    case 'adam':
      return tf.train.adam(spec.learningRate);
  }
}

/** A model with the optimizer that updates it and the variables it differentiates. */
export interface Trainer {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  variables: tf.Variable[];
}

export function makeTrainer(model: tf.LayersModel, optimizer: tf.Optimizer): Trainer {
  return { model, optimizer, variables: trainableVariables(model) };
}

/**
 * The size to prepare batches at on the host for a network whose input is `imageSize`. On WebGPU they stay
 * 28x28 and modelInput resizes them on the device: at thousands of images/s, resizing to 224px in Node's one
 * JS thread would be the bottleneck (95-120 ms for a batch of 128), and the upload would be 64x larger. On CPU
 * backends the resize runs on the same cores either way, and data.ts's is the one parity was measured with.
 */
export function hostImageSize(imageSize: number): number {
  return tf.getBackend() === 'webgpu' ? IMAGE_SIZE_RAW : imageSize;
}

/**
 * A batch of `size` images of inputSize x inputSize pixels as the network's input, [size, imageSize, imageSize, 1]:
 * resized on the device (bilinear with half-pixel centres, as data.ts's resizeInto) when the sizes differ.
 */
export function modelInput(x: Float32Array, size: number, inputSize: number, imageSize: number): tf.Tensor4D {
  return tf.tidy(() => {
    const pixels = tf.tensor4d(x, [size, inputSize, inputSize, 1]);
    return inputSize === imageSize ? pixels : tf.image.resizeBilinear(pixels, [imageSize, imageSize], false, true);
  });
}

export interface StepOptions {
  imageSize: number; // the network's input size
  inputSize?: number; // the size of the images in x when it is not imageSize (see hostImageSize)
  labelSmoothing: number; // 0 = d2l's plain cross-entropy
  weightDecay: number; // as PyTorch SGD's weight_decay; 0 = none
  dropoutSeed: number | null; // the step's dropout mask; null = dropout off (parity checks)
  microBatchSize?: number; // split larger batches into pieces of at most this many images
}

export interface StepResult {
  loss: number; // the batch's mean loss
  hits: number; // correct predictions in the batch
  updated: boolean; // false when the loss diverged and the update was skipped
}

/**
 * Cross-entropy over 10 classes starts at ln 10 = 2.3; a mean loss above this bound means logits
 * thousands apart, which only a diverged run produces. Stopping there, not only at NaN, keeps
 * overflowing weights out of best/ and last/.
 */
export const DIVERGED_LOSS = 1000;

export function diverged(loss: number): boolean {
  return !Number.isFinite(loss) || loss > DIVERGED_LOSS;
}

/** d2l's softmax cross-entropy (mean over the batch), with optional label smoothing. */
export function trainingLoss(oneHot: tf.Tensor2D, logits: tf.Tensor2D, labelSmoothing: number): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, labelSmoothing) as tf.Scalar;
}

/** Mean loss, hit count and gradients of one piece of a batch; the caller owns the returned tensors. */
function lossAndGrads(
  trainer: Trainer,
  x: Float32Array,
  labels: Int32Array,
  size: number,
  options: StepOptions,
  dropoutSeed: number | null,
) {
  return tf.tidy(() => {
    const input = modelInput(x, size, options.inputSize ?? options.imageSize, options.imageSize);
    const labelTensor = tf.tensor1d(labels, 'int32');
    const oneHot = tf.oneHot(labelTensor, NUM_CLASSES) as tf.Tensor2D;
    let hits: tf.Scalar | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const logits = dropoutSeed === null ? forward(trainer.model, input, false) : forward(trainer.model, input, true, dropoutSeed);
      // Kept past variableGrads' own tidy; returned from this tidy below.
      hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labelTensor), 'int32'))) as tf.Scalar;
      return trainingLoss(oneHot, logits, options.labelSmoothing);
    }, trainer.variables);
    return { value, hits: hits as unknown as tf.Scalar, grads };
  });
}

/** A step computed but not yet applied: its loss and hits on the device, and the update it would make. */
interface ComputedStep {
  loss: tf.Scalar; // the batch's mean loss
  hits: tf.Scalar; // correct predictions in the batch (int32)
  update(): void; // applies the gradients (with weight decay) through the optimizer
  dispose(): void; // frees everything above
}

/** Forward and backward on a batch, whole or as micro-batches; nothing is read back and nothing updated yet. */
function computeStep(trainer: Trainer, x: Float32Array, labels: Int32Array, size: number, options: StepOptions): ComputedStep {
  const piece = Math.max(1, Math.min(size, options.microBatchSize ?? size));
  if (piece >= size) return combine(trainer, options, [lossAndGrads(trainer, x, labels, size, options, options.dropoutSeed)], [size]);
  // Micro-batches: each piece's mean loss and gradients are weighted by its share of the batch, so
  // their sum is the whole batch's mean; each piece draws its own dropout mask from the step's seed.
  const pixels = (options.inputSize ?? options.imageSize) ** 2;
  const parts = [];
  const sizes = [];
  for (let first = 0, i = 0; first < size; first += piece, i++) {
    const n = Math.min(piece, size - first);
    const seed = options.dropoutSeed === null ? null : deriveSeed(options.dropoutSeed, 7, i);
    parts.push(
      lossAndGrads(trainer, x.subarray(first * pixels, (first + n) * pixels), labels.subarray(first, first + n), n, options, seed),
    );
    sizes.push(n);
  }
  return combine(trainer, options, parts, sizes);
}

function combine(trainer: Trainer, options: StepOptions, parts: ReturnType<typeof lossAndGrads>[], sizes: number[]): ComputedStep {
  const total = sizes.reduce((a, b) => a + b, 0);
  const weights = sizes.map((n) => n / total);
  const single = parts.length === 1;
  const [loss, hits] = tf.tidy(() => [
    single ? tf.clone(parts[0].value) : tf.addN(parts.map((p, i) => tf.mul(p.value, weights[i]))),
    single ? tf.clone(parts[0].hits) : tf.addN(parts.map((p) => p.hits)),
  ]) as [tf.Scalar, tf.Scalar];
  return {
    loss,
    hits,
    update: () =>
      tf.tidy(() => {
        const grads: tf.NamedTensorMap = {};
        for (const v of trainer.variables) {
          grads[v.name] = single ? parts[0].grads[v.name] : tf.addN(parts.map((p, i) => tf.mul(p.grads[v.name], weights[i])));
        }
        applyUpdate(trainer, grads, options.weightDecay);
      }),
    dispose: () => {
      tf.dispose([loss, hits]);
      for (const p of parts) tf.dispose([p.value, p.hits, ...Object.values(p.grads)]);
    },
  };
}

/**
 * Updates the trainer's variables from their gradients, with weight decay as PyTorch's SGD weight_decay (the
 * gradient gains weightDecay * w). Where the backend has SGD_UPDATE (onednn) and the optimizer is SGD or
 * momentum, each variable takes one kernel: the same float32 arithmetic as TF.js's ops below, in one pass instead
 * of up to eight, with the optimizer's own state (its accumulators and step count), so checkpoints and --resume
 * cannot tell the two apart. Otherwise (Adam, other backends) TF.js's ops and optimizer.
 */
export function applyUpdate(trainer: Trainer, grads: tf.NamedTensorMap, weightDecay: number): void {
  const sgd = tf.getKernel(SGD_UPDATE, tf.getBackend()) === undefined ? null : sgdInternals(trainer.optimizer);
  if (sgd === null) {
    tf.tidy(() => {
      const decayed: tf.NamedTensorMap = {};
      for (const v of trainer.variables) decayed[v.name] = weightDecay > 0 ? tf.add(grads[v.name], tf.mul(v, weightDecay)) : grads[v.name];
      trainer.optimizer.applyGradients(decayed);
    });
    return;
  }
  const attrs: SgdUpdateAttrs = { learningRate: sgd.learningRate, momentum: sgd.momentum, nesterov: sgd.nesterov, weightDecay };
  trainer.variables.forEach((v, i) => {
    const accumulation = sgd.momentum === null ? null : sgd.accumulation(i, v);
    tf.tidy(() => {
      const inputs: tf.NamedTensorMap = { value: v, gradient: grads[v.name] };
      if (accumulation !== null) inputs.accumulation = accumulation;
      const [value, newAccumulation] = tf.engine().runKernel(SGD_UPDATE, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      v.assign(value);
      accumulation?.assign(newAccumulation);
    });
  });
  sgd.incrementIterations();
}

/**
 * One step on a batch of `size` images (x: NHWC floats), its loss read back before the update: the
 * update is skipped when the loss has diverged, so such a step never reaches the weights. For
 * callers that need every step's loss (lr-find, parity scripts); `nin train` uses deferredStep.
 * Asynchronous because a GPU backend cannot read the loss back synchronously in Node (TF.js's
 * dataSync on WebGPU needs a browser's OffscreenCanvas).
 */
export async function trainStep(
  trainer: Trainer,
  x: Float32Array,
  labels: Int32Array,
  size: number,
  options: StepOptions,
): Promise<StepResult> {
  const step = computeStep(trainer, x, labels, size, options);
  try {
    const [lossValues, hitsValues] = await Promise.all([step.loss.data(), step.hits.data()]);
    const loss = lossValues[0];
    const hits = hitsValues[0];
    if (diverged(loss)) return { loss, hits, updated: false };
    step.update();
    return { loss, hits, updated: true };
  } finally {
    step.dispose();
  }
}

/**
 * One step whose update is applied at once, without waiting for its loss: nothing is read back, so
 * a GPU runs this step while the CPU prepares the next. Returns [loss, hits] as a float32 tensor the
 * caller owns and reads later (with other steps', see DeferredReads); a diverged loss has then
 * already reached the weights, so the caller must check it before saving or reporting anything.
 */
export function deferredStep(trainer: Trainer, x: Float32Array, labels: Int32Array, size: number, options: StepOptions): tf.Tensor1D {
  const step = computeStep(trainer, x, labels, size, options);
  const metrics = tf.tidy(() => tf.stack([step.loss, tf.cast(step.hits, 'float32')])) as tf.Tensor1D;
  try {
    step.update();
    return metrics;
  } catch (err) {
    metrics.dispose();
    throw err;
  } finally {
    step.dispose();
  }
}
