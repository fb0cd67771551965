// `nin shapes`: a NiN's full resource summary from its plan (src/architecture.ts), nothing built or run: each
// of d2l's printout rows (NCHW, as the notebook prints them) with its parameters and multiply-adds, every
// layer in detail, the totals, and the memory a training step and a prediction need at a batch size.
import { type Architecture, DEFAULT_ARCHITECTURE, describeArchitecture, type LayerGroup, planNin, type PlannedLayer } from './architecture';
import { OPTIMIZER_SLOTS, type OptimizerName } from '../config/config';

export interface ShapeRow {
  name: LayerGroup['name'];
  outputShape: number[]; // NCHW with batch 1, like the notebook's torch.Size
  params: number;
  multiplyAdds: number; // per image
}

/** One TF.js layer of the model. */
export interface LayerRow {
  name: string; // as TF.js (and a checkpoint) names it
  kind: PlannedLayer['kind'];
  outputShape: number[]; // NCHW with batch 1
  params: number;
  multiplyAdds: number; // per image
}

export const OPTIMIZERS = Object.keys(OPTIMIZER_SLOTS) as OptimizerName[];

/** Bytes a training step holds at its peak, by part (see trainingMemory for what each counts). */
export interface TrainingMemory {
  weights: number;
  gradients: number;
  optimizerState: Record<OptimizerName, number>;
  activations: number;
  gradientsInFlight: number;
  bf16Copies: number;
  total: Record<OptimizerName, number>;
}

/** Bytes a prediction (eval, predict) holds at its peak, by part. */
export interface PredictionMemory {
  weights: number;
  activations: number;
  bf16Copies: number;
  total: number;
}

export type MemoryPrecision = 'fp32' | 'bf16';

export interface ShapesResult {
  imageSize: number;
  batchSize: number;
  architecture: Architecture;
  description: string;
  layers: ShapeRow[]; // d2l's printout rows: one per top-level PyTorch module
  detail: LayerRow[]; // every layer
  totalParams: number;
  totalMultiplyAdds: number; // per image, forward
  memory: {
    training: Record<MemoryPrecision, TrainingMemory>;
    prediction: Record<MemoryPrecision, PredictionMemory>;
  };
}

export interface ShapesOptions {
  imageSize: number;
  batchSize?: number; // for the memory estimates; d2l's 128 by default
  architecture?: Architecture; // d2l's NiN by default
}

const FLOAT32 = 4;
const BF16 = 2;
const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** NHWC without the batch, or [features], as NCHW with batch 1. */
function nchw(shape: number[]): number[] {
  return shape.length === 3 ? [1, shape[2], shape[0], shape[1]] : [1, ...shape];
}

/** Kernel weights of a layer (its parameters less its biases): what bf16 converts along with the input. */
function kernelWeights(layer: PlannedLayer): number {
  return layer.kind === 'conv' ? layer.params - layer.filters : 0;
}

/**
 * One training step's memory at `batchSize` images, what the arithmetic needs (not the runtime: Node, TF.js,
 * the data set and backend caches come on top, see nin bench's peak RSS):
 * - weights, their gradients, and the optimizer's state (momentum: one slot per weight, adam: two), float32;
 * - activations kept for backward: the input batch and every layer's output (a convolution's after its ReLU,
 *   which both the ReLU's gradient and the next layer's weight gradient read), dropout's mask (a float per
 *   value, as TF.js keeps it) beside its output; flatten is a view and counts nothing;
 * - gradients in flight: during backward, one layer's output gradient and input gradient at a time (the
 *   largest such pair);
 * - bf16 (nin's --precision bf16): weights, gradients, optimizer state and activations stay float32; each
 *   convolution converts its operands to bf16 (its input, its output gradient, its kernel), so bf16 adds the
 *   largest convolution's copies, live one convolution at a time. It saves time, not memory.
 */
export function trainingMemory(layers: PlannedLayer[], batchSize: number, precision: MemoryPrecision): TrainingMemory {
  const params = layers.reduce((sum, l) => sum + l.params, 0);
  const weights = params * FLOAT32;
  const kept =
    count(layers[0].input) +
    layers.reduce((sum, l) => sum + (l.kind === 'flatten' ? 0 : l.kind === 'dropout' ? 2 : 1) * count(l.output), 0);
  const activations = kept * batchSize * FLOAT32;
  const gradientsInFlight = Math.max(...layers.map((l) => count(l.input) + count(l.output))) * batchSize * FLOAT32;
  const bf16Copies =
    precision === 'bf16'
      ? Math.max(
          ...layers.filter((l) => l.kind === 'conv').map((l) => ((count(l.input) + count(l.output)) * batchSize + kernelWeights(l)) * BF16),
        )
      : 0;
  const optimizerState = Object.fromEntries(OPTIMIZERS.map((o) => [o, OPTIMIZER_SLOTS[o] * weights])) as Record<OptimizerName, number>;
  const shared = weights + weights + activations + gradientsInFlight + bf16Copies;
  const total = Object.fromEntries(OPTIMIZERS.map((o) => [o, shared + optimizerState[o]])) as Record<OptimizerName, number>;
  return { weights, gradients: weights, optimizerState, activations, gradientsInFlight, bf16Copies, total };
}

/**
 * A prediction's memory at `batchSize` images: the float32 weights and the largest live activations, one
 * layer's input and output at a time (what a framework that frees each activation once the next layer has
 * read it holds; dropout is off). bf16 adds the largest convolution's bf16 copies of its input and kernel.
 * nin runs a batch inside one tf.tidy, which frees its activations when the batch ends, so nin's own peak
 * sits between this and weights plus all activations (the training estimate's activations).
 */
export function predictionMemory(layers: PlannedLayer[], batchSize: number, precision: MemoryPrecision): PredictionMemory {
  const weights = layers.reduce((sum, l) => sum + l.params, 0) * FLOAT32;
  const live = layers.filter((l) => l.kind !== 'dropout');
  const activations = Math.max(...live.map((l) => count(l.input) + count(l.output))) * batchSize * FLOAT32;
  const bf16Copies =
    precision === 'bf16'
      ? Math.max(...layers.filter((l) => l.kind === 'conv').map((l) => (count(l.input) * batchSize + kernelWeights(l)) * BF16))
      : 0;
  return { weights, activations, bf16Copies, total: weights + activations + bf16Copies };
}

export function shapes(options: ShapesOptions): ShapesResult {
  const architecture = options.architecture ?? DEFAULT_ARCHITECTURE;
  const batchSize = options.batchSize ?? 128;
  const plan = planNin(architecture, options.imageSize);
  const byName = new Map(plan.layers.map((l) => [l.name, l]));
  const layers = plan.groups.map((group) => {
    const members = group.layers.map((name) => byName.get(name)!);
    return {
      name: group.name,
      outputShape: nchw(members[members.length - 1].output),
      params: members.reduce((sum, l) => sum + l.params, 0),
      multiplyAdds: members.reduce((sum, l) => sum + l.multiplyAdds, 0),
    };
  });
  const detail = plan.layers.map((l) => ({
    name: l.name,
    kind: l.kind,
    outputShape: nchw(l.output),
    params: l.params,
    multiplyAdds: l.multiplyAdds,
  }));
  const precisions: MemoryPrecision[] = ['fp32', 'bf16'];
  return {
    imageSize: options.imageSize,
    batchSize,
    architecture: plan.architecture,
    description: describeArchitecture(architecture),
    layers,
    detail,
    totalParams: detail.reduce((sum, l) => sum + l.params, 0),
    totalMultiplyAdds: detail.reduce((sum, l) => sum + l.multiplyAdds, 0),
    memory: {
      training: Object.fromEntries(precisions.map((p) => [p, trainingMemory(plan.layers, batchSize, p)])) as Record<
        MemoryPrecision,
        TrainingMemory
      >,
      prediction: Object.fromEntries(precisions.map((p) => [p, predictionMemory(plan.layers, batchSize, p)])) as Record<
        MemoryPrecision,
        PredictionMemory
      >,
    },
  };
}

/**
 * The memory estimate `nin bench` can print beside its measured peak RSS: one training step of its
 * configuration (bench trains with plain SGD), by part, in bytes. The runtime (Node, TF.js, oneDNN, backend
 * caches: about 175 MiB) is not in it. Measured (README, `nin shapes`), nin's peak grows about twice as fast
 * with the batch as this: TF.js keeps every activation's gradient until the backward pass ends (its tape's
 * gradients live in one tidy), where this counts one layer's at a time, as PyTorch frees them.
 */
export function benchMemoryEstimate(options: {
  imageSize: number;
  batchSize: number;
  precision: MemoryPrecision;
  architecture?: Architecture;
}): TrainingMemory & { bytes: number } {
  const memory = trainingMemory(
    planNin(options.architecture ?? DEFAULT_ARCHITECTURE, options.imageSize).layers,
    options.batchSize,
    options.precision,
  );
  return { ...memory, bytes: memory.total.sgd };
}
