// Classifying real pictures with a checkpoint: PNG/JPEG decoding, conversion to Fashion-MNIST's
// look (grayscale, 28x28, light garment on black), then the checkpoint's resize and a softmax.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { loadCheckpoint } from './checkpoint';
import { initBackend } from './backend';
import type { BackendChoice } from './config';
import { CLASS_NAMES, IMAGE_SIZE_RAW, resizeInto } from './data';
import { NinError } from './errors';
import { forward } from './model';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
const MAX_PIXELS = 100e6; // bigger pictures are refused rather than exhausting memory
const BATCH_SIZE = 64; // images per forward pass

/** ITU-R BT.601 luma, as PIL's convert('L') (how the Fashion-MNIST pictures were made gray). */
const LUMA = [0.299, 0.587, 0.114];

/** An 8-bit RGBA picture, as both decoders return it. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array; // width*height*4
}

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/** Decodes a PNG or JPEG (by content, not by extension); anything else is a NinError naming the file. */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  if (bytes.length === 0) throw new NinError(`${file} is empty; pass a PNG or JPEG picture`);
  if (startsWith(bytes, PNG_SIGNATURE)) {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (err) {
      throw new NinError(`${file} is a damaged PNG (${(err as Error).message}); pass an intact PNG or JPEG picture`);
    }
  }
  if (startsWith(bytes, JPEG_SIGNATURE)) {
    try {
      const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { width: image.width, height: image.height, data: image.data };
    } catch (err) {
      throw new NinError(`${file} is a damaged or unsupported JPEG (${(err as Error).message}); pass an intact PNG or JPEG picture`);
    }
  }
  throw new NinError(`${file} is not a PNG or JPEG picture; convert it to PNG or JPEG first`);
}

/** For each output index: the source indices it reads and their weights (which sum to 1). */
interface Taps { index: Int32Array[]; weight: Float64Array[] }

/**
 * Downscaling: area average (each output pixel is the mean of the source pixels it covers, partial
 * pixels weighted by coverage), so thin stripes do not alias. Upscaling: bilinear with half-pixel centers.
 */
function resampleTaps(from: number, to: number): Taps {
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    if (scale >= 1) {
      const start = o * scale;
      const end = (o + 1) * scale;
      const first = Math.floor(start);
      const last = Math.min(from - 1, Math.ceil(end) - 1);
      const idx: number[] = [];
      const w: number[] = [];
      for (let s = first; s <= last; s++) {
        const cover = Math.min(end, s + 1) - Math.max(start, s);
        if (cover > 1e-12) {
          idx.push(s);
          w.push(cover / scale);
        }
      }
      index.push(Int32Array.from(idx));
      weight.push(Float64Array.from(w));
    } else {
      const source = Math.max(0, scale * (o + 0.5) - 0.5);
      const lower = Math.min(from - 1, Math.floor(source));
      const upper = Math.min(from - 1, lower + 1);
      const frac = source - lower;
      index.push(Int32Array.from([lower, upper]));
      weight.push(Float64Array.from([1 - frac, frac]));
    }
  }
  return { index, weight };
}

/**
 * A picture as a Fashion-MNIST example: luma, centred on a square of background, scaled to 28x28,
 * light object on black. Fashion-MNIST was made the same way (its longest edge resized to 28, the
 * other side extended), so a pair of trousers keeps its shape instead of being stretched wide.
 * `invert` is for dark objects on a light background (most photos). Transparent pixels become
 * background.
 */
export function toFashionMnist(image: RgbaImage, invert: boolean): Uint8Array {
  const { width: w, height: h, data } = image;
  const background = invert ? 255 : 0;
  const side = Math.max(w, h);
  const left = Math.floor((side - w) / 2);
  const top = Math.floor((side - h) / 2);
  const gray = new Float64Array(side * side).fill(background);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const alpha = data[p * 4 + 3] / 255;
      const luma = LUMA[0] * data[p * 4] + LUMA[1] * data[p * 4 + 1] + LUMA[2] * data[p * 4 + 2];
      gray[(top + y) * side + left + x] = alpha * luma + (1 - alpha) * background;
    }
  }
  const n = IMAGE_SIZE_RAW;
  const taps = resampleTaps(side, n);
  // Columns first (side x 28), then rows (28 x 28).
  const narrow = new Float64Array(side * n);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < n; c++) {
      const idx = taps.index[c];
      const weight = taps.weight[c];
      let sum = 0;
      for (let k = 0; k < idx.length; k++) sum += gray[r * side + idx[k]] * weight[k];
      narrow[r * n + c] = sum;
    }
  }
  const out = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) {
    const idx = taps.index[r];
    const weight = taps.weight[r];
    for (let c = 0; c < n; c++) {
      let sum = 0;
      for (let k = 0; k < idx.length; k++) sum += narrow[idx[k] * n + c] * weight[k];
      const value = Math.min(255, Math.max(0, Math.round(sum)));
      out[r * n + c] = invert ? 255 - value : value;
    }
  }
  return out;
}

export interface PredictOptions {
  top?: number; // classes to report per picture; default 3
  invert?: boolean; // dark object on a light background
  backend?: BackendChoice;
  threads?: number | null;
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
  const backend = await initBackend(options.backend ?? 'auto', options.threads ?? null);
  const { dir, model, meta } = await loadCheckpoint(target);
  const imageSize = meta.imageSize;
  const failures: PredictFailure[] = [];
  const ready: { file: string; width: number; height: number; pixels: Uint8Array }[] = [];
  for (const file of files) {
    try {
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new NinError(code === 'ENOENT' ? `${file} does not exist` : code === 'EISDIR' ? `${file} is a directory; pass picture files` : `${file} cannot be read (${code})`);
      }
      const image = decodeImage(bytes, file);
      if (image.width * image.height > MAX_PIXELS) throw new NinError(`${file} is ${image.width}x${image.height}, more than ${MAX_PIXELS / 1e6} megapixels; scale it down first`);
      ready.push({ file, width: image.width, height: image.height, pixels: toFashionMnist(image, Boolean(options.invert)) });
    } catch (err) {
      if (!(err instanceof NinError)) throw err;
      failures.push({ file, error: err.message });
    }
  }

  const predictions: Prediction[] = [];
  try {
    const pixels = imageSize * imageSize;
    for (let first = 0; first < ready.length; first += BATCH_SIZE) {
      const chunk = ready.slice(first, first + BATCH_SIZE);
      const x = new Float32Array(chunk.length * pixels);
      chunk.forEach((item, i) => resizeInto(item.pixels, 0, imageSize, x, i * pixels));
      const probabilities = tf.tidy(() => tf.softmax(forward(model, tf.tensor4d(x, [chunk.length, imageSize, imageSize, 1]), false)).arraySync() as number[][]);
      chunk.forEach((item, i) => {
        const ranked = probabilities[i]
          .map((probability, index) => ({ index, name: CLASS_NAMES[index], probability }))
          .sort((a, b) => b.probability - a.probability || a.index - b.index);
        predictions.push({ file: item.file, width: item.width, height: item.height, top: ranked.slice(0, top), probabilities: probabilities[i] });
      });
    }
  } finally {
    model.dispose();
  }
  return { checkpoint: dir, epoch: meta.epoch, imageSize, backend: backend.name, predictions, failures };
}

/** One line per picture: `shirt.jpg: Shirt 0.621, T-shirt/top 0.210, Pullover 0.081`. */
export function formatPrediction(p: Prediction): string {
  return `${p.file}: ${p.top.map((c) => `${c.name} ${c.probability.toFixed(3)}`).join(', ')}`;
}
