// Tests for src/predict.ts, src/picture-decode.ts and src/picture-prep.ts: decoding (formats, EXIF
// orientation, hostile files), conversion to the Fashion-MNIST look, and that `nin predict` on picture
// files written from test-set images gives what the model gives on the dataset's own tensors.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import sharp, { type Sharp } from 'sharp';
import { initBackend } from '../../src/backend';
import { FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { leaksInternals } from '../helpers/cli';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { batches, CLASS_NAMES, loadFashionMnist, type Split } from '../../src/data/idx';
import { NinError } from '../../src/sys/errors';
import { buildNin, forward } from '../../src/model/nin';
import { decodeImage } from '../../src/predict/picture-decode';
import { predict, toFashionMnist, type RgbaImage } from '../../src/predict/predict';
import { NIN_VERSION } from '../../src/sys/version';
import { deflateSync } from 'node:zlib';
import * as picturesModule from '../helpers/pictures';
import * as decodeFunctions from '../../src/predict/picture-decode';

const IMAGE_SIZE = 67;
const COUNT = 12;
const NIN_BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'nin.js');

let work: string;
let checkpoint: string;
let test_: Split;
let expected: number[][]; // softmax of the model on the dataset's tensors, via eval's batching

/** Image i of the split as 28x28 gray bytes. */
function raw(i: number): Uint8Array {
  return test_.images.subarray(i * 784, (i + 1) * 784);
}

/** Gray 28x28 bytes scaled by integer factors (pixel replication), as RGBA. */
function upscaled(gray: Uint8Array, fx: number, fy: number, map: (v: number) => number = (v) => v): RgbaImage {
  const width = 28 * fx;
  const height = 28 * fy;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = map(gray[Math.floor(y / fy) * 28 + Math.floor(x / fx)]);
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

function writePng(file: string, image: RgbaImage, colorType: 0 | 2 | 6): void {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data);
  fs.writeFileSync(file, PNG.sync.write(png, { colorType }));
}

function argmax(values: number[]): number {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

before(async () => {
  await initBackend('cpu', null);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-predict-'));
  checkpoint = path.join(work, 'ckpt');
  const model = buildNin({ imageSize: IMAGE_SIZE, seed: 0 });
  // Untrained, NiN's logits are ~1e-4 (twelve glorot convs with ReLU shrink the signal), so every
  // class is ~0.1. Doubling each kernel gives logits of order 1 whose argmax differs between images.
  model.setWeights(tf.tidy(() => model.getWeights().map((w) => (w.rank === 4 ? tf.mul(w, 2) : tf.clone(w)))));
  const config = resolveConfig({ imageSize: IMAGE_SIZE, backend: 'cpu' });
  // As train writes it for last/ (history and partial included), after no epoch.
  const meta = {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config,
    imageSize: IMAGE_SIZE,
    epoch: 0,
    metrics: null,
    backend: 'cpu',
    optimizer: null,
    history: [],
    partial: null,
  };
  await saveCheckpoint(checkpoint, model, meta);
  test_ = loadFashionMnist({ trainLimit: 1, testLimit: COUNT }).test;
  expected = [];
  for (const batch of batches(test_, { batchSize: COUNT, imageSize: IMAGE_SIZE, shuffle: false, seed: 0, epoch: 0 })) {
    expected.push(
      ...(tf.tidy(() =>
        tf.softmax(forward(model, tf.tensor4d(batch.x, [batch.size, IMAGE_SIZE, IMAGE_SIZE, 1]), false)).arraySync(),
      ) as number[][]),
    );
  }
  model.dispose();
  assert.ok(new Set(expected.map(argmax)).size > 1, 'the test model should not give every image the same class');
  for (let i = 0; i < COUNT; i++) {
    writePng(path.join(work, `gray-${i}.png`), upscaled(raw(i), 1, 1), 0);
    writePng(path.join(work, `rgb-${i}.png`), upscaled(raw(i), 3, 3), 2); // 84x84
    writePng(
      path.join(work, `inverted-${i}.png`),
      upscaled(raw(i), 2, 2, (v) => 255 - v),
      0,
    );
    fs.writeFileSync(
      path.join(work, `photo-${i}.jpg`),
      jpeg.encode({ ...upscaled(raw(i), 4, 4), data: Buffer.from(upscaled(raw(i), 4, 4).data) }, 100).data,
    );
  }
  fs.writeFileSync(path.join(work, 'notes.txt'), 'not a picture\n');
  fs.writeFileSync(path.join(work, 'empty.png'), '');
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('toFashionMnist', () => {
  test('a 28x28 gray picture comes back byte for byte', () => {
    assert.deepEqual(toFashionMnist(upscaled(raw(0), 1, 1), false), Uint8Array.from(raw(0)));
  });

  test('integer upscales come back exactly (area average)', () => {
    assert.deepEqual(toFashionMnist(upscaled(raw(1), 3, 3), false), Uint8Array.from(raw(1)));
    assert.deepEqual(toFashionMnist(upscaled(raw(1), 5, 5), false), Uint8Array.from(raw(1)));
  });

  test('a wide or tall picture is centred on background, as Fashion-MNIST was made, not stretched', () => {
    // Image 3 with its top and bottom 7 rows (or left and right 7 columns) blanked, then cut to the
    // middle band and scaled 2x: 56x28 (or 28x56). Centred on a 56x56 square it is the blanked image.
    const rowsBlank = Uint8Array.from(raw(3), (v, p) => (Math.floor(p / 28) < 7 || Math.floor(p / 28) >= 21 ? 0 : v));
    const colsBlank = Uint8Array.from(raw(3), (v, p) => (p % 28 < 7 || p % 28 >= 21 ? 0 : v));
    const band = (image: RgbaImage, x0: number, y0: number, width: number, height: number): RgbaImage => {
      const data = new Uint8Array(width * height * 4);
      for (let y = 0; y < height; y++)
        data.set(image.data.subarray(((y0 + y) * image.width + x0) * 4, ((y0 + y) * image.width + x0 + width) * 4), y * width * 4);
      return { width, height, data };
    };
    const wide = band(upscaled(rowsBlank, 2, 2), 0, 14, 56, 28);
    assert.deepEqual(toFashionMnist(wide, false), rowsBlank);
    // Dark on light: the padding is light too, so it turns black with the background.
    const tall = band(
      upscaled(colsBlank, 2, 2, (v) => 255 - v),
      14,
      0,
      28,
      56,
    );
    assert.deepEqual(toFashionMnist(tall, true), colsBlank);
    // An odd margin goes below: 28x27 (image 3 without its last row) is image 3 with a black last row.
    const lastRowBlank = Uint8Array.from(raw(3), (v, p) => (p >= 27 * 28 ? 0 : v));
    assert.deepEqual(toFashionMnist(band(upscaled(raw(3), 1, 1), 0, 0, 28, 27), false), lastRowBlank);
  });

  test('--invert turns a dark-on-light picture into light-on-black', () => {
    assert.deepEqual(
      toFashionMnist(
        upscaled(raw(2), 2, 2, (v) => 255 - v),
        true,
      ),
      Uint8Array.from(raw(2)),
    );
  });

  test('downscaling averages areas: a fine checkerboard becomes flat gray, not stripes', () => {
    const size = 280;
    const data = new Uint8Array(size * size * 4);
    for (let p = 0; p < size * size; p++) {
      const v = ((p % size) + Math.floor(p / size)) % 2 ? 255 : 0;
      data.set([v, v, v, 255], p * 4);
    }
    const out = toFashionMnist({ width: size, height: size, data }, false);
    for (const v of out) assert.ok(Math.abs(v - 128) <= 1, `pixel ${v}`);
  });

  test('colour becomes luma (BT.601), transparency becomes background', () => {
    const red = { width: 1, height: 1, data: Uint8Array.from([255, 0, 0, 255]) };
    assert.equal(toFashionMnist(red, false)[0], Math.round(0.299 * 255));
    const clear = { width: 1, height: 1, data: Uint8Array.from([255, 255, 255, 0]) };
    assert.equal(toFashionMnist(clear, false)[0], 0);
    assert.equal(toFashionMnist(clear, true)[0], 0);
  });

  test('a tiny picture is upscaled (bilinear) to 28x28', () => {
    const out = toFashionMnist({ width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 255, 255, 255, 255, 255]) }, false);
    assert.equal(out.length, 784);
    assert.equal(out[0], 0);
    assert.equal(out[27], 255);
    assert.ok(out[13] > 0 && out[13] < 255);
  });
});

describe('picture-prep (browser-safe)', () => {
  test('the preparation and what it imports need nothing from Node, so a browser bundle can take them', () => {
    // Walk the compiled modules' require() calls from picture-prep: only nin's own pure modules may appear.
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const js = fs.readFileSync(file, 'utf8');
      for (const [, spec] of js.matchAll(/require\(["']([^"']+)["']\)/g)) {
        assert.ok(spec.startsWith('./') || spec.startsWith('../'), `${path.basename(file)} requires ${spec}`);
        visit(path.join(path.dirname(file), `${spec}.js`));
      }
      assert.ok(
        !/\b(Buffer|process|__dirname)\b/.test(js.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '')),
        `${path.basename(file)} uses a Node global`,
      );
    };
    visit(path.resolve(__dirname, '..', '..', 'src', 'predict', 'picture-prep.js'));
    assert.deepEqual([...seen].map((f) => path.basename(f)).sort(), ['fashion-mnist.js', 'picture-prep.js']);
  });
});

describe('decodeImage', () => {
  test('refuses empty files, non-pictures and damaged PNGs with the file name', async () => {
    await assert.rejects(
      () => decodeImage(new Uint8Array(0), 'a.png'),
      (e: unknown) => e instanceof NinError && /a\.png is empty/.test(e.message),
    );
    await assert.rejects(
      () => decodeImage(Buffer.from('hello'), 'b.txt'),
      (e: unknown) => e instanceof NinError && /b\.txt is not a picture nin reads \(PNG, JPEG, WebP, GIF, TIFF or AVIF\)/.test(e.message),
    );
    const png = fs.readFileSync(path.join(work, 'gray-0.png'));
    await assert.rejects(
      () => decodeImage(png.subarray(0, 40), 'c.png'),
      (e: unknown) => e instanceof NinError && /c\.png is a damaged or unsupported PNG/.test(e.message) && !e.message.includes('\n'),
    );
  });

  test('reads PNG (gray, RGB) and JPEG as RGBA of their own size', async () => {
    const gray = await decodeImage(fs.readFileSync(path.join(work, 'gray-0.png')), 'g');
    assert.deepEqual([gray.width, gray.height, gray.data.length], [28, 28, 28 * 28 * 4]);
    const rgb = await decodeImage(fs.readFileSync(path.join(work, 'rgb-0.png')), 'r');
    assert.deepEqual([rgb.width, rgb.height], [84, 84]);
    const photo = await decodeImage(fs.readFileSync(path.join(work, 'photo-0.jpg')), 'p');
    assert.deepEqual([photo.width, photo.height], [112, 112]);
  });
});

describe('formats and EXIF orientation (fixtures written by sharp)', () => {
  /** Image 0 scaled 4x wide and 2x tall (112x56: whole JPEG blocks, and a turn swaps its sides) as 1-channel gray. */
  const upright = () => {
    const image = upscaled(raw(0), 4, 2);
    return { width: image.width, height: image.height, gray: Buffer.from(image.data.filter((_, i) => i % 4 === 0)) };
  };
  const gray = (bytes: Buffer, width: number, height: number) => sharp(bytes, { raw: { width, height, channels: 1 } });
  /** The upright picture as a camera held sideways stores it: turned a quarter anticlockwise, for EXIF orientation 6 to turn back. */
  async function storedSideways() {
    const { width, height, gray: bytes } = upright();
    const stored = await gray(bytes, width, height).rotate(270).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([stored.info.width, stored.info.height, stored.info.channels], [height, width, 1]);
    return gray(stored.data, stored.info.width, stored.info.height);
  }
  const maxDifference = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  test('a JPEG stored sideways with EXIF orientation 6 prepares as the same picture stored upright', async () => {
    const { width, height, gray: bytes } = upright();
    const options = { quality: 100, chromaSubsampling: '4:4:4' };
    const uprightJpeg = await gray(bytes, width, height).jpeg(options).toBuffer();
    const sideways = await (await storedSideways()).jpeg(options).withMetadata({ orientation: 6 }).toBuffer();
    assert.equal((await decodeFunctions.pictureHeader(sideways, 'phone.jpg')).orientation, 6);
    const a = await decodeImage(uprightJpeg, 'upright.jpg');
    const b = await decodeImage(sideways, 'phone.jpg');
    assert.deepEqual([b.width, b.height], [112, 56]);
    // JPEG's integer IDCT is not the same along rows and columns, so a turned JPEG decodes a level
    // apart in places; at 28x28 the two agree within one level (the lossless formats below: exactly).
    assert.ok(maxDifference(toFashionMnist(a, false), toFashionMnist(b, false)) <= 1);
    assert.ok(maxDifference(a.data, b.data) <= 1);
    // Without its orientation the same file is sideways: 56x112 and a different 28x28.
    const ignored = await (await storedSideways()).jpeg(options).toBuffer();
    const c = await decodeImage(ignored, 'plain.jpg');
    assert.deepEqual([c.width, c.height], [56, 112]);
    assert.ok(maxDifference(toFashionMnist(a, false), toFashionMnist(c, false)) > 100);
  });

  test('WebP, PNG, TIFF and AVIF (lossless) stored sideways with EXIF orientation 6 decode to exactly the upright pixels', async () => {
    const { width, height, gray: bytes } = upright();
    const expectedRgba = Uint8Array.from({ length: width * height * 4 }, (_, i) => (i % 4 === 3 ? 255 : bytes[i >> 2]));
    const encoders: [string, (s: Sharp) => Sharp][] = [
      ['webp', (s) => s.webp({ lossless: true })],
      ['png', (s) => s.png()],
      ['tiff', (s) => s.tiff({ compression: 'lzw' })],
      ['avif', (s) => s.avif({ lossless: true })],
    ];
    for (const [format, encode] of encoders) {
      const file = await encode(await storedSideways())
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const header = await decodeFunctions.pictureHeader(file, `phone.${format}`);
      // HEIF keeps the turn as its own transform (irot), which libheif applies: AVIF's header is already upright.
      const stored = format === 'avif' ? [width, height, 1] : [height, width, 6];
      assert.deepEqual([header.format, header.width, header.height, header.orientation], [format, ...stored]);
      const image = await decodeImage(file, `phone.${format}`);
      assert.deepEqual([image.width, image.height], [width, height], format);
      assert.ok(maxDifference(image.data, expectedRgba) === 0, format);
    }
  });

  test('a GIF decodes (its first frame) as RGBA of its own size', async () => {
    const { width, height, gray: bytes } = upright();
    const gif = await gray(Buffer.concat([bytes, Buffer.alloc(bytes.length, 255)]), width, height * 2)
      .gif()
      .toBuffer();
    const image = await decodeImage(gif, 'a.gif');
    assert.deepEqual([image.width, image.height], [width, height * 2]);
  });
});

describe('predict', () => {
  test('PNGs (gray, RGB, inverted) and lossless WebP get exactly the probabilities the model gives the dataset tensors', async () => {
    const files = (name: string) =>
      Array.from({ length: COUNT }, (_, i) => path.join(work, `${name}-${i}.${name === 'lossless' ? 'webp' : 'png'}`));
    for (let i = 0; i < COUNT; i++) {
      await sharp(path.join(work, `rgb-${i}.png`))
        .webp({ lossless: true })
        .toFile(path.join(work, `lossless-${i}.webp`));
    }
    for (const [name, invert] of [
      ['gray', false],
      ['rgb', false],
      ['inverted', true],
      ['lossless', false],
    ] as const) {
      const result = await predict(checkpoint, files(name), { top: 10, invert, backend: 'cpu' });
      assert.equal(result.imageSize, IMAGE_SIZE);
      assert.deepEqual(result.failures, []);
      result.predictions.forEach((p, i) => {
        assert.equal(p.top[0].index, argmax(expected[i]), `${name}-${i}`);
        assert.equal(p.top[0].name, CLASS_NAMES[argmax(expected[i])]);
        p.probabilities.forEach((q, c) =>
          assert.ok(Math.abs(q - expected[i][c]) < 1e-6, `${name}-${i} class ${c}: ${q} vs ${expected[i][c]}`),
        );
        assert.equal(p.top.length, 10);
        assert.ok(Math.abs(p.top.reduce((s, c) => s + c.probability, 0) - 1) < 1e-5);
      });
    }
  });

  test('JPEGs (lossy, 4x) land on the same class with nearly the same probabilities', async () => {
    const files = Array.from({ length: COUNT }, (_, i) => path.join(work, `photo-${i}.jpg`));
    const result = await predict(checkpoint, files, { backend: 'cpu' });
    result.predictions.forEach((p, i) => {
      const sorted = [...expected[i]].sort((a, b) => b - a);
      // JPEG moves pixels by a level or two: only a clear winner must stay the winner.
      if (sorted[0] - sorted[1] > 0.02) assert.equal(p.top[0].index, argmax(expected[i]), `photo-${i}`);
      assert.ok(Math.abs(p.top[0].probability - expected[i][argmax(expected[i])]) < 0.01);
      assert.equal(p.top.length, 3);
    });
  });

  test('unreadable files are failures; the others are still classified, in order', async () => {
    const files = [
      path.join(work, 'gray-0.png'),
      path.join(work, 'notes.txt'),
      path.join(work, 'empty.png'),
      path.join(work, 'missing.png'),
      path.join(work, 'gray-1.png'),
    ];
    const result = await predict(checkpoint, files, { backend: 'cpu' });
    assert.deepEqual(
      result.predictions.map((p) => path.basename(p.file)),
      ['gray-0.png', 'gray-1.png'],
    );
    assert.deepEqual(
      result.failures.map((f) => path.basename(f.file)),
      ['notes.txt', 'empty.png', 'missing.png'],
    );
    assert.match(result.failures[2].error, /does not exist/);
  });
});

describe('nin predict (process)', () => {
  function nin(args: string[]) {
    const r = spawnSync(process.execPath, [NIN_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test('prints one line per picture; bad files get one stderr line each and exit 1 at the end', () => {
    const args = [
      'predict',
      checkpoint,
      path.join(work, 'gray-0.png'),
      path.join(work, 'notes.txt'),
      path.join(work, 'empty.png'),
      path.join(work, 'photo-1.jpg'),
      '--backend',
      'cpu',
      '--top',
      '2',
    ];
    const r = nin(args);
    assert.equal(r.code, 1, r.stderr);
    const out = r.stdout.trim().split('\n');
    assert.equal(out.length, 2);
    assert.match(out[0], new RegExp(`gray-0\\.png: ${CLASS_NAMES[argmax(expected[0])].replace(/[/]/g, '\\/')} \\d\\.\\d{3}, `));
    assert.match(out[1], new RegExp(`photo-1\\.jpg: ${CLASS_NAMES[argmax(expected[1])].replace(/[/]/g, '\\/')} \\d\\.\\d{3}, `));
    const err = r.stderr.trim().split('\n');
    assert.deepEqual(err.length, 3, r.stderr);
    assert.match(err[0], /^nin: .*notes\.txt is not a picture nin reads/);
    assert.match(err[1], /^nin: .*empty\.png is empty/);
    assert.match(err[2], /^nin: 2 of 4 files could not be classified/);
  });

  test('--json: one object with every probability; all good files exit 0', () => {
    const r = nin(['predict', checkpoint, path.join(work, 'rgb-2.png'), '--backend', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.imageSize, IMAGE_SIZE);
    assert.equal(result.predictions.length, 1);
    assert.equal(result.predictions[0].top[0].index, argmax(expected[2]));
    assert.equal(result.predictions[0].probabilities.length, 10);
  });

  test('a checkpoint that is not one is one line, exit 1', () => {
    const r = nin(['predict', work, path.join(work, 'gray-0.png'), '--backend', 'cpu']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /has no model\.json/);
  });

  test('--top outside 1..10 is a usage error', () => {
    const r = nin(['predict', checkpoint, path.join(work, 'gray-0.png'), '--top', '11']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--top/);
  });
});

describe('hostile pictures: the header is checked before decoding, memory stays bounded', () => {
  // Imported here so the tests above keep their own imports.
  const pictures = () => picturesModule;
  const predictModule = () => decodeFunctions;

  test('pictureHeader reads the format and size of PNG and JPEG without decoding them', async () => {
    const { pictureHeader } = predictModule();
    const { gradientJpeg, gradientPng, pngWithHeader } = pictures();
    assert.deepEqual(Object.values(await pictureHeader(gradientPng(40, 30), 'a.png')).slice(0, 3), ['png', 40, 30]);
    assert.deepEqual(Object.values(await pictureHeader(gradientJpeg(33, 17), 'a.jpg')).slice(0, 3), ['jpeg', 33, 17]);
    // A 74-byte file declaring 100000x100000 pixels: its header says so, nothing is allocated for it.
    const header = await pictureHeader(pngWithHeader({ width: 100000, height: 100000, idat: Buffer.alloc(10) }), 'bomb.png');
    assert.equal(header.width * header.height, 1e10);
    assert.ok(header.decodeBytes > 1e10);
  });

  test('a picture whose header claims more than the budget is refused at once, naming its size and the fix', async () => {
    const { decodeImage, DECODE_BUDGET_BYTES } = predictModule();
    const { gradientJpeg, jpegSizeOffset, pngWithHeader } = pictures();
    const jpg = gradientJpeg(16, 16);
    jpg.writeUInt16BE(60000, jpegSizeOffset(jpg));
    jpg.writeUInt16BE(60000, jpegSizeOffset(jpg) + 2);
    const files: [string, Buffer][] = [
      ['bomb.png', pngWithHeader({ width: 60000, height: 60000, idat: Buffer.alloc(10) })],
      ['bomb.jpg', jpg],
      // An honest 8000x8000 PNG (64 megapixels of black, 62 KB): over the budget, so never decoded.
      ['big.png', pngWithHeader({ width: 8000, height: 8000 })],
    ];
    for (const [name, bytes] of files) {
      const started = Date.now();
      // Refused before decoding: the bombs hold no valid pixel data, so a decoder would call them damaged.
      await assert.rejects(
        () => decodeImage(bytes, name),
        (e: unknown) =>
          e instanceof NinError &&
          !e.message.includes('\n') &&
          new RegExp(
            `${name.replace('.', '\\.')} is \\d+x\\d+ pixels: decoding it would take about [\\d.]+ [MG]B, more than the ${DECODE_BUDGET_BYTES / 1e6} MB`,
          ).test(e.message) &&
          /scale it down/.test(e.message),
      );
      assert.ok(Date.now() - started < 500, `${name} took ${Date.now() - started} ms`);
    }
  });

  test('a 100-byte PNG declaring 20000x1 pixels converts in milliseconds, without building a 20000x20000 square', async () => {
    const { decodeImage } = predictModule();
    const { pngWithHeader } = pictures();
    const raw = Buffer.alloc(20001, 255);
    raw[0] = 0; // filter byte: none
    const bytes = pngWithHeader({ width: 20000, height: 1, raw });
    assert.ok(bytes.length < 200, `${bytes.length} bytes`);
    const rss = process.memoryUsage().rss;
    const started = Date.now();
    const image = await decodeImage(bytes, 'strip.png');
    const gray = toFashionMnist(image, false);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
    assert.ok(process.memoryUsage().rss - rss < 100e6, 'memory grew by more than 100 MB');
    // A white line 1/20000 of the square's height: a 28x28 pixel covers 1/714 of it, 0.36 of a level, so all black.
    assert.deepEqual([...gray], new Array(784).fill(0));
  });

  test('longer than 65535 pixels a side, damaged headers, exotic JPEGs, HEIC: one line each', async () => {
    const { decodeImage } = predictModule();
    const { gradientJpeg, pngWithHeader } = pictures();
    const lossless = gradientJpeg(8, 8);
    lossless[lossless.indexOf(Buffer.from([0xff, 0xc0]), 2) + 1] = 0xc3;
    const twelveBit = gradientJpeg(8, 8);
    twelveBit[twelveBit.indexOf(Buffer.from([0xff, 0xc0]), 2) + 4] = 12;
    const cases: [string, Buffer, RegExp][] = [
      [
        'tall.png',
        pngWithHeader({ width: 1, height: 100000 }),
        /is 1x100000 pixels, longer than the 65535 pixels a side nin reads; scale it down/,
      ],
      ['depth.png', pngWithHeader({ width: 4, height: 4, depth: 3 }), /damaged or unsupported PNG \(Input buffer has corrupt header/],
      ['zero.png', pngWithHeader({ width: 0, height: 4 }), /damaged or unsupported PNG \(Input buffer has corrupt header/],
      ['lossless.jpg', lossless, /damaged or unsupported JPEG \(VipsJpeg: Unsupported .*\); pass an intact picture/],
      ['twelve.jpg', twelveBit, /damaged or unsupported JPEG \(VipsJpeg: Unsupported JPEG data precision 12\)/],
      ['cut.jpg', gradientJpeg(8, 8).subarray(0, 30), /damaged or unsupported JPEG/],
      // The ftyp box of an iPhone photo: HEVC, which the prebuilt libvips has no decoder for.
      ['phone.heic', Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'), /is a HEIC picture.*convert it to JPEG or PNG first/],
    ];
    for (const [name, bytes, pattern] of cases) {
      await assert.rejects(
        () => decodeImage(bytes, name),
        (e: unknown) => e instanceof NinError && !e.message.includes('\n') && e.message.startsWith(name) && pattern.test(e.message),
        name,
      );
    }
  });

  test('an interlaced PNG whose data inflates far past its pixels: only its pixels are inflated', async () => {
    // 20 MB of zeros behind a 64x64 header: libvips stops once it has the picture's rows.
    const bytes = pictures().pngWithHeader({ width: 64, height: 64, interlace: 1, idat: deflateSync(Buffer.alloc(20e6)) });
    const rss = process.memoryUsage().rss;
    const image = await decodeImage(bytes, 'bomb.png');
    assert.deepEqual([image.width, image.height], [64, 64]);
    assert.ok(process.memoryUsage().rss - rss < 15e6, 'memory grew by more than 15 MB');
  });

  test('a file cut short or damaged in its pixel data is one line, never a half-decoded picture', async () => {
    const photo = fs.readFileSync(path.join(work, 'photo-0.jpg'));
    const webp = await sharp(fs.readFileSync(path.join(work, 'rgb-0.png')))
      .webp({ lossless: true })
      .toBuffer();
    const scrambled = Buffer.from(photo);
    scrambled.fill(0xaa, scrambled.length - 400, scrambled.length - 2); // entropy-coded data garbled, end marker kept
    const cases: [string, Buffer][] = [
      ['half.jpg', photo.subarray(0, photo.length >> 1)],
      ['end-cut.jpg', photo.subarray(0, photo.length - 2)], // only the end-of-image marker missing
      ['scrambled.jpg', scrambled],
      ['half.webp', webp.subarray(0, webp.length >> 1)],
      ['half.png', fs.readFileSync(path.join(work, 'rgb-0.png')).subarray(0, 300)],
    ];
    for (const [name, bytes] of cases) {
      await assert.rejects(
        () => decodeImage(bytes, name),
        (e: unknown) =>
          e instanceof NinError &&
          !e.message.includes('\n') &&
          new RegExp(`^${name.replace('.', '\\.')} is a damaged or unsupported (JPEG|WebP|PNG) \\(.+\\); pass an intact picture`).test(
            e.message,
          ),
        name,
      );
    }
  });

  test('nin predict: hostile files get one line each, the good ones are still classified, no internal error', () => {
    const { gradientJpeg, jpegSizeOffset, pngWithHeader } = pictures();
    const dir = fs.mkdtempSync(path.join(work, 'hostile-'));
    const jpg = gradientJpeg(16, 16);
    jpg.writeUInt16BE(65535, jpegSizeOffset(jpg));
    jpg.writeUInt16BE(65535, jpegSizeOffset(jpg) + 2);
    const hostile: Record<string, Buffer> = {
      'bomb.png': pngWithHeader({ width: 100000, height: 100000, idat: Buffer.alloc(10) }),
      'tall.png': pngWithHeader({ width: 1, height: 100000 }),
      'bomb.jpg': jpg,
      'truncated.png': fs.readFileSync(path.join(work, 'rgb-0.png')).subarray(0, 60),
    };
    for (const [name, bytes] of Object.entries(hostile)) fs.writeFileSync(path.join(dir, name), bytes);
    const files = [
      path.join(work, 'gray-0.png'),
      ...Object.keys(hostile).map((n) => path.join(dir, n)),
      '/dev/zero',
      dir,
      path.join(work, 'gray-1.png'),
    ];
    const started = Date.now();
    const r = spawnSync(process.execPath, [NIN_BIN, 'predict', checkpoint, ...files, '--backend', 'cpu'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.ok(Date.now() - started < 30_000);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => path.basename(l.split(':')[0])),
      ['gray-0.png', 'gray-1.png'],
    );
    const err = r.stderr.trim().split('\n');
    assert.equal(err.length, 7, r.stderr);
    assert.ok(!leaksInternals(r.stderr), r.stderr);
    assert.match(err[4], /\/dev\/zero is not a regular file/);
    assert.match(err[5], /is a directory, not a picture; pass picture files \(PNG, JPEG, WebP, GIF, TIFF or AVIF\)/);
    assert.match(err[6], /^nin: 6 of 8 files could not be classified/);
  });
});
