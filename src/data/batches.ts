// Shuffling (seeded, per epoch), resizing and batching a split into NHWC floats in [0,1] for the training loop.
import { augmentImage } from './augment';
import { deriveSeed, mulberry32 } from '../sys/random';
import { IMAGE_SIZE_RAW, resizeInto } from './fashion-mnist';

// The pure pieces (no Node) live where a browser bundle can take them; re-exported so callers keep importing them from here.
import type { Split } from './files';

// ---------------------------------------------------------------------------------------------
// Shuffling, resizing, batching

/** Seeded permutation for an epoch: Fisher-Yates with mulberry32(deriveSeed(seed, epoch)). */
export function epochPermutation(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const random = mulberry32(deriveSeed(seed, epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export interface Batch {
  x: Float32Array;
  labels: Int32Array;
  size: number;
  imageSize: number;
} // x: size*imageSize*imageSize floats, NHWC (C=1)

export function batchCount(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/**
 * Streams batches in epoch order (seeded permutation, or 0..count-1 without shuffle), keeping
 * the last partial batch like d2l's DataLoader. startBatch skips ahead for a resumed epoch.
 * Each batch gets fresh arrays, since tf.tensor may keep a reference instead of copying.
 */
export function* batches(
  split: Split,
  opts: { batchSize: number; imageSize: number; shuffle: boolean; seed: number; epoch: number; startBatch?: number; augment?: boolean },
): Generator<Batch> {
  const { batchSize, imageSize, shuffle, seed, epoch, startBatch = 0, augment = false } = opts;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(imageSize) || imageSize <= 0) throw new Error(`imageSize must be a positive integer, got ${imageSize}`);
  if (!Number.isInteger(startBatch) || startBatch < 0) throw new Error(`startBatch must be a non-negative integer, got ${startBatch}`);
  const order = shuffle ? epochPermutation(split.count, seed, epoch) : null;
  const rawPixels = IMAGE_SIZE_RAW * IMAGE_SIZE_RAW;
  const pixels = imageSize * imageSize;
  const total = batchCount(split.count, batchSize);
  const augmented = augment ? new Uint8Array(rawPixels) : null;
  for (let b = startBatch; b < total; b++) {
    const first = b * batchSize;
    const size = Math.min(batchSize, split.count - first);
    const x = new Float32Array(size * pixels);
    const labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const index = order ? order[first + i] : first + i;
      if (augmented) {
        augmentImage(split.images, index * rawPixels, IMAGE_SIZE_RAW, augmented, seed, epoch, index);
        resizeInto(augmented, 0, imageSize, x, i * pixels);
      } else {
        resizeInto(split.images, index * rawPixels, imageSize, x, i * pixels);
      }
      labels[i] = split.labels[index];
    }
    yield { x, labels, size, imageSize };
  }
}

