// Classifying real pictures with a checkpoint: PNG/JPEG decoding, conversion to Fashion-MNIST's
// look (grayscale, 28x28, light garment on black), then the checkpoint's resize and a softmax.
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { loadCheckpoint } from './checkpoint';
import { initBackend } from './backend';
import type { BackendChoice } from './config';
import { CLASS_NAMES, resizeInto } from './data';
import { NinError } from './errors';
import { forward } from './model';
import { toFashionMnist, type RgbaImage } from './picture-prep';
import { readRegularFile } from './read-file';

// Re-exported: callers of predict's API find the conversion with the decoder.
export { toFashionMnist, type RgbaImage } from './picture-prep';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
/**
 * The memory one picture may take while it is decoded, whatever its file claims: pictures whose
 * header promises more are refused before decoding. About 40 megapixels of an 8-bit colour PNG or
 * JPEG; Fashion-MNIST's pictures are 28x28, so anything over a few hundred pixels a side is plenty.
 */
export const DECODE_BUDGET_BYTES = 512e6;
/** The longest side nin converts (JPEG's own limit): the conversion keeps 28 values per row of the longer side. */
export const MAX_PICTURE_SIDE = 65535;
const MAX_FILE_BYTES = 256e6; // compressed pictures within the budget are far smaller
const MAX_JPEG_SCANS = 100; // progressive JPEGs have about 10; each scan decodes the whole frame again
const BATCH_SIZE = 64; // images per forward pass
const SCALE_DOWN = 'scale it down first (a few hundred pixels a side is plenty: Fashion-MNIST pictures are 28x28)';
const INTACT = 'pass an intact PNG or JPEG picture';

/** What a picture's header says, read before any decoding. */
export interface PictureHeader {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  decodeBytes: number; // memory the decoder needs for it, estimated from the header
  interlaced?: boolean; // PNG: Adam7
  inflatedBytes?: number; // PNG: the size of its image data once inflated
}

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.ceil(bytes / 1e6)} MB`;
}

/** PNG colour types and the bit depths each allows, with their channels per pixel (PNG spec, 11.2.2). */
const PNG_COLOUR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // gray
  2: { channels: 3, depths: [8, 16] }, // RGB
  3: { channels: 1, depths: [1, 2, 4, 8] }, // palette
  4: { channels: 2, depths: [8, 16] }, // gray + alpha
  6: { channels: 4, depths: [8, 16] }, // RGBA
};

/** Adam7's seven passes: x and y start and step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

function pngHeader(bytes: Uint8Array, file: string): PictureHeader {
  const damaged = (why: string) => new NinError(`${file} is a damaged PNG (${why}); ${INTACT}`);
  if (bytes.length < 33) throw damaged(`only ${bytes.length} bytes, too short for its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(...bytes.subarray(12, 16));
  if (view.getUint32(8) !== 13 || type !== 'IHDR') throw damaged('it does not start with an IHDR header');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const colourType = bytes[25];
  const interlace = bytes[28];
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) throw damaged(`its header says ${width}x${height} pixels`);
  const colour = PNG_COLOUR_TYPES[colourType];
  if (!colour || !colour.depths.includes(depth)) throw damaged(`colour type ${colourType} with ${depth}-bit samples does not exist`);
  if (bytes[26] !== 0 || bytes[27] !== 0 || interlace > 1) throw damaged('unknown compression, filter or interlace method');
  const bits = colour.channels * depth;
  const rowBytes = (w: number) => 1 + Math.ceil((w * bits) / 8);
  let inflatedBytes = height * rowBytes(width);
  if (interlace === 1) {
    inflatedBytes = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w > 0 && h > 0) inflatedBytes += h * rowBytes(w);
    }
  }
  // pngjs keeps the inflated data, a bitmap (16-bit samples as 2 bytes) and the 8-bit RGBA result.
  const pixels = width * height;
  return {
    format: 'png',
    width,
    height,
    interlaced: interlace === 1,
    inflatedBytes,
    decodeBytes: inflatedBytes + pixels * 4 * (depth === 16 ? 2 : 1) + pixels * 4,
  };
}

/** Start-of-frame markers jpeg-js decodes: baseline, extended sequential and progressive Huffman. */
const JPEG_DECODABLE_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
const JPEG_OTHER_FRAMES = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegHeader(bytes: Uint8Array, file: string): PictureHeader {
  const damaged = (why: string) => new NinError(`${file} is a damaged JPEG (${why}); ${INTACT}`);
  let frame: { width: number; height: number; components: number } | null = null;
  let scans = 0;
  let ended = false;
  let i = 2;
  while (i < bytes.length) {
    if (bytes[i] !== 0xff) throw damaged(`no marker at byte ${i}`);
    while (i < bytes.length && bytes[i] === 0xff) i++; // fill bytes
    if (i >= bytes.length) break;
    const marker = bytes[i++];
    if (marker === 0xd9) {
      ended = true; // end of image; anything after it is ignored, as every decoder does
      break;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // no length
    if (i + 2 > bytes.length) throw damaged('it ends inside a marker');
    const length = (bytes[i] << 8) | bytes[i + 1];
    if (length < 2 || i + length > bytes.length) throw damaged('it ends inside a marker segment');
    if (JPEG_OTHER_FRAMES.has(marker)) {
      throw new NinError(
        `${file} is a lossless, hierarchical or arithmetic-coded JPEG, which nin cannot decode; save it as PNG or as an ordinary JPEG`,
      );
    }
    if (JPEG_DECODABLE_FRAMES.has(marker)) {
      if (frame) throw damaged('it has two frame headers');
      if (length < 8) throw damaged('its frame header is too short');
      const precision = bytes[i + 2];
      const height = (bytes[i + 3] << 8) | bytes[i + 4];
      const width = (bytes[i + 5] << 8) | bytes[i + 6];
      const components = bytes[i + 7];
      if (precision !== 8)
        throw new NinError(`${file} is a ${precision}-bit JPEG, which nin cannot decode; save it as PNG or as an 8-bit JPEG`);
      if (width === 0 || height === 0) throw damaged(`its frame header says ${width}x${height} pixels`);
      if (![1, 3, 4].includes(components)) throw damaged(`it has ${components} colour components`);
      frame = { width, height, components };
    }
    i += length;
    if (marker === 0xda) {
      if (!frame) throw damaged('image data comes before the frame header');
      if (++scans > MAX_JPEG_SCANS) throw damaged(`more than ${MAX_JPEG_SCANS} scans`);
      // Skip the entropy-coded data: it ends at the first 0xFF that is not stuffing (0xFF00) or a restart marker.
      while (
        i < bytes.length &&
        !(bytes[i] === 0xff && i + 1 < bytes.length && bytes[i + 1] !== 0x00 && !(bytes[i + 1] >= 0xd0 && bytes[i + 1] <= 0xd7))
      )
        i++;
    }
  }
  if (!frame) throw damaged('it has no frame header');
  if (scans === 0) throw damaged('it has no image data');
  if (!ended) throw damaged('it is cut short: no end-of-image marker');
  const { width, height, components } = frame;
  // jpeg-js: per component a 16-bit coefficient for each pixel of its whole 8x8 blocks, then its
  // 8-bit samples twice (decoded, then interleaved), then the RGBA result.
  const coefficients = (Math.ceil(width / 8) + 1) * (Math.ceil(height / 8) + 1) * 64;
  return { format: 'jpeg', width, height, decodeBytes: components * (coefficients * 2 + width * height * 2) + width * height * 4 };
}

/** The format and size of a PNG or JPEG, from its header alone; anything else is a NinError naming the file. */
export function pictureHeader(bytes: Uint8Array, file: string): PictureHeader {
  if (bytes.length === 0) throw new NinError(`${file} is empty; pass a PNG or JPEG picture`);
  if (startsWith(bytes, PNG_SIGNATURE)) return pngHeader(bytes, file);
  if (startsWith(bytes, JPEG_SIGNATURE)) return jpegHeader(bytes, file);
  throw new NinError(`${file} is not a PNG or JPEG picture; convert it to PNG or JPEG first`);
}

/** A header's picture fits the decoding budget, or a NinError says how big it is and what to do. */
function checkBudget(header: PictureHeader, file: string): void {
  if (Math.max(header.width, header.height) > MAX_PICTURE_SIDE) {
    throw new NinError(
      `${file} is ${header.width}x${header.height} pixels, longer than the ${MAX_PICTURE_SIDE} pixels a side nin reads; ${SCALE_DOWN}`,
    );
  }
  if (header.decodeBytes > DECODE_BUDGET_BYTES) {
    throw new NinError(
      `${file} is ${header.width}x${header.height} pixels: decoding it would take about ${megabytes(header.decodeBytes)}, more than the ${megabytes(DECODE_BUDGET_BYTES)} nin allows for one picture; ${SCALE_DOWN}`,
    );
  }
}

/** The concatenated IDAT chunks of a PNG, walked with every length checked against the file. */
function pngImageData(bytes: Uint8Array, file: string): Buffer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let i = 8; i + 8 <= bytes.length;) {
    const length = view.getUint32(i);
    const type = String.fromCharCode(...bytes.subarray(i + 4, i + 8));
    if (i + 12 + length > bytes.length)
      throw new NinError(`${file} is a damaged PNG (chunk ${JSON.stringify(type)} runs past the end of the file); ${INTACT}`);
    if (type === 'IDAT') parts.push(bytes.subarray(i + 8, i + 8 + length));
    if (type === 'IEND') break;
    i += 12 + length;
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a PNG or JPEG (by content, not by extension) after checking its header against the
 * decoding budget; anything else, or a damaged file, is a NinError naming the file.
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  const header = pictureHeader(bytes, file);
  checkBudget(header, file);
  if (header.format === 'png') {
    try {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // pngjs bounds what it inflates by the header's size, except for interlaced pictures: check those here.
      if (header.interlaced) zlib.inflateSync(pngImageData(bytes, file), { maxOutputLength: header.inflatedBytes });
      const png = PNG.sync.read(buffer);
      if (png.width !== header.width || png.height !== header.height) throw new Error('its size changed while decoding');
      return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (err) {
      if (err instanceof NinError) throw err;
      const why =
        (err as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE'
          ? 'its image data inflates to more than its pixels hold'
          : oneLine(err);
      throw new NinError(`${file} is a damaged PNG (${why}); ${INTACT}`);
    }
  }
  try {
    const image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: (header.width * header.height) / 1e6 + 1,
      maxMemoryUsageInMB: DECODE_BUDGET_BYTES / (1024 * 1024),
    });
    if (image.width !== header.width || image.height !== header.height) throw new Error('its size changed while decoding');
    return { width: image.width, height: image.height, data: image.data };
  } catch (err) {
    throw new NinError(`${file} is a damaged or unsupported JPEG (${oneLine(err)}); ${INTACT}`);
  }
}

/** A decoder's error message as a short line. */
function oneLine(err: unknown): string {
  const text = String((err as Error)?.message ?? err)
    .split('\n')[0]
    .trim();
  return text.length > 100 ? `${text.slice(0, 97)}...` : text || 'unreadable';
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
    // One bad file never stops the others: whatever goes wrong with it is its own line.
    try {
      const bytes = readRegularFile(file, { maxBytes: MAX_FILE_BYTES, fix: 'pass PNG or JPEG picture files', what: 'a picture' });
      const image = decodeImage(bytes, file);
      ready.push({ file, width: image.width, height: image.height, pixels: toFashionMnist(image, Boolean(options.invert)) });
    } catch (err) {
      const error = err instanceof NinError ? err.message : `${file} could not be read as a picture (${oneLine(err)}); ${INTACT}`;
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
