// Fashion-MNIST: where the IDX files live, reading and verifying them, downloading them, and
// streaming shuffled, resized batches (NHWC floats in [0,1]) to the training loop.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NinError, UsageError } from '../sys/errors';
import { readRegularFile } from '../sys/read-file';
import { deriveSeed, mulberry32 } from '../sys/random';
import { IMAGE_SIZE_RAW } from './fashion-mnist';

// The pure pieces (no Node) live where a browser bundle can take them; re-exported so callers keep importing them from here.
import { ALL_FILES, FILE_NAMES, FIX, HOW_TO_GET, IMAGES_MAGIC, LABELS_MAGIC, MAX_IDX_BYTES, OFFICIAL_SHA256, type Dataset, type FileCheck, type Split } from './files';
import { findDatasetDir, datasetFilePath } from './locate';

// The rooms of data/ by stage, re-exported: this module is where the rest of nin asks for the dataset.
export * from './files';
export * from './locate';
export * from './download';
export * from './batches';

// ---------------------------------------------------------------------------------------------
// Reading and verifying IDX files

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The unpacked bytes of a raw or gzipped file, never more than MAX_IDX_BYTES: a file or a .gz that
 * holds more is refused before it fills memory. A corrupt .gz is a NinError naming the file.
 */
function readUnpacked(filePath: string): Buffer {
  const raw = readRegularFile(filePath, { maxBytes: MAX_IDX_BYTES, fix: FIX, what: 'a Fashion-MNIST IDX file' });
  if (!filePath.endsWith('.gz') && !isGzip(raw)) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: MAX_IDX_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new NinError(`${filePath}: unpacks to more than ${MAX_IDX_BYTES} bytes, the size of the largest Fashion-MNIST file; ${FIX}`);
    }
    throw new NinError(`${filePath}: truncated or corrupt gzip (${(err as Error).message}); ${FIX}`);
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parses one IDX file (raw or .gz): checks the magic and that the header's dims match the size. */
export function readIdx(filePath: string, expectedMagic: number): { dims: number[]; data: Uint8Array; sha256: string } {
  const bytes = readUnpacked(filePath);
  if (bytes.length < 4) {
    throw new NinError(`${filePath}: truncated: expected at least 4 bytes of header, got ${bytes.length}; ${FIX}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getInt32(0, false);
  if (magic !== expectedMagic) {
    throw new NinError(`${filePath}: wrong magic number ${magic}, expected ${expectedMagic}; ${FIX}`);
  }
  const rank = expectedMagic & 0xff;
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new NinError(`${filePath}: truncated: expected at least ${headerBytes} bytes of header, got ${bytes.length}; ${FIX}`);
  }
  // Dimensions are unsigned 32-bit counts; their product is compared with the bytes there, never allocated.
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expectedBytes = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (expectedBytes > MAX_IDX_BYTES) {
    throw new NinError(
      `${filePath}: its header declares dims [${dims.join(', ')}], more data than the largest Fashion-MNIST file holds (${MAX_IDX_BYTES} bytes); ${FIX}`,
    );
  }
  if (bytes.length < expectedBytes) {
    throw new NinError(
      `${filePath}: truncated: expected ${expectedBytes} bytes for dims [${dims.join(', ')}], got ${bytes.length}; ${FIX}`,
    );
  }
  if (bytes.length > expectedBytes) {
    throw new NinError(
      `${filePath}: ${bytes.length - expectedBytes} unexpected trailing bytes after dims [${dims.join(', ')}] (expected ${expectedBytes} bytes, got ${bytes.length}); ${FIX}`,
    );
  }
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, expectedBytes - headerBytes);
  return { dims, data, sha256: sha256Hex(bytes) };
}

function requireFile(dir: string, name: string): string {
  const filePath = datasetFilePath(dir, name);
  if (filePath === null) throw new NinError(`${path.join(dir, name)}[.gz] is missing; ${HOW_TO_GET}`);
  return filePath;
}

function checkSha256(filePath: string, actual: string, expected: string): void {
  if (actual !== expected) {
    throw new NinError(
      `${filePath}: checksum mismatch: sha256 of the unpacked file is ${actual}, expected ${expected} (not the official Fashion-MNIST file); ${FIX}`,
    );
  }
}

/**
 * Reads and verifies one split. `expectedSha256` maps unpacked file names to checksums; tests
 * pass their fixtures' checksums, everyone else gets the official ones.
 */
export function readSplit(dir: string, which: 'train' | 'test', expectedSha256: Readonly<Record<string, string>> = OFFICIAL_SHA256): Split {
  const imagesName = which === 'train' ? FILE_NAMES.trainImages : FILE_NAMES.testImages;
  const labelsName = which === 'train' ? FILE_NAMES.trainLabels : FILE_NAMES.testLabels;
  const imagesPath = requireFile(dir, imagesName);
  const labelsPath = requireFile(dir, labelsName);

  const images = readIdx(imagesPath, IMAGES_MAGIC);
  checkSha256(imagesPath, images.sha256, expectedSha256[imagesName]);
  const labels = readIdx(labelsPath, LABELS_MAGIC);
  checkSha256(labelsPath, labels.sha256, expectedSha256[labelsName]);

  const [count, rows, cols] = images.dims;
  if (count === 0) throw new NinError(`${imagesPath} holds no images; ${FIX}`);
  if (rows !== IMAGE_SIZE_RAW || cols !== IMAGE_SIZE_RAW) {
    throw new NinError(`${imagesPath}: images are ${rows}x${cols}, expected ${IMAGE_SIZE_RAW}x${IMAGE_SIZE_RAW}; ${FIX}`);
  }
  if (labels.dims[0] !== count) {
    throw new NinError(`${imagesPath} holds ${count} images but ${labelsPath} holds ${labels.dims[0]} labels; ${FIX}`);
  }
  return { images: images.data, labels: labels.data, count };
}

/** The first `limit` examples, copied so the full split's buffer can be freed. */
function firstN(split: Split, limit: number | undefined, what: string): Split {
  if (limit === undefined) return split;
  if (!Number.isInteger(limit) || limit <= 0)
    throw new Error(`${what} must be a positive integer, got ${limit} (this is a bug: the CLI validates it)`);
  if (limit >= split.count) return split;
  const pixels = IMAGE_SIZE_RAW * IMAGE_SIZE_RAW;
  return { images: split.images.slice(0, limit * pixels), labels: split.labels.slice(0, limit), count: limit };
}

/** Finds, reads and verifies both splits, then keeps the first trainLimit/testLimit examples. */
export function loadFashionMnist(opts: { dataDir?: string; trainLimit?: number; testLimit?: number } = {}): Dataset {
  return loadDatasetFrom(findDatasetDir(opts.dataDir), opts);
}

/** loadFashionMnist for a known directory, with injectable checksums (for tests). */
export function loadDatasetFrom(
  dir: string,
  opts: { trainLimit?: number; testLimit?: number } = {},
  expectedSha256: Readonly<Record<string, string>> = OFFICIAL_SHA256,
): Dataset {
  return {
    dir,
    train: firstN(readSplit(dir, 'train', expectedSha256), opts.trainLimit, 'trainLimit'),
    test: firstN(readSplit(dir, 'test', expectedSha256), opts.testLimit, 'testLimit'),
  };
}

/**
 * --val-split: `count` examples held out of `split`, stratified (each class in its share of the split,
 * largest remainders making the total exact) and chosen by a seeded shuffle of each class's indices,
 * so a resumed run holds out the same ones. Both parts keep the split's order.
 */
export function splitValidation(split: Split, count: number, seed: number): { train: Split; validation: Split } {
  if (!Number.isSafeInteger(count) || count < 1 || count >= split.count)
    throw new UsageError(`--val-split ${count} must hold out at least 1 and fewer than the ${split.count} training examples`);
  let classes = 0;
  for (let i = 0; i < split.count; i++) classes = Math.max(classes, split.labels[i] + 1);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]].push(i);
  const exact = byClass.map((indices) => (indices.length * count) / split.count);
  const taken = exact.map(Math.floor);
  const remainder = (label: number) => exact[label] - taken[label];
  const byRemainder = byClass.map((_, label) => label).sort((a, b) => remainder(b) - remainder(a) || a - b);
  const missing = count - taken.reduce((a, b) => a + b, 0); // fewer than the number of classes
  for (let i = 0; i < missing; i++) taken[byRemainder[i]]++;
  const held = new Uint8Array(split.count);
  byClass.forEach((indices, label) => {
    const random = mulberry32(deriveSeed(seed, 5, label));
    for (let i = indices.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [indices[i], indices[j]] = [indices[j], indices[i]];
    }
    for (const i of indices.slice(0, taken[label])) held[i] = 1;
  });
  const pixels = IMAGE_SIZE_RAW * IMAGE_SIZE_RAW;
  const subset = (keep: number): Split => {
    const chosen: number[] = [];
    for (let i = 0; i < split.count; i++) if (held[i] === keep) chosen.push(i);
    const images = new Uint8Array(chosen.length * pixels);
    chosen.forEach((from, to) => images.set(split.images.subarray(from * pixels, (from + 1) * pixels), to * pixels));
    return { images, labels: Uint8Array.from(chosen, (i) => split.labels[i]), count: chosen.length };
  };
  return { train: subset(0), validation: subset(1) };
}

/** Each file's checksum status for `nin data`; a bad checksum or corrupt .gz is ok=false, a missing file a NinError. */
export function checkDataset(dir: string, expectedSha256: Readonly<Record<string, string>> = OFFICIAL_SHA256): FileCheck[] {
  return ALL_FILES.map((name) => checkOne(requireFile(dir, name), name, expectedSha256[name]));
}

/** One file's checksum status; a corrupt .gz is ok=false with a `problem`, not an exception. */
export function checkOne(filePath: string, name: string, expected: string): FileCheck {
  try {
    const sha256 = sha256Hex(readUnpacked(filePath));
    return { name, path: filePath, sha256, expected, ok: sha256 === expected };
  } catch (err) {
    if (!(err instanceof NinError)) throw err;
    return { name, path: filePath, sha256: '', expected, ok: false, problem: err.message };
  }
}

