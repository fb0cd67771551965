// Classifying real pictures with a checkpoint: decoding (picture-decode.ts), conversion to
// Fashion-MNIST's look (picture-prep.ts), then the checkpoint's resize and a softmax.
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint } from './checkpoint';
import { initBackend } from './backend';
import type { BackendChoice, PrecisionChoice } from './config';
import { CLASS_NAMES, resizeInto } from './data';
import { NinError } from './errors';
import { forward } from './model';
import { decodeImage, oneLine, READABLE_FORMATS } from './picture-decode';
import { toFashionMnist } from './picture-prep';
import { readRegularFile } from './read-file';

// Re-exported: callers of predict's API find the decoder and the conversion with it.
export { decodeImage } from './picture-decode';
export { toFashionMnist, type RgbaImage } from './picture-prep';

const MAX_FILE_BYTES = 256e6; // compressed pictures within the decoding budget are far smaller
const BATCH_SIZE = 64; // images per forward pass

export interface PredictOptions {
  top?: number; // classes to report per picture; default 3
  invert?: boolean; // dark object on a light background
  backend?: BackendChoice;
  threads?: number | null;
  precision?: PrecisionChoice; // default fp32
}

export interface ClassProbability {
  index: number;
  name: string;
  probability: number;
}

export interface Prediction {
  file: string;
  width: number; // the picture's own size
  height: number;
  top: ClassProbability[];
  probabilities: number[]; // all ten classes, in CLASS_NAMES order
}

export interface PredictFailure {
  file: string;
  error: string; // one line
}

export interface PredictResult {
  checkpoint: string;
  epoch: number;
  imageSize: number;
  backend: string;
  predictions: Prediction[];
  failures: PredictFailure[]; // unreadable files; the others are still classified
}

/** Classifies each picture with the checkpoint; a file that cannot be read is a failure, not an exception. */
export async function predict(target: string, files: string[], options: PredictOptions = {}): Promise<PredictResult> {
  const top = options.top ?? 3;
  const backend = await initBackend(options.backend ?? 'auto', options.threads ?? null, undefined, options.precision);
  const { dir, model, meta } = await loadCheckpoint(target);
  const imageSize = meta.imageSize;
  const failures: PredictFailure[] = [];
  const ready: { file: string; width: number; height: number; pixels: Uint8Array }[] = [];
  for (const file of files) {
    // One bad file never stops the others: whatever goes wrong with it is its own line.
    try {
      const bytes = readRegularFile(file, { maxBytes: MAX_FILE_BYTES, fix: `pass picture files (${READABLE_FORMATS})`, what: 'a picture' });
      const image = await decodeImage(bytes, file);
      ready.push({ file, width: image.width, height: image.height, pixels: toFashionMnist(image, Boolean(options.invert)) });
    } catch (err) {
      const error =
        err instanceof NinError
          ? err.message
          : `${file} could not be read as a picture (${oneLine(err)}); pass an intact picture (${READABLE_FORMATS})`;
      failures.push({ file, error });
    }
  }

  const predictions: Prediction[] = [];
  try {
    const pixels = imageSize * imageSize;
    for (let first = 0; first < ready.length; first += BATCH_SIZE) {
      const chunk = ready.slice(first, first + BATCH_SIZE);
      const x = new Float32Array(chunk.length * pixels);
      chunk.forEach((item, i) => resizeInto(item.pixels, 0, imageSize, x, i * pixels));
      // Read asynchronously: a GPU backend cannot read back synchronously in Node.
      const output = tf.tidy(() => tf.softmax(forward(model, tf.tensor4d(x, [chunk.length, imageSize, imageSize, 1]), false)));
      const probabilities = (await output.array()) as number[][];
      output.dispose();
      chunk.forEach((item, i) => {
        const ranked = probabilities[i]
          .map((probability, index) => ({ index, name: CLASS_NAMES[index], probability }))
          .sort((a, b) => b.probability - a.probability || a.index - b.index);
        predictions.push({
          file: item.file,
          width: item.width,
          height: item.height,
          top: ranked.slice(0, top),
          probabilities: probabilities[i],
        });
      });
    }
  } finally {
    model.dispose();
  }
  return { checkpoint: dir, epoch: meta.epoch, imageSize, backend: backend.name, predictions, failures };
}

/** One line per picture: `shirt.jpg: Shirt 0.621, T-shirt/top 0.210, Pullover 0.081`. */
