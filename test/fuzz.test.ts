// A seeded fuzz suite over everything nin reads: mutated IDX files, PNG and JPEG pictures,
// checkpoints (meta.json, model.json, weights.bin, optimizer state), weights manifests, config.json
// and metrics.jsonl go through the functions behind the CLI, and a sample through the CLI itself;
// run directories whose files are FIFOs, links, directories, huge or deeply nested go through every
// reader of a run (eval, --resume, plot, serve), in a child process that is killed if one hangs;
// seeded random requests (methods, paths, query strings, headers) go to nin serve's routes.
// Each case must either load (and then hold sane, finite values) or end in one NinError line,
// within a time limit: never another exception, a stack trace, "internal error" or a hang.
// NIN_FUZZ_SEED=<n> replays another seed; a failure names its case and mutation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { FORMAT_VERSION } from '../src/run/checkpoint/meta';
import { loadCheckpoint } from '../src/run/checkpoint/load';
import { loadInitialWeights } from '../src/run/checkpoint/weights-manifest';
import { saveCheckpoint } from '../src/run/checkpoint/save';
import { CONFIG_RULES, readConfigFile, ruleAllows } from '../src/config/check';
import { resolveConfig } from '../src/config/config';
import { FILE_NAMES, IMAGES_MAGIC, LABELS_MAGIC, readIdx, readSplit } from '../src/data/idx';
import { NinError } from '../src/sys/errors';
import { buildNin, forward } from '../src/model/nin';
import { readHistory } from '../src/run/metrics';
import { serve } from '../src/serve/server';
import { decodeImage } from '../src/predict/picture-decode';
import { toFashionMnist } from '../src/predict/picture-prep';
import { deriveSeed, mulberry32 } from '../src/sys/random';
import { NIN_VERSION } from '../src/sys/version';
import { leaksInternals, runNin } from './helpers/cli';
import { fixtureFiles, removeTempDirs, tempDir, writeFixtureDir } from './helpers/idx';
import { writeWeightsManifest } from './helpers/manifest';
import { HTTP_PATHS, READERS, type Reading } from './helpers/hostile-readers';
import { gradientJpeg, gradientPng, jpegSizeOffset, pngChunk, pngWithHeader, PNG_SIGNATURE } from './helpers/pictures';

const SEED = Number(process.env.NIN_FUZZ_SEED ?? 13);
const CASE_LIMIT_MS = 5000; // one case; the slowest legitimate one (a full checkpoint load) takes ~0.5 s
const IMAGE_SIZE = 67;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)];

// ---------------------------------------------------------------------------------------------
// Mutations

/** Byte-level damage: truncation, bit flips, bytes set, huge 32-bit header fields, growth, holes. */
function mutateBytes(r: Rand, bytes: Buffer, fields: number[] = []): [string, Buffer] {
  const out = Buffer.from(bytes);
  const at = () => int(r, Math.max(1, out.length));
  switch (int(r, 7)) {
    case 0: {
      const length = int(r, out.length);
      return [`truncated to ${length} bytes`, out.subarray(0, length)];
    }
    case 1: {
      const flips = 1 + int(r, 8);
      for (let i = 0; i < flips && out.length; i++) out[at()] ^= 1 << int(r, 8);
      return [`${flips} bit flips`, out];
    }
    case 2: {
      const i = at();
      if (out.length) out[i] = pick(r, [0x00, 0xff, 0x7f, 0x80, int(r, 256)]);
      return [`byte ${i} set`, out];
    }
    case 3: {
      const i = fields.length && r() < 0.8 ? pick(r, fields) : at();
      const value = pick(r, [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 65535, 65536, 100000]);
      if (i + 4 <= out.length) out.writeUInt32BE(value, i);
      return [`u32 ${value} at ${i}`, out];
    }
    case 4: {
      const extra = Buffer.from(Array.from({ length: 1 + int(r, 64) }, () => int(r, 256)));
      return [`${extra.length} bytes appended`, Buffer.concat([out, extra])];
    }
    case 5: {
      const from = at();
      const slice = out.subarray(from, from + 1 + int(r, 64));
      const into = at();
      return [`${slice.length} bytes duplicated at ${into}`, Buffer.concat([out.subarray(0, into), slice, out.subarray(into)])];
    }
    default: {
      const from = at();
      const length = 1 + int(r, 32);
      out.fill(0, Math.min(from, out.length), Math.min(from + length, out.length));
      return [`${length} bytes zeroed at ${from}`, out];
    }
  }
}

/** float32 NaN, +Inf or -Inf written over a random value of a little-endian float32 buffer. */
function injectNonFinite(r: Rand, bytes: Buffer, from = 0): [string, Buffer] {
  const out = Buffer.from(bytes);
  const i = from + 4 * int(r, Math.max(1, (out.length - from) / 4));
  const value = pick(r, [NaN, Infinity, -Infinity]);
  if (i + 4 <= out.length) out.writeFloatLE(value, i);
  return [`${value} at byte ${i}`, out];
}

const HOSTILE_VALUES: unknown[] = [
  null,
  'abc',
  '',
  -1,
  0,
  1,
  0.5,
  1.5,
  -0.5,
  1e308,
  2 ** 53,
  1e-320,
  true,
  false,
  [],
  {},
  [1, 2],
  { a: 1 },
  'NaN',
  '1e999',
  'sgd',
  4096,
  10001,
  66,
];

/** Every path into a JSON value (object keys and array indices), up to a depth. */
function jsonPaths(value: unknown, prefix: (string | number)[] = [], depth = 8): (string | number)[][] {
  const paths: (string | number)[][] = [prefix];
  if (depth === 0 || value === null || typeof value !== 'object') return paths;
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value as object);
  for (const [k, v] of entries) paths.push(...jsonPaths(v, [...prefix, k], depth - 1));
  return paths;
}

/** Structural damage to JSON (a value replaced, a key dropped or added) or damage to its text (NaN, Infinity, cuts, flips). */
function mutateJson(r: Rand, value: unknown): [string, string] {
  const text = JSON.stringify(value);
  const kind = int(r, 10);
  if (kind < 5) {
    const copy = JSON.parse(text) as unknown;
    const paths = jsonPaths(copy).filter((p) => p.length > 0);
    const target = pick(r, paths);
    let parent = copy as Record<string | number, unknown>;
    for (const k of target.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = target[target.length - 1];
    const label = target.join('.');
    if (kind === 4 && !Array.isArray(parent)) {
      delete parent[key];
      return [`${label} deleted`, JSON.stringify(copy)];
    }
    if (kind === 3 && !Array.isArray(parent)) {
      parent[`bogus${int(r, 100)}`] = pick(r, HOSTILE_VALUES);
      return [`unknown key beside ${label}`, JSON.stringify(copy)];
    }
    const replacement = pick(r, HOSTILE_VALUES);
    parent[key] = replacement;
    return [`${label} = ${JSON.stringify(replacement)}`, JSON.stringify(copy)];
  }
  if (kind < 8) {
    // JSON has no NaN or Infinity, but a hand edit can write them; 1e999 parses as Infinity.
    const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
    if (numbers.length) {
      const m = pick(r, numbers);
      const literal = pick(r, ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '1e-999', '-0']);
      return [`number at ${m.index} -> ${literal}`, text.slice(0, m.index) + literal + text.slice((m.index ?? 0) + m[0].length)];
    }
  }
  const [label, bytes] = mutateBytes(r, Buffer.from(text));
  return [`text ${label}`, bytes.toString('latin1')];
}

/** Recomputes every chunk's CRC, so a mutated PNG gets past the CRC check to what it claims. */
function fixPngCrcs(bytes: Buffer): Buffer {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return bytes;
  const chunks: Buffer[] = [PNG_SIGNATURE];
  let i = 8;
  while (i + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(i);
    if (i + 12 + length > bytes.length) break;
    chunks.push(pngChunk(bytes.toString('latin1', i + 4, i + 8), bytes.subarray(i + 8, i + 8 + length)));
    i += 12 + length;
  }
  chunks.push(bytes.subarray(i));
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Running the cases

const counts: Record<string, number> = {};
const outcomes: Record<string, { loaded: number; refused: number }> = {};

/**
 * Runs one case: `run` either returns (the input loaded; `check` then asserts it is sane) or throws
 * a one-line NinError. Anything else, or taking longer than CASE_LIMIT_MS, fails with the case's name.
 */
async function fuzzCase<T>(kind: string, label: string, run: () => T | Promise<T>, check: (result: T) => void = () => {}): Promise<void> {
  counts[kind] = (counts[kind] ?? 0) + 1;
  outcomes[kind] ??= { loaded: 0, refused: 0 };

  const name = `${kind} #${counts[kind]} (seed ${SEED}): ${label}`;
  const started = Date.now();
  let result: T;
  try {
    result = await run();
  } catch (err) {
    assert.ok(err instanceof NinError, `${name}: threw ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(!err.message.includes('\n') && err.message.length > 0, `${name}: not one line: ${err.message}`);
    assert.ok(!/internal error|this is a bug/.test(err.message), `${name}: ${err.message}`);
    assert.ok(Date.now() - started < CASE_LIMIT_MS, `${name}: took ${Date.now() - started} ms`);
    outcomes[kind].refused++;
    return;
  }
  assert.ok(Date.now() - started < CASE_LIMIT_MS, `${name}: took ${Date.now() - started} ms`);
  outcomes[kind].loaded++;
  try {
    check(result);
  } catch (err) {
    throw new Error(`${name}: loaded, but ${(err as Error).message}`);
  }
}

let work: string;
let checkpoint: string; // momentum, one step, epoch 1
let manifest: string; // a TF.js weights manifest of NiN's weights (init.json + init.bin)
let target: tf.LayersModel; // receives --init-weights
let probe: tf.Tensor4D;

before(async () => {
  await initBackend('cpu', null);
  work = tempDir('nin-fuzz-');
  const model = buildNin({ imageSize: IMAGE_SIZE, seed: 3 });
  probe = tf.tidy(() => tf.randomUniform([1, IMAGE_SIZE, IMAGE_SIZE, 1], 0, 1, 'float32', 5) as tf.Tensor4D);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => tf.mean(forward(model, probe, false)) as tf.Scalar, variables);
    optimizer.applyGradients(grads as unknown as tf.NamedTensorMap as never);
  });
  const metrics = { epoch: 1, loss: 2.2, trainAcc: 0.25, testAcc: 0.5, examplesPerSec: 10, seconds: 3 };
  const config = resolveConfig({ imageSize: IMAGE_SIZE, batchSize: 2, trainLimit: 4, testLimit: 4, optimizer: 'momentum', backend: 'cpu' });
  checkpoint = path.join(work, 'ckpt');
  const meta = {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config,
    imageSize: IMAGE_SIZE,
    epoch: 1,
    metrics,
    backend: 'cpu',
    optimizer: { name: 'momentum', iterations: 1 },
    history: [metrics],
    partial: null,
  };
  await saveCheckpoint(checkpoint, model, meta, { optimizerWeights: await optimizer.getWeights() });
  const values = model.getWeights().map((t) => t.dataSync() as Float32Array);
  manifest = writeWeightsManifest(
    path.join(work, 'manifest'),
    model.weights.map((w, k) => ({
      name: (w as unknown as { originalName: string }).originalName,
      shape: w.shape as number[],
      values: values[k],
    })),
    2,
  );
  target = buildNin({ imageSize: IMAGE_SIZE, seed: 4 });
  model.dispose();
  optimizer.dispose();
  // The fixture itself loads: every refusal below is the mutation's doing.
  (await loadCheckpoint(checkpoint)).model.dispose();
});

after(() => {
  target?.dispose();
  probe?.dispose();
  removeTempDirs();
});

/** A copy of the checkpoint with one file replaced (the others hard-linked: loading only reads). */
function damagedCheckpoint(file: string, bytes: Buffer | string): string {
  const dir = fs.mkdtempSync(path.join(work, 'c-'));
  for (const f of fs.readdirSync(checkpoint)) {
    if (f === file) fs.writeFileSync(path.join(dir, f), bytes);
    else fs.linkSync(path.join(checkpoint, f), path.join(dir, f));
  }
  return dir;
}

/** A loaded checkpoint is only acceptable with sane metadata and finite outputs. */
function checkLoaded(loaded: Awaited<ReturnType<typeof loadCheckpoint>>): void {
  try {
    assert.equal(loaded.meta.imageSize, IMAGE_SIZE);
    for (const rule of Object.keys(CONFIG_RULES) as (keyof typeof CONFIG_RULES)[])
      assert.ok(ruleAllows(CONFIG_RULES[rule], loaded.meta.config[rule]), `config.${rule}`);
    for (const w of loaded.model.getWeights()) assert.ok(w.dataSync().every(Number.isFinite), 'non-finite weights');
    for (const w of loaded.optimizerWeights ?? [])
      assert.ok(w.tensor.dataSync().every(Number.isFinite), `non-finite optimizer state ${w.name}`);
  } finally {
    loaded.model.dispose();
    for (const w of loaded.optimizerWeights ?? []) w.tensor.dispose();
  }
}

function clean(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The cases

test(`fuzz: at least 1,000 mutated inputs through the functions behind the CLI (seed ${SEED})`, { timeout: 240_000 }, async () => {
  const stream = (kind: number) => mulberry32(deriveSeed(SEED, kind));

  // IDX files, raw and gzipped: readIdx, and now and then a whole split.
  {
    const r = stream(1);
    const files = fixtureFiles(4, 3);
    const dir = tempDir('nin-fuzz-idx-');
    for (let i = 0; i < 220; i++) {
      const name = pick(r, Object.keys(files));
      const magic = name.includes('idx3') ? IMAGES_MAGIC : LABELS_MAGIC;
      const [label, bytes] = mutateBytes(r, files[name], magic === IMAGES_MAGIC ? [0, 4, 8, 12] : [0, 4]);
      const gz = r() < 0.3;
      const file = path.join(dir, `${i}-${name}${gz ? '.gz' : ''}`);
      fs.writeFileSync(file, gz ? gzipSync(bytes) : bytes);
      await fuzzCase(
        'idx',
        `${name}${gz ? '.gz' : ''} ${label}`,
        () => readIdx(file, magic),
        (idx) => {
          assert.equal(idx.data.length + 4 + 4 * idx.dims.length, bytes.length);
          assert.equal(
            idx.dims.reduce((a, b) => a * b, 1),
            idx.data.length,
          );
        },
      );
      if (i % 10 === 0) {
        const split = path.join(dir, `split-${i}`);
        const sums = writeFixtureDir(split, files, false);
        fs.writeFileSync(path.join(split, name), bytes);
        await fuzzCase(
          'idx',
          `split with ${name} ${label}`,
          () => readSplit(split, name.startsWith('t10k') ? 'test' : 'train', sums),
          (s) => {
            assert.equal(s.images.length, s.count * 784);
            assert.equal(s.labels.length, s.count);
          },
        );
      }
    }
  }

  // Pictures: decodeImage (header first, within the budget), then the conversion to 28x28.
  const picture = (image: Awaited<ReturnType<typeof decodeImage>>) => {
    assert.equal(image.data.length, image.width * image.height * 4);
    assert.equal(toFashionMnist(image, false).length, 784);
  };
  {
    const r = stream(2);
    const raw = Buffer.alloc(8 * 9, 7);
    for (let y = 0; y < 8; y++) raw[y * 9] = y % 5; // each row's filter byte: none, sub, up, average, Paeth
    const sources = [gradientPng(20, 12), pngWithHeader({ width: 8, height: 8, raw }), gradientPng(3, 40)];
    for (let i = 0; i < 180; i++) {
      const source = pick(r, sources);
      const [label, damaged] = mutateBytes(r, source, [8, 16, 20, 24, 28, 33]);
      // Half the cases get valid CRCs, so the decoder meets the damage instead of a checksum error.
      const fixed = r() < 0.5;
      const bytes = fixed ? fixPngCrcs(damaged) : damaged;
      await fuzzCase('png', `${label}${fixed ? ', CRCs fixed' : ''}`, () => decodeImage(bytes, 'fuzz.png'), picture);
    }
  }
  {
    const r = stream(3);
    const sources = [gradientJpeg(16, 16), gradientJpeg(24, 8, 50), gradientJpeg(9, 13, 100)];
    for (let i = 0; i < 180; i++) {
      const source = pick(r, sources);
      const [label, bytes] = mutateBytes(r, source, [jpegSizeOffset(source) - 2, jpegSizeOffset(source)]);
      await fuzzCase('jpeg', label, () => decodeImage(bytes, 'fuzz.jpg'), picture);
    }
  }

  // config.json, through validateConfig (what --resume reads) and metrics.jsonl, through readHistory (nin plot).
  {
    const r = stream(4);
    const config = resolveConfig({ imageSize: 96, trainLimit: 1000, optimizer: 'adam', initWeights: '/tmp/w.json' });
    const dir = tempDir('nin-fuzz-config-');
    for (let i = 0; i < 200; i++) {
      const [label, text] = mutateJson(r, config);
      const file = path.join(dir, `${i}.json`);
      fs.writeFileSync(file, text);
      await fuzzCase(
        'config.json',
        label,
        () => readConfigFile(file),
        (c) => {
          assert.deepEqual(Object.keys(c).sort(), Object.keys(CONFIG_RULES).sort());
          for (const [key, rule] of Object.entries(CONFIG_RULES))
            assert.ok(ruleAllows(rule, (c as unknown as Record<string, unknown>)[key]), key);
        },
      );
    }
  }
  {
    const r = stream(5);
    const rows = [1, 2, 3].map((epoch) => ({
      epoch,
      loss: 2.3 / epoch,
      trainAcc: 0.2 * epoch,
      testAcc: 0.25 * epoch,
      examplesPerSec: 100,
      seconds: 60,
    }));
    const dir = tempDir('nin-fuzz-log-');
    for (let i = 0; i < 150; i++) {
      const line = int(r, 3);
      let text: string;
      let label: string;
      if (r() < 0.7) {
        const [l, row] = mutateJson(r, rows[line]);
        label = `row ${line + 1}: ${l}`;
        text = rows.map((m, k) => (k === line ? row : JSON.stringify(m))).join('\n') + '\n';
      } else {
        const [l, bytes] = mutateBytes(r, Buffer.from(rows.map((m) => JSON.stringify(m) + '\n').join('')));
        label = `text ${l}`;
        text = bytes.toString('latin1');
      }
      const run = path.join(dir, `run-${i}`);
      fs.mkdirSync(run);
      fs.writeFileSync(path.join(run, 'metrics.jsonl'), text);
      await fuzzCase(
        'metrics.jsonl',
        label,
        () => readHistory(run),
        (history) => {
          history.forEach((m, k) => {
            assert.equal(m.epoch, k + 1);
            for (const v of Object.values(m)) assert.ok(Number.isFinite(v));
            assert.ok(m.trainAcc >= 0 && m.trainAcc <= 1 && m.testAcc >= 0 && m.testAcc <= 1);
          });
        },
      );
    }
  }

  // Checkpoints through loadCheckpoint (what eval, predict and --resume call): one damaged file each.
  {
    const r = stream(6);
    const meta = JSON.parse(fs.readFileSync(path.join(checkpoint, 'meta.json'), 'utf8')) as unknown;
    const modelJson = JSON.parse(fs.readFileSync(path.join(checkpoint, 'model.json'), 'utf8')) as unknown;
    const optimizerJson = JSON.parse(fs.readFileSync(path.join(checkpoint, 'optimizer.json'), 'utf8')) as unknown;
    const weights = fs.readFileSync(path.join(checkpoint, 'weights.bin'));
    const optimizerBin = fs.readFileSync(path.join(checkpoint, 'optimizer.bin'));
    const plan: [string, number, () => [string, Buffer | string]][] = [
      ['meta.json', 90, () => mutateJson(r, meta)],
      ['model.json', 70, () => mutateJson(r, modelJson)],
      ['weights.bin', 30, () => (r() < 0.5 ? injectNonFinite(r, weights) : mutateBytes(r, weights))],
      ['optimizer.json', 50, () => mutateJson(r, optimizerJson)],
      // The first 4 bytes are the int32 step count; the rest are float32 slots.
      ['optimizer.bin', 30, () => (r() < 0.5 ? injectNonFinite(r, optimizerBin, 4) : mutateBytes(r, optimizerBin, [0]))],
    ];
    for (const [file, cases, mutate] of plan) {
      for (let i = 0; i < cases; i++) {
        const [label, bytes] = mutate();
        const dir = damagedCheckpoint(file, bytes);
        await fuzzCase(file, label, () => loadCheckpoint(dir), checkLoaded);
        clean(dir);
      }
    }
  }

  // --init-weights from a weights manifest: init.json and its two .bin shards.
  {
    const r = stream(7);
    const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as unknown;
    const shards = ['init.bin.0', 'init.bin.1'].map((f) => fs.readFileSync(path.join(path.dirname(manifest), f)));
    for (let i = 0; i < 60; i++) {
      const dir = fs.mkdtempSync(path.join(work, 'm-'));
      for (const f of fs.readdirSync(path.dirname(manifest))) fs.linkSync(path.join(path.dirname(manifest), f), path.join(dir, f));
      let label: string;
      if (r() < 0.5) {
        const [l, text] = mutateJson(r, json);
        label = `init.json ${l}`;
        fs.rmSync(path.join(dir, 'init.json'));
        fs.writeFileSync(path.join(dir, 'init.json'), text);
      } else {
        const k = int(r, 2);
        const [l, bytes] = r() < 0.5 ? injectNonFinite(r, shards[k]) : mutateBytes(r, shards[k]);
        label = `init.bin.${k} ${l}`;
        fs.rmSync(path.join(dir, `init.bin.${k}`));
        fs.writeFileSync(path.join(dir, `init.bin.${k}`), bytes);
      }
      await fuzzCase(
        'weights manifest',
        label,
        () => loadInitialWeights(path.join(dir, 'init.json'), target),
        () => {
          for (const w of target.getWeights()) assert.ok(w.dataSync().every(Number.isFinite), 'non-finite weights were loaded');
        },
      );
      clean(dir);
    }
  }

  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(
    `fuzz (seed ${SEED}): ${total} cases: ${Object.entries(counts)
      .map(([k, n]) => `${k} ${n} (${outcomes[k].refused} refused)`)
      .join(', ')}`,
  );
  assert.ok(total >= 1000, `${total} cases`);
});

test(
  `fuzz through the real CLI: no stack trace, no internal error, one line per problem (seed ${SEED})`,
  { timeout: 240_000 },
  async () => {
    const r = mulberry32(deriveSeed(SEED, 100));
    const jobs: { label: string; args: string[]; check: (res: Awaited<ReturnType<typeof runNin>>) => void }[] = [];

    // One predict call over 30 damaged pictures: each refused picture is its own line, the others are classified.
    const pictures = fs.mkdtempSync(path.join(work, 'p-'));
    const files: string[] = [];
    for (let i = 0; i < 30; i++) {
      const png = i % 2 === 0;
      const source = png ? gradientPng(12, 20) : gradientJpeg(16, 16);
      const [, damaged] = mutateBytes(r, source, png ? [16, 20] : [jpegSizeOffset(source)]);
      const file = path.join(pictures, `${i}.${png ? 'png' : 'jpg'}`);
      fs.writeFileSync(file, png && r() < 0.5 ? fixPngCrcs(damaged) : damaged);
      files.push(file);
    }
    jobs.push({
      label: 'predict over 30 damaged pictures',
      args: ['predict', checkpoint, ...files, '--backend', 'cpu', '--top', '1'],
      check: (res) => {
        const out = res.stdout.split('\n').filter(Boolean);
        const err = res.stderr.split('\n').filter(Boolean);
        const failed = err.filter((l) => !/could not be classified/.test(l)).length;
        assert.equal(out.length + failed, files.length);
        assert.equal(res.code, failed ? 1 : 0);
        for (const l of out) assert.match(l, /^\S+\.(png|jpg): .+ [01]\.\d{3}$/);
        for (const l of err) assert.match(l, /^nin: /);
      },
    });

    // Damaged checkpoints, as predict loads them.
    const picture = path.join(pictures, 'good.png');
    fs.writeFileSync(picture, gradientPng(28, 28));
    const meta = JSON.parse(fs.readFileSync(path.join(checkpoint, 'meta.json'), 'utf8')) as unknown;
    const modelJson = JSON.parse(fs.readFileSync(path.join(checkpoint, 'model.json'), 'utf8')) as unknown;
    const damages: [string, Buffer | string][] = [
      ['meta.json', JSON.stringify({ ...(meta as object), config: { ...(meta as { config: object }).config, learningRate: 'abc' } })],
      ['model.json', mutateJson(r, modelJson)[1]],
      ['weights.bin', injectNonFinite(r, fs.readFileSync(path.join(checkpoint, 'weights.bin')))[1]],
      ['optimizer.bin', injectNonFinite(r, fs.readFileSync(path.join(checkpoint, 'optimizer.bin')), 4)[1]],
    ];
    for (const [file, bytes] of damages) {
      const dir = damagedCheckpoint(file, bytes);
      jobs.push({
        label: `predict with a damaged ${file}`,
        args: ['predict', dir, picture, '--backend', 'cpu'],
        check: (res) => {
          if (res.code === 0) return assert.match(res.stdout, /^\S+good\.png: /);
          assert.equal(res.code, 1);
          assert.equal(res.stderr.split('\n').filter(Boolean).length, 1);
          assert.equal(res.stdout, '');
        },
      });
    }

    // A damaged log or config.json, as nin plot reads them.
    for (let i = 1; i < 3; i++) {
      const run = fs.mkdtempSync(path.join(work, 'run-'));
      const rows = [1, 2].map((epoch) => ({ epoch, loss: 1 / epoch, trainAcc: 0.5, testAcc: 0.5, examplesPerSec: 1, seconds: 1 }));
      const config = resolveConfig({ epochs: 4 });
      if (i < 2) {
        fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify(config));
        fs.writeFileSync(path.join(run, 'metrics.jsonl'), JSON.stringify(rows[0]) + '\n' + mutateJson(r, rows[1])[1] + '\n');
      } else {
        fs.writeFileSync(path.join(run, 'config.json'), mutateJson(r, config)[1]);
        fs.writeFileSync(path.join(run, 'metrics.jsonl'), rows.map((m) => JSON.stringify(m)).join('\n') + '\n');
      }
      jobs.push({
        label: `plot with a damaged ${i < 2 ? 'metrics.jsonl' : 'config.json'}`,
        args: ['plot', run, '--out', path.join(run, 'fig.svg')],
        check: (res) => {
          if (res.code === 0) return assert.ok(fs.existsSync(path.join(run, 'fig.svg')));
          assert.equal(res.code, 1);
          assert.equal(res.stderr.split('\n').filter(Boolean).length, 1);
          assert.ok(!fs.existsSync(path.join(run, 'fig.svg')));
        },
      });
    }

    // A damaged IDX file, as eval reads the dataset.
    const data = tempDir('nin-fuzz-data-');
    const files4 = fixtureFiles(4, 3);
    writeFixtureDir(data, files4, true);
    fs.writeFileSync(
      path.join(data, FILE_NAMES.testImages + '.gz'),
      gzipSync(mutateBytes(r, files4[FILE_NAMES.testImages], [4, 8, 12])[1]),
    );
    jobs.push({
      label: 'eval with a damaged IDX file',
      args: ['eval', checkpoint, '--data-dir', data, '--backend', 'cpu', '--test-limit', '4'],
      check: (res) => {
        assert.equal(res.code, 1); // fixtures never match the official checksums
        assert.equal(res.stderr.split('\n').filter(Boolean).length, 1);
      },
    });

    // Hostile run files, as eval, --resume and plot read them: one line each, never a hang.
    const hostile = (make: (run: string) => void): string => {
      const run = fs.mkdtempSync(path.join(work, 'hostile-run-'));
      const meta = JSON.parse(fs.readFileSync(path.join(checkpoint, 'meta.json'), 'utf8')) as { config: object; history: object[] };
      fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify(meta.config));
      fs.writeFileSync(path.join(run, 'metrics.jsonl'), JSON.stringify(meta.history[0]) + '\n');
      fs.cpSync(checkpoint, path.join(run, 'last'), { recursive: true });
      make(run);
      return run;
    };
    const fifoIn = (file: string) => (run: string) => {
      fs.rmSync(path.join(run, file));
      execFileSync('mkfifo', [path.join(run, file)]);
    };
    // One error line, the last (--resume logs its start before it reads last/).
    const oneLine = (pattern: RegExp) => (res: Awaited<ReturnType<typeof runNin>>) => {
      assert.equal(res.code, 1);
      const errors = res.stderr.split('\n').filter((l) => l.startsWith('nin: '));
      assert.equal(errors.length, 1);
      assert.equal(res.stderr.trimEnd().split('\n').pop(), errors[0]);
      assert.match(errors[0], pattern);
    };
    jobs.push(
      {
        label: 'eval of a run whose last/weights.bin is a FIFO',
        args: ['eval', hostile(fifoIn('last/weights.bin')), '--backend', 'cpu', '--test-limit', '4'],
        check: oneLine(/weights\.bin is not a regular file/),
      },
      {
        label: '--resume of a run whose last/optimizer.bin is a FIFO',
        args: ['train', '--resume', hostile(fifoIn('last/optimizer.bin')), '--backend', 'cpu'],
        check: oneLine(/optimizer\.bin is not a regular file/),
      },
      {
        label: '--resume of a run whose .lock is a FIFO',
        args: ['train', '--resume', hostile((run) => execFileSync('mkfifo', [path.join(run, '.lock')])), '--backend', 'cpu'],
        check: oneLine(/\.lock is not a regular file/),
      },
      {
        label: 'plot of a run whose metrics.jsonl is a FIFO',
        args: ['plot', hostile(fifoIn('metrics.jsonl')), '--out', path.join(work, 'hostile.svg')],
        check: oneLine(/metrics\.jsonl is not a regular file/),
      },
      {
        label: 'eval of a run whose last/ is a link out of it',
        args: [
          'eval',
          hostile((run) => {
            fs.rmSync(path.join(run, 'last'), { recursive: true });
            fs.symlinkSync(checkpoint, path.join(run, 'last'));
          }),
          '--backend',
          'cpu',
        ],
        check: oneLine(/last is a symbolic link; nin follows no link inside a run or checkpoint/),
      },
    );

    // Two at a time: the machine has two cores.
    for (let i = 0; i < jobs.length; i += 2) {
      await Promise.all(
        jobs.slice(i, i + 2).map(async (job) => {
          const res = await runNin(job.args, { timeoutMs: 60_000 });
          counts['cli'] = (counts['cli'] ?? 0) + 1;
          const context = `${job.label}: exit ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`;
          assert.ok(!res.timedOut, `${context}\n(timed out)`);
          assert.ok(!leaksInternals(res.stderr), context);
          assert.ok(res.code === 0 || res.code === 1, context);
          try {
            job.check(res);
          } catch (err) {
            throw new Error(`${context}\n${(err as Error).message}`);
          }
        }),
      );
    }
    console.log(`fuzz through the CLI (seed ${SEED}): ${jobs.length} processes`);
  },
);

test(
  'fuzz: run directories whose files are FIFOs, links, directories, huge (sparse) or nested 200,000 deep: eval, --resume, plot and serve end in one line or a clean HTTP error',
  { timeout: 420_000 },
  async () => {
    const root = fs.mkdtempSync(path.join(work, 'hostile-'));
    const outside = fs.mkdtempSync(path.join(work, 'outside-'));
    const meta = JSON.parse(fs.readFileSync(path.join(checkpoint, 'meta.json'), 'utf8')) as Record<string, unknown> & {
      config: object;
      history: object[];
    };
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    // The run as nin train leaves it: config.json, metrics.jsonl, last/ with the optimizer state, best/ without.
    const layout: Record<string, string | null> = {
      'config.json': JSON.stringify(meta.config),
      'metrics.jsonl': JSON.stringify(meta.history[0]) + '\n',
      '.lock': null, // no process trains it
    };
    for (const f of fs.readdirSync(checkpoint)) layout[`last/${f}`] = path.join(checkpoint, f);
    for (const f of ['meta.json', 'model.json', 'weights.bin']) layout[`best/${f}`] = path.join(checkpoint, f);

    /** A copy outside the run of what `name` holds in it, for a link out of the run to point at. */
    const outsideCopy = (name: string): string => {
      const copy = path.join(outside, name.replace(/\//g, '_'));
      if (fs.existsSync(copy)) return copy;
      if (name === 'last' || name === 'best') {
        fs.mkdirSync(copy);
        for (const [file, source] of Object.entries(layout))
          if (file.startsWith(`${name}/`)) fs.copyFileSync(source as string, path.join(copy, path.basename(file)));
      } else {
        const source = layout[name];
        fs.writeFileSync(copy, source === null ? '1\n' : source.startsWith('/') ? fs.readFileSync(source) : source);
      }
      return copy;
    };
    const kinds: Record<string, (target: string, name: string) => void> = {
      'a FIFO': (target) => execFileSync('mkfifo', [target]),
      'a link to /dev/zero': (target) => fs.symlinkSync('/dev/zero', target),
      'a link out of the run': (target, name) => fs.symlinkSync(outsideCopy(name), target),
      'a directory': (target) => fs.mkdirSync(target),
      'a regular file': (target) => fs.writeFileSync(target, 'not a directory\n'),
      'a 3 GB sparse file': (target) => {
        fs.writeFileSync(target, '');
        fs.truncateSync(target, 3e9);
      },
      'JSON nested 200,000 deep': (target, name) =>
        fs.writeFileSync(target, name.endsWith('.jsonl') ? `{"epoch":${deep}}\n` : name === '.lock' ? deep : `{"formatVersion":${deep}}`),
    };
    const applies = (name: string, kind: string): boolean => {
      const dir = name === 'last' || name === 'best';
      if (kind === 'a regular file') return dir;
      if (kind === 'a directory' || kind === 'a 3 GB sparse file') return !dir;
      if (kind === 'JSON nested 200,000 deep') return /\.json|\.lock/.test(name) && !dir;
      return true;
    };

    const cases: { dir: string; label: string }[] = [];
    for (const name of [...Object.keys(layout), 'last', 'best']) {
      for (const [kind, make] of Object.entries(kinds)) {
        if (!applies(name, kind)) continue;
        const dir = path.join(root, `case-${cases.length}`);
        for (const sub of ['', 'last', 'best']) fs.mkdirSync(path.join(dir, sub));
        for (const [file, source] of Object.entries(layout)) {
          if (source === null) continue;
          if (source.startsWith('/'))
            fs.linkSync(source, path.join(dir, file)); // readers only read
          else fs.writeFileSync(path.join(dir, file), source);
        }
        const target = path.join(dir, name);
        fs.rmSync(target, { recursive: true, force: true });
        make(target, name);
        cases.push({ dir, label: `${name} is ${kind}` });
      }
    }

    const scratch = fs.mkdtempSync(path.join(work, 'scratch-'));
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'helpers', 'hostile-readers.js'), JSON.stringify(cases.map((c) => c.dir)), scratch],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const BOUND_MS = 360_000; // ~450 readings; a hang is what this catches, not slowness
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const labelOf = (dir: string) => cases.find((c) => c.dir === dir)?.label ?? 'all runs';
    const readings = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Reading);
    const last = readings[readings.length - 1];
    assert.ok(code === 0, `the readers did not finish (exit ${code}); last: ${last && `${labelOf(last.run)}: ${last.reader}`}\n${stderr}`);
    const ended = readings.filter((r) => !r.start);
    const outcomes: Record<string, number> = {};
    for (const r of ended) {
      const what = `${labelOf(r.run)}: ${r.reader}`;
      assert.notEqual(r.outcome, 'bad', `${what}: ${r.message}`);
      if (r.status !== undefined)
        assert.ok([200, 403, 404, 410, 422].includes(r.status), `${what}: HTTP ${r.status} (-1: no answer in 10 s)`);
      assert.ok((r.ms ?? 0) < 30_000, `${what}: took ${r.ms} ms`);
      const key = r.status !== undefined ? `http ${r.status}` : (r.outcome as string);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    assert.equal(ended.length, readings.length - ended.length, 'every reading that started ended');
    assert.equal(ended.length, cases.length * (READERS.length + HTTP_PATHS.length) + 1);
    // The refusals this suite exists for, by name.
    const outcome = (label: string, reader: string) => ended.find((r) => labelOf(r.run) === label && r.reader === reader);
    assert.match(String(outcome('best/weights.bin is a link out of the run', 'eval')?.message), /weights\.bin is a symbolic link/);
    assert.equal(outcome('best is a link out of the run', 'http checkpoints/best/model.json')?.status, 403);
    assert.match(String(outcome('.lock is a FIFO', 'resume')?.message), /\.lock is not a regular file/);
    assert.match(String(outcome('last/optimizer.bin is a FIFO', 'resume')?.message), /optimizer\.bin is not a regular file/);
    assert.match(String(outcome('metrics.jsonl is JSON nested 200,000 deep', 'plot')?.message), /nests objects or arrays more than 64/);
    console.log(
      `fuzz of hostile run files: ${cases.length} runs, ${ended.length} readings: ${Object.entries(outcomes)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
  },
);

// ---------------------------------------------------------------------------------------------
// nin serve's routes

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends `request` byte for byte (methods, paths and headers no HTTP client would send) and reads the
 * answer: the status line, the headers, and the body by its Content-Length (none for HEAD; an event
 * stream is closed after its headers). Fails when no answer comes within `limitMs`.
 */
function rawRequest(port: number, request: Buffer, head: boolean, limitMs: number): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let answer: RawAnswer | null = null;
    let length = -1;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (answer) resolve({ ...answer, body: length >= 0 ? answer.body.subarray(0, length) : answer.body });
      else
        reject(
          error ?? new Error(`the connection closed without an answer (${data.length} bytes: ${data.toString('latin1').slice(0, 80)})`),
        );
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${limitMs} ms`)), limitMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (!answer) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
        answer = { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0), headers, body: Buffer.alloc(0) };
        data = data.subarray(end + 4);
        length = head || headers['content-type']?.startsWith('text/event-stream') ? 0 : Number(headers['content-length'] ?? -1);
      }
      answer.body = data;
      if (length >= 0 && data.length >= length) finish();
    });
    socket.on('end', () => finish());
    socket.on('error', (err) => finish(err));
  });
}

test(
  `fuzz: nin serve's routes under seeded random requests: never a 500, nothing from outside the runs, still up (seed ${SEED})`,
  { timeout: 300_000 },
  async () => {
    const r = mulberry32(deriveSeed(SEED, 200));
    // A secret beside the runs and inside --out: no answer may ever carry it.
    const secret = `nin-fuzz-secret-${SEED}-${Math.floor(r() * 1e9)}`;
    const root = fs.mkdtempSync(path.join(work, 'serve-'));
    const out = path.join(root, 'runs');
    fs.mkdirSync(path.join(out, 'not-a-run'), { recursive: true });
    fs.writeFileSync(path.join(root, 'secret.txt'), secret);
    fs.writeFileSync(path.join(out, 'secret.txt'), secret);
    fs.writeFileSync(path.join(out, 'not-a-run', 'weights.bin'), secret);
    const names = ['plain', 'back\\slash', '.hidden', 'sp ace', 'per%25cent', 'ünï'];
    const config = fs.readFileSync(path.join(checkpoint, 'meta.json'), 'utf8');
    for (const name of names) {
      const run = path.join(out, name);
      fs.mkdirSync(run);
      fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify((JSON.parse(config) as { config: unknown }).config));
      fs.cpSync(checkpoint, path.join(run, 'best'), { recursive: true });
      if (name === 'plain') fs.cpSync(checkpoint, path.join(run, 'last'), { recursive: true });
      fs.writeFileSync(path.join(run, 'notes.txt'), secret); // a file of a run that is not a checkpoint's
    }
    const log: string[] = [];
    const server = await serve({ runs: [], out, host: '127.0.0.1', port: 0, backend: 'cpu', threads: null, log: (l) => log.push(l) });
    try {
      await fuzzServe(r, server, secret, names.length, () => log);
    } finally {
      await server.close();
    }
  },
);

/** The requests of the serve fuzz test, against `server` (a failure leaves the closing to the caller). */
async function fuzzServe(
  r: Rand,
  server: Awaited<ReturnType<typeof serve>>,
  secret: string,
  runs: number,
  log: () => string[],
): Promise<void> {
  const port = server.port;
  const ids = ((await rawJson(port, '/api/runs')) as { runs: { id: string }[] }).runs.map((x) => x.id);
  assert.equal(ids.length, runs, `every run is listed: ${ids.join(', ')}`);

  const segments = [
    ...['api', 'runs', 'checkpoints', 'best', 'last', 'model.json', 'meta.json', 'weights.bin', 'report', 'events', 'test-images'],
    ...['0.png', '59999.png', '99999.png', '-1.png', '00001.png', 'index.html', 'app.js', 'style.css', 'favicon.ico'],
    ...['..', '.', '%2e%2e', '%2E', '..%2f..', '%2f', '%5c', '\\', '%00', '%zz', '%', '~', '*', ';', '%20', '%0a'],
    ...['etc', 'passwd', 'config.json', 'optimizer.bin', 'metrics.jsonl', '.lock', 'notes.txt', 'secret.txt', 'not-a-run', 'runs'],
    ...ids.map(encodeURIComponent),
    'x'.repeat(300),
  ];
  const randomPath = (): string => {
    const shape = r();
    if (shape < 0.05) return pick(r, ['*', 'http://127.0.0.1/api/runs', 'api/runs', '', '/%', '//etc/passwd', '/..', '/./api/runs']);
    if (shape < 0.15) {
      // A route exactly: these get past every check to the run's files (and now and then compute a report).
      const file = pick(r, ['model.json', 'meta.json', 'weights.bin', 'report']);
      return `/api/runs/${encodeURIComponent(pick(r, ids))}/checkpoints/${pick(r, ['best', 'last'])}/${file}`;
    }
    if (shape < 0.55) {
      // A route's shape with some parts swapped.
      const parts = [
        'api',
        'runs',
        encodeURIComponent(pick(r, ids)),
        'checkpoints',
        pick(r, ['best', 'last']),
        pick(r, ['model.json', 'meta.json', 'weights.bin', 'report']),
      ];
      const keep = 1 + int(r, parts.length);
      const route = parts.slice(0, keep);
      for (let k = r() < 0.4 ? 0 : int(r, 3); k > 0; k--) route[int(r, route.length)] = pick(r, segments);
      return '/' + route.join(r() < 0.9 ? '/' : pick(r, ['//', '/./', '/../']));
    }
    return '/' + Array.from({ length: int(r, 7) }, () => pick(r, segments)).join('/');
  };
  const randomQuery = (): string => {
    if (r() < 0.6) return '';
    const pairs = Array.from({ length: 1 + int(r, 3) }, () =>
      pick(r, [
        'snapshot=0000000000000000',
        'snapshot=../../secret',
        'snapshot=',
        'x=%zz',
        'a=1&a=2',
        '%00=%00',
        'snapshot=' + 'f'.repeat(64),
        '',
      ]),
    );
    return '?' + pairs.join('&');
  };
  const methods = [
    'GET',
    'GET',
    'GET',
    'GET',
    'HEAD',
    'HEAD',
    'POST',
    'POST',
    'PUT',
    'DELETE',
    'OPTIONS',
    'PATCH',
    'TRACE',
    'PROPFIND',
    'get',
    'G(T',
  ];
  const hosts = [
    `127.0.0.1:${port}`,
    `127.0.0.1:${port}`,
    'localhost',
    '[::1]',
    '127.1',
    'evil.example',
    '127.0.0.1.evil.example',
    '',
    'a'.repeat(300),
    '[::1',
  ];
  const origins = [`http://127.0.0.1:${port}`, 'http://evil.example', 'null', 'http://localhost:1', 'garbage', `https://127.0.0.1:${port}`];
  const sites = ['same-origin', 'same-site', 'cross-site', 'none', 'bogus'];

  const seen: Record<number, number> = {};
  const cases = 700;
  for (let i = 0; i < cases; i++) {
    const target = randomPath() + randomQuery();
    // A report is asked for by POST: that route gets its method more often.
    const method = target.includes('/report') && r() < 0.5 ? 'POST' : pick(r, methods);
    const headers: string[] = [];
    // Mostly this server's own Host, so that most requests reach the routes behind the Host check.
    if (r() < 0.97) headers.push(`Host: ${r() < 0.7 ? `127.0.0.1:${port}` : pick(r, hosts)}`);
    if (r() < 0.3) headers.push(`Origin: ${pick(r, origins)}`);
    if (r() < 0.3) headers.push(`Sec-Fetch-Site: ${pick(r, sites)}`);
    if (r() < 0.2) headers.push(`Accept-Encoding: ${pick(r, ['gzip', 'gzip;q=0', 'br, gzip;q=0.5', '*', 'gzip;q=abc'])}`);
    if (r() < 0.1) headers.push(`Range: bytes=${pick(r, ['0-10', '-5', '100-', 'x'])}`);
    if (r() < 0.05)
      headers.push(pick(r, ['X-Bad header: 1', 'no colon', `X-Long: ${'y'.repeat(20_000)}`, 'Content-Length: -1', 'Content-Length: 1, 2']));
    let body = '';
    if (r() < 0.15) {
      body = pick(r, ['{}', 'x'.repeat(int(r, 5000)), '\u0000\u0001']);
      headers.push(r() < 0.8 ? `Content-Length: ${Buffer.byteLength(body)}` : 'Transfer-Encoding: chunked');
      if (headers[headers.length - 1].startsWith('Transfer')) body = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    }
    headers.push('Connection: close');
    const request = Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8');
    const label = `serve #${i + 1} (seed ${SEED}): ${method} ${target.slice(0, 120)} [${headers.map((h) => h.slice(0, 60)).join('; ')}]`;
    // A report that passes every check is computed (once per checkpoint: then cached): seconds, not milliseconds.
    const limit = method === 'POST' && target.includes('/report') ? 120_000 : CASE_LIMIT_MS;
    let answer: RawAnswer;
    try {
      answer = await rawRequest(port, request, method === 'HEAD', limit);
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).message}`);
    }
    seen[answer.status] = (seen[answer.status] ?? 0) + 1;
    const text = answer.body.toString('latin1');
    assert.ok(answer.status >= 200 && answer.status < 600, `${label}: status ${answer.status}`);
    assert.ok(answer.status < 500 || answer.status === 503, `${label}: ${answer.status} ${text.slice(0, 200)}`);
    assert.ok(!text.includes(secret) && !text.includes('root:x:0:0'), `${label}: the answer carries a file from outside the runs`);
    if (answer.status >= 400 && method !== 'HEAD') {
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8', label);
      assert.ok(!text.includes('\n') && !text.includes('    at '), `${label}: not one line: ${text.slice(0, 200)}`);
      assert.equal(typeof (JSON.parse(text) as { error: unknown }).error, 'string', `${label}: ${text}`);
    }
  }
  counts['serve'] = cases;
  assert.deepEqual(
    log().filter((l) => /internal error|this is a bug/.test(l)),
    [],
  );
  // Still up, still serving every run.
  assert.equal(((await rawJson(port, '/api/runs')) as { runs: unknown[] }).runs.length, runs);
  const computed = log().filter((l) => l.startsWith('report: evaluating')).length;
  console.log(
    `fuzz of nin serve (seed ${SEED}): ${cases} requests, ${computed} reports computed: ${Object.entries(seen)
      .map(([status, n]) => `${status} x${n}`)
      .join(', ')}`,
  );
}

async function rawJson(port: number, target: string): Promise<unknown> {
  const answer = await rawRequest(
    port,
    Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    false,
    10_000,
  );
  assert.equal(answer.status, 200, answer.body.toString());
  return JSON.parse(answer.body.toString()) as unknown;
}
