// Fashion-MNIST's files as nin knows them: their names, official checksums, IDX magic numbers and size bounds,
// where they may live, and the shapes a split is read into. data/locate.ts, idx.ts, download.ts and batches.ts share them.
import * as os from 'node:os';
import * as path from 'node:path';

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

export const ALL_FILES = [FILE_NAMES.trainImages, FILE_NAMES.trainLabels, FILE_NAMES.testImages, FILE_NAMES.testLabels];
export const FIX = 're-download with `nin data --download` or reinstall with `apt-get install --reinstall dataset-fashion-mnist`';
export const HOW_TO_GET =
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

