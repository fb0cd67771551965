// How many images one kernel may see at once on an adapter that binds at most so many bytes per
// tensor: a batch whose largest activation exceeds that is run as equal micro-batches instead.
import type * as tf from '@tensorflow/tfjs';

const FLOAT32_BYTES = 4;

export interface MicroBatchPlan {
  size: number; // images per micro-batch (the last one may hold fewer)
  pieces: number; // micro-batches per batch
  note: string; // the one stderr line that says it happened, and why
}

/**
 * Bytes of the model's largest tensor per image: the widest layer output (NiN's first block at
 * 224px: 54x54x96 floats, 1.1 MB). Gradients and the pooling/ReLU backward passes have the same
 * shapes as these outputs; TF.js's WebGPU convolutions build no im2col copy.
 */
export function largestTensorBytesPerImage(model: tf.LayersModel): number {
  let largest = 0;
  const shapes = [...model.inputs.map((t) => t.shape), ...model.layers.map((l) => l.outputShape as (number | null)[])];
  for (const shape of shapes) {
    const perImage = shape.slice(1).reduce((n: number, d) => n * (d ?? 1), 1);
    largest = Math.max(largest, perImage * FLOAT32_BYTES);
  }
  return largest;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * The micro-batches a batch needs so that no tensor exceeds `maxTensorBytes`, or null when the whole
 * batch fits (or the backend has no such limit). Pieces are equal-sized so every piece costs the same.
 */
export function planMicroBatches(maxTensorBytes: number | null, bytesPerImage: number, batchSize: number): MicroBatchPlan | null {
  if (maxTensorBytes === null || bytesPerImage * batchSize <= maxTensorBytes) return null;
  const fits = Math.floor(maxTensorBytes / bytesPerImage);
  if (fits < 1)
    throw new RangeError(`one image needs ${megabytes(bytesPerImage)}, more than the ${megabytes(maxTensorBytes)} the adapter binds`);
  const pieces = Math.ceil(batchSize / fits);
  const size = Math.ceil(batchSize / pieces);
  return {
    size,
    pieces,
    note: `micro-batches: each batch of ${batchSize} runs as ${pieces} pieces of at most ${size} images (its largest tensor, ${megabytes(bytesPerImage * batchSize)}, exceeds the ${megabytes(maxTensorBytes)} the adapter binds); the update equals the whole batch's`,
  };
}
