// Tiny Fashion-MNIST-shaped IDX fixtures written to temp dirs, with their checksums, for data tests.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { FILE_NAMES, IMAGES_MAGIC, LABELS_MAGIC } from '../../src/data/idx';

/** An IDX file: big-endian int32 magic, big-endian int32 dims, then the uint8 data. */
export function idxBytes(magic: number, dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const created: string[] = [];

/** A fresh directory under the OS temp dir; removeTempDirs() deletes all of them. */
export function tempDir(prefix = 'nin-data-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Image i has every pixel = (i * 7 + pixel) % 256, label i % 10: each example is recognisable. */
export function fixtureSplit(count: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) for (let p = 0; p < 784; p++) images[i * 784 + p] = (i * 7 + p) % 256;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % 10;
  return { images, labels };
}

/** The four unpacked files of a small dataset, by unpacked name. */
export function fixtureFiles(trainCount: number, testCount: number): Record<string, Buffer> {
  const train = fixtureSplit(trainCount);
  const test = fixtureSplit(testCount);
  return {
    [FILE_NAMES.trainImages]: idxBytes(IMAGES_MAGIC, [trainCount, 28, 28], train.images),
    [FILE_NAMES.trainLabels]: idxBytes(LABELS_MAGIC, [trainCount], train.labels),
    [FILE_NAMES.testImages]: idxBytes(IMAGES_MAGIC, [testCount, 28, 28], test.images),
    [FILE_NAMES.testLabels]: idxBytes(LABELS_MAGIC, [testCount], test.labels),
  };
}

export function checksums(files: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, sha256Hex(bytes)]));
}

/** Writes `files` into `dir` (gzipped as `<name>.gz` when gz) and returns their unpacked checksums. */
export function writeFixtureDir(dir: string, files: Record<string, Buffer>, gz: boolean): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    if (gz) fs.writeFileSync(path.join(dir, name + '.gz'), gzipSync(bytes));
    else fs.writeFileSync(path.join(dir, name), bytes);
  }
  return checksums(files);
}
