// Fashion-MNIST: where the IDX files live, reading and verifying them, downloading them, and
// streaming shuffled, resized batches (NHWC floats in [0,1]) to the training loop.

import { augmentImage } from './augment';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NinError, UsageError } from '../sys/errors';
import { readRegularFile } from '../sys/read-file';
import { describeFsError } from '../sys/safe-file';
import { deriveSeed, mulberry32 } from '../sys/random';
import { IMAGE_SIZE_RAW, resizeInto } from './fashion-mnist';

// The pure pieces (no Node) live where a browser bundle can take them; re-exported so callers keep importing them from here.
export { CLASS_NAMES, IMAGE_SIZE_RAW, resizeInto } from './fashion-mnist';

export const IMAGES_MAGIC = 2051; // IDX: 0x00 0x00, type 0x08 (uint8), 3 dims
export const LABELS_MAGIC = 2049; // IDX: 0x00 0x00, type 0x08 (uint8), 1 dim
export const DEFAULT_MIRROR = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
export const SYSTEM_DATA_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * Where `nin data --download` writes when no directory is named, per the XDG base directory spec:
 * `$XDG_CACHE_HOME/nin/fashion-mnist` (an absolute XDG_CACHE_HOME only, as the spec says), else
 * `~/.cache/nin/fashion-mnist`. Never inside the package, which may be read-only or shared.
 */
export function cacheDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const cache = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.cache');
  return path.resolve(cache, 'nin', 'fashion-mnist');
}

/** The four files by their unpacked names; on disk each may also be `<name>.gz`. */
export const FILE_NAMES = Object.freeze({
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
});

/** SHA-256 of the unpacked official files (60k/10k split from zalandoresearch/fashion-mnist). */
export const OFFICIAL_SHA256: Readonly<Record<string, string>> = Object.freeze({
  [FILE_NAMES.trainImages]: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  [FILE_NAMES.trainLabels]: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  [FILE_NAMES.testImages]: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  [FILE_NAMES.testLabels]: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
});

/** The largest Fashion-MNIST file (train images, unpacked): no IDX file nin reads is bigger. */
export const MAX_IDX_BYTES = 16 + 60000 * 28 * 28;
/** A download that sends nothing for this long has stalled. */
export const DOWNLOAD_TIMEOUT_MS = 30_000;

const ALL_FILES = [FILE_NAMES.trainImages, FILE_NAMES.trainLabels, FILE_NAMES.testImages, FILE_NAMES.testLabels];
const FIX = 're-download with `nin data --download` or reinstall with `apt-get install --reinstall dataset-fashion-mnist`';
const HOW_TO_GET =
  'get it with `apt-get install dataset-fashion-mnist`, or `nin data --download`, ' +
  'or point `--data-dir DIR` / NIN_DATA_DIR at a directory holding the four IDX files (.gz or unpacked)';

export interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
} // images count*28*28, row-major
export interface Dataset {
  dir: string;
  train: Split;
  test: Split;
}
/** `problem` says why a file that exists could not be hashed (e.g. a truncated .gz); then sha256 is ''. */
export interface FileCheck {
  name: string;
  path: string;
  sha256: string;
  expected: string;
  ok: boolean;
  problem?: string;
}

// ---------------------------------------------------------------------------------------------
// Locating the dataset

/** The path of `name` in `dir`, preferring `<name>.gz` (what the package and --download write), or null. */
export function datasetFilePath(dir: string, name: string): string | null {
  for (const candidate of [path.join(dir, name + '.gz'), path.join(dir, name)]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return null;
}

function missingFiles(dir: string): string[] {
  return ALL_FILES.filter((name) => datasetFilePath(dir, name) === null);
}

export interface DirCandidate {
  dir: string;
  explicit: string | null;
} // explicit: how the user named it, if they did

/** Where to look, in order: --data-dir, $NIN_DATA_DIR, the Debian package's directory, the download cache (cacheDataDir). */
export function datasetSearchPath(dataDir?: string, env: NodeJS.ProcessEnv = process.env): DirCandidate[] {
  const candidates: DirCandidate[] = [];
  if (dataDir) candidates.push({ dir: path.resolve(dataDir), explicit: '--data-dir' });
  if (env.NIN_DATA_DIR) candidates.push({ dir: path.resolve(env.NIN_DATA_DIR), explicit: 'NIN_DATA_DIR' });
  candidates.push({ dir: SYSTEM_DATA_DIR, explicit: null }, { dir: cacheDataDir(env), explicit: null });
  return candidates;
}

/**
 * The first candidate holding all four files. A directory the user named (--data-dir or
 * NIN_DATA_DIR) must hold them: we say so rather than silently falling through to another copy.
 */
export function locateDataset(candidates: DirCandidate[]): string {
  for (const { dir, explicit } of candidates) {
    const missing = missingFiles(dir);
    if (missing.length === 0) return dir;
    if (explicit) {
      throw new NinError(`Fashion-MNIST not found in ${dir} (given by ${explicit}): missing ${missing.join(', ')}; ${HOW_TO_GET}`);
    }
  }
  throw new NinError(`Fashion-MNIST not found (looked in ${candidates.map((c) => c.dir).join(', ')}); ${HOW_TO_GET}`);
}

/** Lookup order: dataDir option, $NIN_DATA_DIR, /usr/share/datasets/fashion-mnist/, the download cache. */
export function findDatasetDir(dataDir?: string): string {
  return locateDataset(datasetSearchPath(dataDir));
}

/** Where `nin data --download` writes: --data-dir, else $NIN_DATA_DIR, else the cache (never the system dir or the package). */
export function defaultDownloadDir(dataDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(dataDir || env.NIN_DATA_DIR || cacheDataDir(env));
}

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

function sha256Hex(bytes: Uint8Array): string {
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
function checkOne(filePath: string, name: string, expected: string): FileCheck {
  try {
    const sha256 = sha256Hex(readUnpacked(filePath));
    return { name, path: filePath, sha256, expected, ok: sha256 === expected };
  } catch (err) {
    if (!(err instanceof NinError)) throw err;
    return { name, path: filePath, sha256: '', expected, ok: false, problem: err.message };
  }
}

// ---------------------------------------------------------------------------------------------
// Downloading

/**
 * Fetches the four .gz files from `baseUrl` into `destDir`. Each is written to a temporary name,
 * its unpacked content checked against `expectedSha256`, then renamed into place, so a failed or
 * interrupted download never leaves a file under the final name. Files already present and
 * correct are kept.
 */
export async function downloadFashionMnist(
  destDir: string,
  baseUrl: string = DEFAULT_MIRROR,
  log: (line: string) => void = () => {},
  expectedSha256: Readonly<Record<string, string>> = OFFICIAL_SHA256,
  timeoutMs: number = DOWNLOAD_TIMEOUT_MS,
): Promise<FileCheck[]> {
  try {
    fs.mkdirSync(destDir, { recursive: true });
  } catch (err) {
    throw describeFsError(err, `creating ${destDir}`, 'pass a --data-dir you can write to');
  }
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const results: FileCheck[] = [];
  for (const name of ALL_FILES) {
    const expected = expectedSha256[name];
    const finalPath = path.join(destDir, name + '.gz');
    const present = datasetFilePath(destDir, name);
    if (present !== null) {
      const existing = checkOne(present, name, expected);
      if (existing.ok) {
        log(`${present}: already present, sha256 ok`);
        results.push(existing);
        continue;
      }
    }
    const url = base + name + '.gz';
    log(`downloading ${url}`);
    const body = await fetchBytes(url, timeoutMs);
    const tempPath = `${finalPath}.partial-${process.pid}`;
    try {
      try {
        fs.writeFileSync(tempPath, body);
      } catch (err) {
        throw describeFsError(err, `writing ${tempPath}`, 'free some space or pass a --data-dir you can write to');
      }
      let sha256: string;
      try {
        sha256 = sha256Hex(gunzipSync(body, { maxOutputLength: MAX_IDX_BYTES }));
      } catch (err) {
        throw new NinError(`${url}: not a valid gzip file of a Fashion-MNIST size (${(err as Error).message}); ${RETRY}`);
      }
      if (sha256 !== expected) {
        throw new NinError(`${url}: checksum mismatch: sha256 of the unpacked file is ${sha256}, expected ${expected}; ${RETRY}`);
      }
      try {
        fs.renameSync(tempPath, finalPath);
      } catch (err) {
        throw describeFsError(err, `renaming ${tempPath} to ${finalPath}`, 'pass a --data-dir you can write to');
      }
      log(`${finalPath}: ${(body.length / 1e6).toFixed(1)} MB, sha256 ok`);
      results.push({ name, path: finalPath, sha256, expected, ok: true });
    } finally {
      fs.rmSync(tempPath, { force: true });
    }
  }
  return results;
}

const RETRY = 'retry later, or set NIN_MIRROR_URL to another mirror, or install with `apt-get install dataset-fashion-mnist`';

/** Why a connection failed, in words (undici reports an errno-style code as the cause). */
const NETWORK_PROBLEMS: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'the host name was not found',
  EAI_AGAIN: 'the host name could not be looked up (no network?)',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_SOCKET: 'the connection was lost',
};

/**
 * The body of `url`, with a timeout on every step: connecting, the response's headers and each
 * read of its body. A mirror that sends nothing for `timeoutMs` is abandoned with one line, and a
 * body larger than any Fashion-MNIST file is refused before it fills memory.
 */
async function fetchBytes(url: string, timeoutMs: number): Promise<Buffer> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), timeoutMs);
  };
  const stalled = () => new NinError(`could not download ${url}: the mirror sent nothing for ${timeoutMs / 1000} s; ${RETRY}`);
  const failed = (err: unknown, what: string) => {
    if (controller.signal.aborted) return stalled();
    const cause = (err as { cause?: { code?: string } }).cause;
    const reason = (cause?.code && NETWORK_PROBLEMS[cause.code]) || what;
    return new NinError(`could not download ${url}: ${reason}; ${RETRY}`);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (err) {
      throw failed(err, 'the connection failed');
    }
    if (!response.ok) {
      throw new NinError(`could not download ${url}: HTTP ${response.status} ${response.statusText}; ${RETRY}`);
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > MAX_IDX_BYTES)
      throw new NinError(`could not download ${url}: it is ${declared} bytes, more than any Fashion-MNIST file; ${RETRY}`);
    const chunks: Uint8Array[] = [];
    let received = 0;
    try {
      const reader = response.body?.getReader();
      for (;;) {
        arm();
        const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
        if (chunk.done) break;
        received += chunk.value.byteLength;
        if (received > MAX_IDX_BYTES) {
          controller.abort();
          throw new NinError(
            `could not download ${url}: it sent more than ${MAX_IDX_BYTES} bytes, more than any Fashion-MNIST file; ${RETRY}`,
          );
        }
        chunks.push(chunk.value);
      }
    } catch (err) {
      if (err instanceof NinError) throw err;
      throw failed(err, 'the connection was lost');
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
  }
}

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
