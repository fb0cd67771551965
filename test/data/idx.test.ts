// Tests for src/data.ts: IDX reading and verification, dataset lookup, download (local server only),
// shuffling, bilinear resize (against tfjs) and batching, plus the installed official dataset.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { NinError } from '../../src/sys/errors';
import {
  CLASS_NAMES,
  FILE_NAMES,
  IMAGES_MAGIC,
  LABELS_MAGIC,
  SYSTEM_DATA_DIR,
  Split,
  batchCount,
  batches,
  cacheDataDir,
  checkDataset,
  datasetSearchPath,
  defaultDownloadDir,
  downloadFashionMnist,
  epochPermutation,
  findDatasetDir,
  loadDatasetFrom,
  loadFashionMnist,
  locateDataset,
  readIdx,
  readSplit,
  resizeInto,
} from '../../src/data/idx';
import { checksums, fixtureFiles, fixtureSplit, idxBytes, removeTempDirs, sha256Hex, tempDir, writeFixtureDir } from '../helpers/idx';

after(removeTempDirs);

/** Asserts fn throws a NinError with exit code 1 whose one-line message matches every pattern. */
function assertNinError(fn: () => unknown, ...patterns: RegExp[]): NinError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  return checkNinError(caught, patterns);
}

async function assertRejectsNinError(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<NinError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  return checkNinError(caught, patterns);
}

function checkNinError(caught: unknown, patterns: RegExp[]): NinError {
  assert.ok(caught instanceof NinError, `expected a NinError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 1);
  assert.ok(!caught.message.includes('\n'), `message should be one line: ${caught.message}`);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.NIN_DATA_DIR;
  if (value === undefined) delete process.env.NIN_DATA_DIR;
  else process.env.NIN_DATA_DIR = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.NIN_DATA_DIR;
    else process.env.NIN_DATA_DIR = saved;
  }
}

const escape = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const FIX = /nin data --download/;

describe('readIdx', () => {
  const { images } = fixtureSplit(3);
  const bytes = idxBytes(IMAGES_MAGIC, [3, 28, 28], images);

  test('reads dims, data and the sha256 of the unpacked bytes, raw and gzipped', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a-idx3-ubyte'), bytes);
    fs.writeFileSync(path.join(dir, 'a-idx3-ubyte.gz'), gzipSync(bytes));
    for (const file of ['a-idx3-ubyte', 'a-idx3-ubyte.gz']) {
      const idx = readIdx(path.join(dir, file), IMAGES_MAGIC);
      assert.deepEqual(idx.dims, [3, 28, 28]);
      assert.deepEqual(Array.from(idx.data), Array.from(images));
      assert.equal(idx.sha256, sha256Hex(bytes));
    }
  });

  test('a truncated file names the file, the expected and actual sizes and the fix', () => {
    const dir = tempDir();
    const file = path.join(dir, 'cut-idx3-ubyte');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    assertNinError(() => readIdx(file, IMAGES_MAGIC), escape(file), /truncated: expected 2368 bytes .*got 2268/, FIX);
    fs.writeFileSync(file, bytes.subarray(0, 6));
    assertNinError(() => readIdx(file, IMAGES_MAGIC), /truncated: expected at least 16 bytes of header, got 6/);
  });

  test('a truncated .gz is reported as such', () => {
    const dir = tempDir();
    const file = path.join(dir, 'cut-idx3-ubyte.gz');
    const gz = gzipSync(bytes);
    fs.writeFileSync(file, gz.subarray(0, gz.length - 20));
    assertNinError(() => readIdx(file, IMAGES_MAGIC), escape(file), /truncated or corrupt gzip/, FIX);
  });

  test('trailing bytes after the declared data are rejected', () => {
    const dir = tempDir();
    const file = path.join(dir, 'long-idx3-ubyte');
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.alloc(5)]));
    assertNinError(() => readIdx(file, IMAGES_MAGIC), /5 unexpected trailing bytes/);
  });

  test('a wrong magic number is rejected naming both numbers', () => {
    const dir = tempDir();
    const file = path.join(dir, 'labels-idx1-ubyte');
    fs.writeFileSync(file, idxBytes(LABELS_MAGIC, [3], new Uint8Array(3)));
    assertNinError(() => readIdx(file, IMAGES_MAGIC), escape(file), /wrong magic number 2049, expected 2051/, FIX);
  });
});

describe('reading and verifying a dataset directory', () => {
  test('a well-formed dataset with the expected checksums loads, raw or gzipped', () => {
    for (const gz of [false, true]) {
      const dir = tempDir();
      const files = fixtureFiles(12, 5);
      const expected = writeFixtureDir(dir, files, gz);
      const dataset = loadDatasetFrom(dir, {}, expected);
      assert.equal(dataset.dir, dir);
      assert.equal(dataset.train.count, 12);
      assert.equal(dataset.test.count, 5);
      assert.equal(dataset.train.images.length, 12 * 784);
      assert.deepEqual(Array.from(dataset.train.images), Array.from(fixtureSplit(12).images));
      assert.deepEqual(Array.from(dataset.test.labels), [0, 1, 2, 3, 4]);
    }
  });

  test('trainLimit/testLimit keep the first N examples; a limit above the count keeps all', () => {
    const dir = tempDir();
    const expected = writeFixtureDir(dir, fixtureFiles(12, 5), true);
    const dataset = loadDatasetFrom(dir, { trainLimit: 4, testLimit: 50 }, expected);
    assert.equal(dataset.train.count, 4);
    assert.equal(dataset.train.images.length, 4 * 784);
    assert.deepEqual(Array.from(dataset.train.images), Array.from(fixtureSplit(12).images.subarray(0, 4 * 784)));
    assert.deepEqual(Array.from(dataset.train.labels), [0, 1, 2, 3]);
    assert.equal(dataset.test.count, 5);
  });

  test('well-formed files that are not the official ones fail with a checksum error', () => {
    const dir = tempDir();
    writeFixtureDir(dir, fixtureFiles(12, 5), true);
    assertNinError(
      () => loadFashionMnist({ dataDir: dir }),
      escape(path.join(dir, FILE_NAMES.trainImages + '.gz')),
      /checksum mismatch/,
      FIX,
    );
  });

  test('a checksum mismatch in one file (others fine) names that file', () => {
    const dir = tempDir();
    const files = fixtureFiles(12, 5);
    const expected = writeFixtureDir(dir, files, false);
    expected[FILE_NAMES.testLabels] = '0'.repeat(64);
    assertNinError(() => loadDatasetFrom(dir, {}, expected), escape(path.join(dir, FILE_NAMES.testLabels)), /checksum mismatch/);
  });

  test('image and label counts must agree', () => {
    const dir = tempDir();
    const files = fixtureFiles(12, 5);
    files[FILE_NAMES.trainLabels] = idxBytes(LABELS_MAGIC, [11], new Uint8Array(11));
    const expected = writeFixtureDir(dir, files, true);
    assertNinError(() => readSplit(dir, 'train', expected), /holds 12 images but .*train-labels-idx1-ubyte.gz holds 11 labels/);
  });

  test('a missing file is a NinError naming it and how to get the dataset', () => {
    const dir = tempDir();
    const expected = writeFixtureDir(dir, fixtureFiles(3, 2), true);
    fs.rmSync(path.join(dir, FILE_NAMES.testImages + '.gz'));
    assertNinError(
      () => readSplit(dir, 'test', expected),
      /t10k-images-idx3-ubyte\[\.gz\] is missing/,
      /apt-get install dataset-fashion-mnist/,
    );
    assertNinError(() => checkDataset(dir, expected), /t10k-images-idx3-ubyte\[\.gz\] is missing/);
  });

  test('checkDataset reports each file without throwing for bad checksums or a corrupt .gz', () => {
    const dir = tempDir();
    const expected = writeFixtureDir(dir, fixtureFiles(3, 2), true);
    const good = checkDataset(dir, expected);
    assert.deepEqual(
      good.map((c) => c.ok),
      [true, true, true, true],
    );
    assert.deepEqual(
      good.map((c) => c.name),
      [FILE_NAMES.trainImages, FILE_NAMES.trainLabels, FILE_NAMES.testImages, FILE_NAMES.testLabels],
    );
    assert.equal(good[0].path, path.join(dir, FILE_NAMES.trainImages + '.gz'));
    assert.equal(good[0].sha256, expected[FILE_NAMES.trainImages]);

    const official = checkDataset(dir);
    assert.deepEqual(
      official.map((c) => c.ok),
      [false, false, false, false],
    );
    assert.equal(official[0].expected, 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888');

    const gzPath = path.join(dir, FILE_NAMES.trainLabels + '.gz');
    fs.writeFileSync(gzPath, fs.readFileSync(gzPath).subarray(0, 10));
    const corrupt = checkDataset(dir, expected);
    assert.equal(corrupt[1].ok, false);
    assert.equal(corrupt[1].sha256, '');
    assert.match(corrupt[1].problem ?? '', /corrupt gzip/);
    assert.equal(corrupt[0].ok, true);
  });
});

describe('findDatasetDir', () => {
  test('search order: --data-dir, NIN_DATA_DIR, the Debian directory, the download cache (nothing inside the package)', () => {
    const env = { NIN_DATA_DIR: '/y/env', XDG_CACHE_HOME: '/z/cache' };
    const order = datasetSearchPath('/x/given', env);
    assert.deepEqual(
      order.map((c) => c.dir),
      ['/x/given', '/y/env', SYSTEM_DATA_DIR, '/z/cache/nin/fashion-mnist'],
    );
    assert.deepEqual(
      order.map((c) => c.explicit),
      ['--data-dir', 'NIN_DATA_DIR', null, null],
    );
    assert.deepEqual(
      datasetSearchPath(undefined, { HOME: '/h/me' }).map((c) => c.dir),
      [SYSTEM_DATA_DIR, '/h/me/.cache/nin/fashion-mnist'],
    );
    const packageRoot = path.resolve(__dirname, '..', '..', '..');
    for (const c of datasetSearchPath(undefined, {}))
      assert.ok(!c.dir.startsWith(packageRoot + path.sep), `${c.dir} is inside the package`);
  });

  test('--data-dir wins over NIN_DATA_DIR, which wins over the defaults; raw and .gz may be mixed', () => {
    const given = tempDir();
    const env = tempDir();
    writeFixtureDir(given, fixtureFiles(2, 2), true);
    const files = fixtureFiles(2, 2);
    writeFixtureDir(
      env,
      { [FILE_NAMES.trainImages]: files[FILE_NAMES.trainImages], [FILE_NAMES.testImages]: files[FILE_NAMES.testImages] },
      true,
    );
    writeFixtureDir(
      env,
      { [FILE_NAMES.trainLabels]: files[FILE_NAMES.trainLabels], [FILE_NAMES.testLabels]: files[FILE_NAMES.testLabels] },
      false,
    );
    withEnv(env, () => {
      assert.equal(findDatasetDir(given), given);
      assert.equal(findDatasetDir(), env);
    });
  });

  test('a --data-dir or NIN_DATA_DIR without the files is an error naming it, not a silent fallback', () => {
    const empty = tempDir();
    const partial = tempDir();
    writeFixtureDir(partial, { [FILE_NAMES.trainImages]: fixtureFiles(1, 1)[FILE_NAMES.trainImages] }, true);
    withEnv(undefined, () => {
      assertNinError(() => findDatasetDir(empty), escape(empty), /given by --data-dir/, /missing train-images-idx3-ubyte, train-labels/);
      const err = assertNinError(
        () => findDatasetDir(partial),
        escape(partial),
        /missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte;/,
      );
      assert.doesNotMatch(err.message, /missing train-images/);
    });
    withEnv(empty, () => assertNinError(() => findDatasetDir(), escape(empty), /given by NIN_DATA_DIR/));
  });

  test('falls through default directories; none found names the places and the three ways to get it', () => {
    const a = tempDir();
    const b = tempDir();
    assert.equal(
      locateDataset([
        { dir: a, explicit: null },
        { dir: SYSTEM_DATA_DIR, explicit: null },
      ]),
      SYSTEM_DATA_DIR,
    );
    assertNinError(
      () =>
        locateDataset([
          { dir: a, explicit: null },
          { dir: b, explicit: null },
        ]),
      /Fashion-MNIST not found/,
      escape(a),
      escape(b),
      /`apt-get install dataset-fashion-mnist`/,
      /`nin data --download`/,
      /--data-dir DIR/,
      /NIN_DATA_DIR/,
    );
  });

  test('with nothing given it finds the installed package or the download cache', () => {
    const expected =
      fs.existsSync(path.join(SYSTEM_DATA_DIR, FILE_NAMES.trainImages + '.gz')) ||
      fs.existsSync(path.join(SYSTEM_DATA_DIR, FILE_NAMES.trainImages))
        ? SYSTEM_DATA_DIR
        : cacheDataDir();
    withEnv(undefined, () => assert.equal(findDatasetDir(), expected));
  });
});

describe('downloadFashionMnist (local server on 127.0.0.1)', () => {
  let server: http.Server;
  let baseUrl: string;
  const served = new Map<string, Buffer>(); // url path -> body
  const requests: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      const body = served.get(req.url ?? '');
      if (!body) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function serve(prefix: string, files: Record<string, Buffer>): void {
    for (const [name, bytes] of Object.entries(files)) served.set(`/${prefix}/${name}.gz`, gzipSync(bytes));
  }

  test('downloads the four .gz files, verifies them, and the result loads', async () => {
    const files = fixtureFiles(6, 3);
    serve('good', files);
    const dest = path.join(tempDir(), 'nested', 'fashion-mnist');
    const lines: string[] = [];
    const results = await downloadFashionMnist(dest, `${baseUrl}/good/`, (line) => lines.push(line), checksums(files));
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, true],
    );
    assert.deepEqual(
      fs.readdirSync(dest).sort(),
      Object.keys(files)
        .map((n) => n + '.gz')
        .sort(),
    );
    assert.ok(lines.some((l) => l.includes(`${baseUrl}/good/${FILE_NAMES.trainImages}.gz`)));
    const dataset = loadDatasetFrom(dest, {}, checksums(files));
    assert.equal(dataset.train.count, 6);
    assert.equal(dataset.test.count, 3);

    // A second run keeps the verified files instead of fetching them again.
    const before = requests.length;
    const again = await downloadFashionMnist(dest, `${baseUrl}/good`, () => {}, checksums(files));
    assert.equal(requests.length, before);
    assert.deepEqual(
      again.map((r) => r.ok),
      [true, true, true, true],
    );

    // Unpacked files count too; a corrupt one is replaced by a fresh .gz (which lookup prefers).
    const mixed = tempDir();
    writeFixtureDir(mixed, files, false);
    fs.writeFileSync(path.join(mixed, FILE_NAMES.testLabels), Buffer.from('garbage'));
    const fetched = requests.length;
    const repaired = await downloadFashionMnist(mixed, `${baseUrl}/good/`, () => {}, checksums(files));
    assert.deepEqual(requests.slice(fetched), [`/good/${FILE_NAMES.testLabels}.gz`]);
    assert.equal(repaired[3].path, path.join(mixed, FILE_NAMES.testLabels + '.gz'));
    assert.equal(loadDatasetFrom(mixed, {}, checksums(files)).test.count, 3);
  });

  test('a file that fails verification leaves nothing at its final name and no temp file', async () => {
    const files = fixtureFiles(6, 3);
    const expected = checksums(files);
    const corrupted = { ...files, [FILE_NAMES.trainLabels]: Buffer.from(files[FILE_NAMES.trainLabels]) };
    corrupted[FILE_NAMES.trainLabels][10] ^= 0xff;
    serve('bad', corrupted);
    const dest = tempDir();
    await assertRejectsNinError(
      downloadFashionMnist(dest, `${baseUrl}/bad/`, () => {}, expected),
      escape(`${baseUrl}/bad/${FILE_NAMES.trainLabels}.gz`),
      /checksum mismatch/,
      /apt-get install dataset-fashion-mnist/,
    );
    assert.deepEqual(fs.readdirSync(dest), [FILE_NAMES.trainImages + '.gz']); // only the file verified before it

    served.set(`/notgz/${FILE_NAMES.trainImages}.gz`, Buffer.from('this is not gzip'));
    const dest2 = tempDir();
    await assertRejectsNinError(
      downloadFashionMnist(dest2, `${baseUrl}/notgz/`, () => {}, expected),
      /not a valid gzip file/,
    );
    assert.deepEqual(fs.readdirSync(dest2), []);
  });

  test('HTTP errors and unreachable hosts name the URL and suggest the package', async () => {
    const dest = tempDir();
    await assertRejectsNinError(
      downloadFashionMnist(dest, `${baseUrl}/missing/`),
      escape(`${baseUrl}/missing/${FILE_NAMES.trainImages}.gz`),
      /HTTP 404/,
      /apt-get install dataset-fashion-mnist/,
    );
    // A port that was just free: connection refused.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assertRejectsNinError(
      downloadFashionMnist(dest, `http://127.0.0.1:${port}/`),
      escape(`http://127.0.0.1:${port}/${FILE_NAMES.trainImages}.gz`),
      /the connection was refused/,
      /NIN_MIRROR_URL/,
      /apt-get install dataset-fashion-mnist/,
    );
    assert.deepEqual(fs.readdirSync(dest), []);
  });
});

describe('epochPermutation', () => {
  test('is a permutation, deterministic for (count, seed, epoch), and differs across epochs and seeds', () => {
    const p = epochPermutation(1000, 42, 3);
    assert.deepEqual(
      Array.from(p).sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.deepEqual(epochPermutation(1000, 42, 3), p);
    assert.notDeepEqual(epochPermutation(1000, 42, 4), p);
    assert.notDeepEqual(epochPermutation(1000, 43, 3), p);
    assert.notDeepEqual(
      Array.from(p),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.deepEqual(Array.from(epochPermutation(1, 0, 0)), [0]);
    assert.equal(epochPermutation(0, 0, 0).length, 0);
  });
});

describe('resizeInto', () => {
  function randomImages(count: number, seed: number): Uint8Array {
    const images = new Uint8Array(count * 784);
    let s = seed;
    for (let i = 0; i < images.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      images[i] = s >>> 24;
    }
    return images;
  }

  test('at 28 it is the identity divided by 255, honouring both offsets', () => {
    const images = randomImages(2, 1);
    const out = new Float32Array(3 + 784);
    resizeInto(images, 784, 28, out, 3);
    for (let i = 0; i < 784; i++) assert.equal(out[3 + i], Math.fround(images[784 + i] / 255));
    assert.deepEqual(Array.from(out.subarray(0, 3)), [0, 0, 0]);
  });

  test('a constant image stays constant at any size', () => {
    const image = new Uint8Array(784).fill(200);
    for (const size of [14, 67, 96, 224]) {
      const out = new Float32Array(size * size);
      resizeInto(image, 0, size, out, 0);
      for (const v of out) assert.ok(Math.abs(v - 200 / 255) < 1e-7, `size ${size}: ${v}`);
    }
  });

  test('a known 2x case: half-pixel centers blend neighbours 3:1 and clamp at the borders', () => {
    const image = new Uint8Array(784);
    image[0] = 255; // a single white pixel at (0, 0)
    const out = new Float32Array(56 * 56);
    resizeInto(image, 0, 56, out, 0);
    // Output (0,0) and (0,1),(1,0),(1,1) sample at source -0.25 (clamped) and 0.25: weights 1, 0.75, 0.75, 0.5625.
    assert.ok(Math.abs(out[0] - 1) < 1e-7);
    assert.ok(Math.abs(out[1] - 0.75) < 1e-7);
    assert.ok(Math.abs(out[56] - 0.75) < 1e-7);
    assert.ok(Math.abs(out[57] - 0.5625) < 1e-7);
    assert.ok(Math.abs(out[2] - 0.25) < 1e-7); // source 0.75
    assert.equal(out[3], 0); // source 1.25: pixels 1 and 2, both black
  });

  test('matches tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=true) on the cpu backend within 1e-5', async () => {
    await tf.setBackend('cpu');
    const count = 3;
    const images = randomImages(count, 7);
    const input = tf.tensor4d(
      Float32Array.from(images, (v) => v / 255),
      [count, 28, 28, 1],
    );
    for (const size of [224, 96, 67, 56, 31, 14, 28]) {
      const expectedTensor = tf.image.resizeBilinear(input, [size, size], false, true);
      const expected = expectedTensor.dataSync();
      expectedTensor.dispose();
      const out = new Float32Array(count * size * size);
      for (let i = 0; i < count; i++) resizeInto(images, i * 784, size, out, i * size * size);
      let worst = 0;
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - expected[i]));
      assert.ok(worst < 1e-5, `size ${size}: max abs difference ${worst}`);
    }
    input.dispose();
  });
});

describe('batches', () => {
  /** A split whose example i stores i in its first two pixels, so a batch reveals which examples it holds. */
  function indexedSplit(count: number): Split {
    const images = new Uint8Array(count * 784);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      images[i * 784] = i & 0xff;
      images[i * 784 + 1] = i >> 8;
      labels[i] = i % 10;
    }
    return { images, labels, count };
  }
  const indicesOf = (batch: { x: Float32Array; size: number }) =>
    Array.from({ length: batch.size }, (_, i) => Math.round(batch.x[i * 784] * 255) + 256 * Math.round(batch.x[i * 784 + 1] * 255));

  test('batchCount keeps the last partial batch', () => {
    assert.equal(batchCount(300, 128), 3);
    assert.equal(batchCount(256, 128), 2);
    assert.equal(batchCount(60000, 128), 469);
    assert.equal(batchCount(1, 128), 1);
  });

  test('a shuffled epoch covers every example exactly once, in epochPermutation order, with the last batch partial', () => {
    const split = indexedSplit(300);
    const all: number[] = [];
    const sizes: number[] = [];
    for (const batch of batches(split, { batchSize: 128, imageSize: 28, shuffle: true, seed: 5, epoch: 2 })) {
      assert.equal(batch.x.length, batch.size * 784);
      assert.equal(batch.imageSize, 28);
      const indices = indicesOf(batch);
      assert.deepEqual(
        Array.from(batch.labels),
        indices.map((i) => i % 10),
      );
      sizes.push(batch.size);
      all.push(...indices);
    }
    assert.deepEqual(sizes, [128, 128, 44]);
    assert.deepEqual(all, Array.from(epochPermutation(300, 5, 2)));
    assert.deepEqual(
      [...all].sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
    );
  });

  test('without shuffle the order is 0..count-1; startBatch resumes mid-epoch with the same batches', () => {
    const split = indexedSplit(300);
    const plain = [...batches(split, { batchSize: 100, imageSize: 28, shuffle: false, seed: 5, epoch: 0 })].flatMap(indicesOf);
    assert.deepEqual(
      plain,
      Array.from({ length: 300 }, (_, i) => i),
    );

    const opts = { batchSize: 128, imageSize: 28, shuffle: true, seed: 9, epoch: 1 };
    const full = [...batches(split, opts)].map(indicesOf);
    const resumed = [...batches(split, { ...opts, startBatch: 1 })].map(indicesOf);
    assert.deepEqual(resumed, full.slice(1));
    assert.deepEqual([...batches(split, { ...opts, startBatch: 3 })], []);
    const otherEpoch = [...batches(split, { ...opts, epoch: 2 })].map(indicesOf);
    assert.notDeepEqual(otherEpoch, full);
  });

  test('resized batches are NHWC floats of imageSize x imageSize', () => {
    const split = { ...indexedSplit(5), images: fixtureSplit(5).images };
    const [batch] = [...batches(split, { batchSize: 8, imageSize: 96, shuffle: false, seed: 0, epoch: 0 })];
    assert.equal(batch.size, 5);
    assert.equal(batch.imageSize, 96);
    assert.equal(batch.x.length, 5 * 96 * 96);
    const single = new Float32Array(96 * 96);
    resizeInto(split.images, 3 * 784, 96, single, 0);
    assert.deepEqual(batch.x.subarray(3 * 96 * 96, 4 * 96 * 96), single);
  });
});

describe('the installed official dataset', () => {
  test(`${SYSTEM_DATA_DIR} loads with 60000/10000 examples and official checksums`, () => {
    const started = performance.now();
    const dataset = loadFashionMnist({ dataDir: SYSTEM_DATA_DIR });
    const loadMs = performance.now() - started;
    assert.equal(dataset.train.count, 60000);
    assert.equal(dataset.test.count, 10000);
    assert.equal(dataset.train.images.length, 60000 * 784);
    assert.equal(dataset.test.labels.length, 10000);
    const perClass = new Array(CLASS_NAMES.length).fill(0);
    for (const label of dataset.train.labels) perClass[label]++;
    assert.deepEqual(perClass, new Array(10).fill(6000)); // Fashion-MNIST is balanced
    assert.deepEqual(
      checkDataset(SYSTEM_DATA_DIR).map((c) => c.ok),
      [true, true, true, true],
    );

    const limited = loadFashionMnist({ dataDir: SYSTEM_DATA_DIR, trainLimit: 1000, testLimit: 500 });
    assert.equal(limited.train.count, 1000);
    assert.deepEqual(limited.train.images, dataset.train.images.subarray(0, 1000 * 784));

    const batchStarted = performance.now();
    const [batch] = batches(dataset.train, { batchSize: 128, imageSize: 224, shuffle: true, seed: 0, epoch: 0 });
    const batchMs = performance.now() - batchStarted;
    assert.equal(batch.x.length, 128 * 224 * 224);
    process.stderr.write(`# full load ${loadMs.toFixed(0)} ms; one 128x224x224 batch ${batchMs.toFixed(1)} ms\n`);
  });
});

describe('hostile IDX files: one line each, memory bounded by the largest Fashion-MNIST file', () => {
  const { images } = fixtureSplit(3);

  test('huge declared dimensions are compared with the bytes there, never allocated', () => {
    const dir = tempDir();
    const file = path.join(dir, 'huge-idx3-ubyte');
    for (const dims of [
      [0xffffffff, 28, 28],
      [60000, 0xffffffff, 0xffffffff],
      [2 ** 31, 2 ** 31, 2],
    ]) {
      const header = Buffer.alloc(16);
      header.writeInt32BE(IMAGES_MAGIC, 0);
      dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
      fs.writeFileSync(file, Buffer.concat([header, images]));
      const rss = process.memoryUsage().rss;
      assertNinError(
        () => readIdx(file, IMAGES_MAGIC),
        escape(file),
        /its header declares dims \[\d+, \d+, \d+\], more data than the largest Fashion-MNIST file holds/,
        FIX,
      );
      assert.ok(process.memoryUsage().rss - rss < 50e6);
    }
  });

  test('a file or a .gz larger than any Fashion-MNIST file is refused before it is read or unpacked', () => {
    const dir = tempDir();
    const big = path.join(dir, 'big-idx3-ubyte');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, 200e6); // sparse: nothing is written
    assertNinError(
      () => readIdx(big, IMAGES_MAGIC),
      escape(big),
      /is 200\.0 MB, more than the 47\.0 MB nin reads for a Fashion-MNIST IDX file/,
      FIX,
    );
    const bomb = path.join(dir, 'bomb-idx3-ubyte.gz');
    fs.writeFileSync(bomb, gzipSync(Buffer.alloc(60e6)));
    assertNinError(
      () => readIdx(bomb, IMAGES_MAGIC),
      escape(bomb),
      /unpacks to more than 47040016 bytes, the size of the largest Fashion-MNIST file/,
      FIX,
    );
  });

  test('a device, a directory or a file with no images: one line naming the file', () => {
    const dir = tempDir();
    const device = path.join(dir, 'dev-idx3-ubyte');
    fs.symlinkSync('/dev/zero', device);
    assertNinError(() => readIdx(device, IMAGES_MAGIC), /is not a regular file \(a device, pipe or socket\)/, FIX);
    const folder = path.join(dir, 'folder-idx3-ubyte');
    fs.mkdirSync(folder);
    assertNinError(() => readIdx(folder, IMAGES_MAGIC), /is a directory, not a Fashion-MNIST IDX file/);
    const files = fixtureFiles(3, 2);
    files[FILE_NAMES.trainImages] = idxBytes(IMAGES_MAGIC, [0, 28, 28], new Uint8Array(0));
    files[FILE_NAMES.trainLabels] = idxBytes(LABELS_MAGIC, [0], new Uint8Array(0));
    const empty = tempDir();
    const sums = writeFixtureDir(empty, files, false);
    assertNinError(() => readSplit(empty, 'train', sums), /holds no images/, FIX);
  });
});

describe('downloads time out: a stalled mirror is one line naming the fix', () => {
  let server: http.Server;
  let baseUrl: string;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/silent/')) return; // accepts, never answers
      // Headers and a few bytes, then nothing.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 });
      res.write(Buffer.alloc(10));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  for (const where of ['silent', 'stalls']) {
    test(`a mirror that ${where === 'silent' ? 'never answers' : 'stops sending mid-file'}: NinError after the timeout, no file left`, async () => {
      const dest = tempDir();
      const started = Date.now();
      await assertRejectsNinError(
        downloadFashionMnist(dest, `${baseUrl}/${where}/`, () => {}, OFFICIAL_SHA256_FOR_TEST, 400),
        escape(`${baseUrl}/${where}/${FILE_NAMES.trainImages}.gz`),
        /the mirror sent nothing for 0\.4 s/,
        /retry later, or set NIN_MIRROR_URL to another mirror/,
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      assert.deepEqual(fs.readdirSync(dest), []);
    });
  }
});

const OFFICIAL_SHA256_FOR_TEST = Object.fromEntries(Object.values(FILE_NAMES).map((n) => [n, '0'.repeat(64)]));

describe('where nin data --download writes (pure: env given, no network)', () => {
  test('--data-dir, else NIN_DATA_DIR, else $XDG_CACHE_HOME/nin/fashion-mnist, else ~/.cache/nin/fashion-mnist', () => {
    const all = { NIN_DATA_DIR: '/y/env', XDG_CACHE_HOME: '/z/cache', HOME: '/h/me' };
    assert.equal(defaultDownloadDir('/x/given', all), '/x/given');
    assert.equal(defaultDownloadDir(undefined, all), '/y/env');
    assert.equal(defaultDownloadDir(undefined, { XDG_CACHE_HOME: '/z/cache', HOME: '/h/me' }), '/z/cache/nin/fashion-mnist');
    assert.equal(defaultDownloadDir(undefined, { HOME: '/h/me' }), '/h/me/.cache/nin/fashion-mnist');
    assert.equal(defaultDownloadDir(undefined, { NIN_DATA_DIR: '', XDG_CACHE_HOME: '', HOME: '/h/me' }), '/h/me/.cache/nin/fashion-mnist');
  });

  test('a relative XDG_CACHE_HOME is ignored, as the XDG spec says; without HOME the home directory is asked', () => {
    assert.equal(cacheDataDir({ XDG_CACHE_HOME: 'rel/cache', HOME: '/h/me' }), '/h/me/.cache/nin/fashion-mnist');
    assert.equal(cacheDataDir({}), path.join(os.homedir(), '.cache', 'nin', 'fashion-mnist'));
  });

  test('the download cache is also looked up, after the Debian directory', () => {
    const cache = tempDir('hc-cache-');
    writeFixtureDir(path.join(cache, 'nin', 'fashion-mnist'), fixtureFiles(2, 2), true);
    const candidates = datasetSearchPath(undefined, { XDG_CACHE_HOME: cache }).filter((c) => c.dir !== SYSTEM_DATA_DIR);
    assert.equal(locateDataset(candidates), path.join(cache, 'nin', 'fashion-mnist'));
  });
});
