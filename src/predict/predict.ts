// Classifying real pictures with a checkpoint: decoding (picture-decode.ts), conversion to
// Fashion-MNIST's look (picture-prep.ts), then the checkpoint's resize and a softmax.
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint } from '../run/checkpoint/load';
import { initBackend } from '../backend';
import type { BackendChoice, PrecisionChoice } from '../config/config';
import { CLASS_NAMES, resizeInto } from '../data/idx';
import { NinError } from '../sys/errors';
import { forward } from '../model/nin';
import { decodeImage, oneLine, READABLE_FORMATS } from './picture-decode';
import { toFashionMnist } from './picture-prep';
import { readRegularFile } from '../sys/read-file';
import { ELAPSED, LongSteps } from '../train/long-steps';
import { type Log, stderrLog } from '../sys/log';
import { type Stop, type StopSignal, withStop } from '../sys/signals';

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
  handleSignals?: boolean; // a stop signal ends predict after its picture or batch, with the predictions so far
  log?: Log; // stderr lines: a backend warning, a stop (default: stderr)
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
  interruptedBy?: StopSignal; // a stop signal ended it: predictions and failures hold the files done before it
}

/** Classifies each picture with the checkpoint; a file that cannot be read is a failure, not an exception. */
export async function predict(target: string, files: string[], options: PredictOptions = {}): Promise<PredictResult> {
  const log = options.log ?? stderrLog;
  const texts = { acknowledge: 'stopping after this batch', kept: 'no prediction was printed' };
  return withStop(options.handleSignals, texts, log, (stop) => predictWith(target, files, options, log, stop));
}

async function predictWith(target: string, files: string[], options: PredictOptions, log: Log, stop: Stop): Promise<PredictResult> {
  const top = options.top ?? 3;
  const backend = await initBackend(options.backend ?? 'auto', options.threads ?? null, log, options.precision);
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
    if (await stop.point()) break;
  }

  const predictions: Prediction[] = [];
  // A pure-JS batch of 64 at 224px takes minutes: guarded, with a line every 30 s while one runs (long-steps.ts).
  let first = 0;
  const steps = new LongSteps(stop, backend.name, () => ({
    text: `predict: pictures ${first + 1}-${Math.min(first + BATCH_SIZE, ready.length)} of ${ready.length} running for ${ELAPSED}`,
    terminal: false,
    everySeconds: 30,
  }));
  try {
    const pixels = imageSize * imageSize;
    for (first = 0; first < ready.length && !stop.signal; first += BATCH_SIZE) {
      const chunk = ready.slice(first, first + BATCH_SIZE);
      const x = new Float32Array(chunk.length * pixels);
      chunk.forEach((item, i) => resizeInto(item.pixels, 0, imageSize, x, i * pixels));
      // Read asynchronously: a GPU backend cannot read back synchronously in Node.
      const output = await steps.run(() =>
        tf.tidy(() => tf.softmax(forward(model, tf.tensor4d(x, [chunk.length, imageSize, imageSize, 1]), false))),
      );
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
      await stop.point();
    }
  } finally {
    steps.close();
    model.dispose();
  }
  const interrupted = stop.signal ? { interruptedBy: stop.signal } : {};
  return { checkpoint: dir, epoch: meta.epoch, imageSize, backend: backend.name, predictions, failures, ...interrupted };
}

/** One line per picture: `shirt.jpg: Shirt 0.621, T-shirt/top 0.210, Pullover 0.081`. */
