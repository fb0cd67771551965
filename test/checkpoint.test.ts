// Checkpoints: a saved and loaded model predicts identically; a crash at any point of the swap
// leaves a loadable checkpoint; every kind of damaged checkpoint makes `nin eval` print one line, exit 1.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { type CheckpointMeta, FORMAT_VERSION, loadCheckpoint, loadInitialWeights, recoverCheckpoint, saveCheckpoint } from '../src/checkpoint';
import { resolveConfig } from '../src/config';
import { NinError, UsageError } from '../src/errors';
import { buildNin, forward } from '../src/model';
import { NIN_VERSION } from '../src/version';
import { assertOneLineError, runNin } from './helpers/cli';
import { removeTempDirs, tempDir } from './helpers/idx';
import { writeWeightsManifest } from './helpers/manifest';

const IMAGE_SIZE = 67;

function metaFor(epoch: number): CheckpointMeta {
  return {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config: resolveConfig({ imageSize: IMAGE_SIZE, batchSize: 4, trainLimit: 4, testLimit: 4 }),
    imageSize: IMAGE_SIZE,
    epoch,
    metrics: null,
    backend: 'cpu',
    optimizer: null,
  };
}

/** A fixed input batch of two images. */
function input(): tf.Tensor4D {
  const n = 2 * IMAGE_SIZE * IMAGE_SIZE;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 37) % 101) / 101;
  return tf.tensor4d(x, [2, IMAGE_SIZE, IMAGE_SIZE, 1]);
}

function logits(model: tf.LayersModel): Float32Array {
  return tf.tidy(() => forward(model, input(), false).dataSync() as Float32Array);
}

/** Copies a checkpoint directory, so each test damages its own. */
function copyDir(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

let work: string;
let saved: string; // a good checkpoint at epoch 1
let savedLogits: Float32Array;

before(async () => {
  await initBackend('cpu', null);
  work = tempDir('nin-ckpt-');
  saved = path.join(work, 'good');
  const model = buildNin({ imageSize: IMAGE_SIZE, seed: 7 });
  // Train-like state: an optimizer with slots, so its weights round-trip too.
  const optimizer = tf.train.momentum(0.1, 0.9);
  const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => tf.mean(forward(model, input(), false)) as tf.Scalar, variables);
    optimizer.applyGradients(grads as unknown as tf.NamedTensorMap as never);
  });
  savedLogits = logits(model);
  await saveCheckpoint(saved, model, metaFor(1), { optimizerWeights: await optimizer.getWeights() });
  model.dispose();
  optimizer.dispose();
});
after(removeTempDirs);

describe('save and load', () => {
  test('a loaded checkpoint predicts exactly what the saved model predicted', async () => {
    const loaded = await loadCheckpoint(saved);
    try {
      assert.deepEqual(Array.from(logits(loaded.model)), Array.from(savedLogits));
      assert.equal(loaded.meta.epoch, 1);
      assert.equal(loaded.meta.imageSize, IMAGE_SIZE);
      assert.equal(loaded.meta.formatVersion, FORMAT_VERSION);
    } finally {
      loaded.model.dispose();
    }
  });

  test('the directory holds model.json, weights.bin, meta.json and the optimizer state, nothing else', () => {
    assert.deepEqual(fs.readdirSync(saved).sort(), ['meta.json', 'model.json', 'optimizer.bin', 'optimizer.json', 'weights.bin']);
    const modelJson = JSON.parse(fs.readFileSync(path.join(saved, 'model.json'), 'utf8'));
    assert.equal(modelJson.format, 'layers-model');
    assert.deepEqual(modelJson.weightsManifest[0].paths, ['weights.bin']);
    assert.deepEqual(fs.readdirSync(work).filter((f) => f.startsWith('.')), [], 'no temporary or .old directory is left behind');
  });

  test('optimizer state round-trips (momentum slots and iterations)', async () => {
    const loaded = await loadCheckpoint(saved);
    try {
      assert.ok(loaded.optimizerWeights && loaded.optimizerWeights.length > 1);
      const optimizer = tf.train.momentum(0.1, 0.9);
      await optimizer.setWeights(loaded.optimizerWeights);
      const again = await optimizer.getWeights();
      assert.deepEqual(again.map((w) => w.name), loaded.optimizerWeights.map((w) => w.name));
      for (let i = 0; i < again.length; i++) assert.deepEqual(Array.from(again[i].tensor.dataSync()), Array.from(loaded.optimizerWeights[i].tensor.dataSync()));
      optimizer.dispose();
    } finally {
      loaded.model.dispose();
    }
  });

  test('saving over a checkpoint replaces it whole', async () => {
    const dir = copyDir(saved, path.join(work, 'replace'));
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 99 });
    const newLogits = logits(model);
    await saveCheckpoint(dir, model, metaFor(2));
    model.dispose();
    const loaded = await loadCheckpoint(dir);
    try {
      assert.equal(loaded.meta.epoch, 2);
      assert.deepEqual(Array.from(logits(loaded.model)), Array.from(newLogits));
      assert.equal(loaded.optimizerWeights, null, 'the old optimizer files must not survive into the new checkpoint');
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('a crash during the swap leaves a loadable checkpoint', () => {
  // saveCheckpoint: write .<name>.tmp-PID, rename <name> -> .<name>.old, rename tmp -> <name>, remove .old.
  async function assertLoadsEpoch(dir: string, epoch: number): Promise<void> {
    const loaded = await loadCheckpoint(dir);
    try {
      assert.equal(loaded.meta.epoch, epoch);
      assert.deepEqual(Array.from(logits(loaded.model)), Array.from(savedLogits));
    } finally {
      loaded.model.dispose();
    }
  }

  test('killed while writing the temporary directory: the old checkpoint loads, a later save succeeds', async () => {
    const run = tempDir('nin-swap-');
    const dir = copyDir(saved, path.join(run, 'last'));
    const tmp = path.join(run, '.last.tmp-123');
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(tmp, 'weights.bin'), Buffer.alloc(1000)); // half written, no meta.json
    await assertLoadsEpoch(dir, 1);
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 7 });
    await saveCheckpoint(dir, model, metaFor(2));
    model.dispose();
    assert.equal((await loadCheckpoint(dir).then((l) => (l.model.dispose(), l.meta))).epoch, 2);
  });

  test('killed after last -> .last.old, before the new one was renamed in: the old one loads, recovery puts it back', async () => {
    const run = tempDir('nin-swap-');
    copyDir(saved, path.join(run, '.last.old'));
    fs.mkdirSync(path.join(run, '.last.tmp-123'));
    await assertLoadsEpoch(path.join(run, 'last'), 1);
    // Loading is read-only (an eval during training must not race its saves) ...
    assert.ok(fs.existsSync(path.join(run, '.last.old', 'meta.json')));
    // ... and training's recovery on --resume repairs the swap.
    recoverCheckpoint(path.join(run, 'last'));
    assert.ok(fs.existsSync(path.join(run, 'last', 'meta.json')));
    assert.ok(!fs.existsSync(path.join(run, '.last.old')));
    await assertLoadsEpoch(path.join(run, 'last'), 1);
  });

  test('killed after the new one was renamed in, before .last.old was removed: the new one wins', async () => {
    const run = tempDir('nin-swap-');
    copyDir(saved, path.join(run, 'last'));
    const old = copyDir(saved, path.join(run, '.last.old'));
    fs.writeFileSync(path.join(old, 'meta.json'), JSON.stringify(metaFor(0)));
    await assertLoadsEpoch(path.join(run, 'last'), 1);
    recoverCheckpoint(path.join(run, 'last'));
    assert.ok(!fs.existsSync(path.join(run, '.last.old')));
    await assertLoadsEpoch(path.join(run, 'last'), 1);
  });

  test('recoverCheckpoint on a clean or absent checkpoint changes nothing', () => {
    const run = tempDir('nin-swap-');
    recoverCheckpoint(path.join(run, 'last'));
    assert.deepEqual(fs.readdirSync(run), []);
    const dir = copyDir(saved, path.join(run, 'last'));
    recoverCheckpoint(dir);
    assert.deepEqual(fs.readdirSync(run), ['last']);
  });
});

describe('damaged checkpoints: loadCheckpoint throws one-line NinErrors', () => {
  test('a newer format version names the upgrade', async () => {
    const dir = copyDir(saved, path.join(tempDir('nin-bad-'), 'ckpt'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, formatVersion: FORMAT_VERSION + 1 }));
    await assert.rejects(loadCheckpoint(dir), (err: unknown) => err instanceof NinError && err.exitCode === 1 && /newer nin/.test(err.message) && /upgrade/.test(err.message));
  });
});

describe('nin eval of a damaged checkpoint: one line, exit 1, nothing changed', { concurrency: 3 }, () => {
  type Damage = (dir: string) => void;
  const cases: [string, Damage, RegExp[]][] = [
    ['a missing directory', (dir) => fs.rmSync(dir, { recursive: true }), [/does not exist/, /checkpoint directory/]],
    ['a directory without model.json', (dir) => fs.rmSync(path.join(dir, 'model.json')), [/no model\.json/, /nin train/]],
    ['an empty directory', (dir) => fs.rmSync(dir, { recursive: true }) === undefined && fs.mkdirSync(dir) as unknown as void, [/no model\.json/]],
    ['a file instead of a directory', (dir) => (fs.rmSync(dir, { recursive: true }), fs.writeFileSync(dir, 'x')), [/not a directory/]],
    ['a truncated weights.bin', (dir) => fs.truncateSync(path.join(dir, 'weights.bin'), 4_000_000), [/weights\.bin has 4000000 bytes/, /truncated/, /another checkpoint/]],
    ['an empty weights.bin', (dir) => fs.truncateSync(path.join(dir, 'weights.bin'), 0), [/weights\.bin has 0 bytes/]],
    ['a missing weights.bin', (dir) => fs.rmSync(path.join(dir, 'weights.bin')), [/weights\.bin is missing/]],
    ['a model.json that is not JSON', (dir) => fs.writeFileSync(path.join(dir, 'model.json'), '{"format": "layers-mo'), [/model\.json is not valid JSON/, /another checkpoint/]],
    ['a model.json that is JSON but not a model', (dir) => fs.writeFileSync(path.join(dir, 'model.json'), '{"hello": 1}'), [/not a TF\.js LayersModel/]],
    ['a meta.json that is not JSON', (dir) => fs.writeFileSync(path.join(dir, 'meta.json'), 'garbage'), [/meta\.json is not valid JSON/]],
    ['a missing meta.json', (dir) => fs.rmSync(path.join(dir, 'meta.json')), [/meta\.json is missing/]],
    ['a meta.json of another program', (dir) => fs.writeFileSync(path.join(dir, 'meta.json'), '{"epoch": 3}'), [/not a nin checkpoint/]],
    [
      'a meta.json of a newer format version',
      (dir) => {
        const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
        fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, formatVersion: FORMAT_VERSION + 1 }));
      },
      [/newer nin/, /upgrade nin/],
    ],
  ];

  for (const [name, damage, patterns] of cases) {
    test(name, async () => {
      const dir = copyDir(saved, path.join(tempDir('nin-bad-'), 'ckpt'));
      damage(dir);
      const snapshot = fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? fs.readdirSync(dir).sort() : null;
      const r = await runNin(['eval', dir, '--backend', 'cpu', '--test-limit', '4'], { timeoutMs: 60_000 });
      assertOneLineError(r, 1, ...patterns);
      assert.deepEqual(fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? fs.readdirSync(dir).sort() : null, snapshot);
    });
  }

  test('another architecture (a small dense model saved as a checkpoint)', async () => {
    const dir = path.join(tempDir('nin-bad-'), 'ckpt');
    const other = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1] }), tf.layers.dense({ units: 10 })] });
    await saveCheckpoint(dir, other, metaFor(1));
    other.dispose();
    const r = await runNin(['eval', dir, '--backend', 'cpu', '--test-limit', '4'], { timeoutMs: 60_000 });
    assertOneLineError(r, 1, /another architecture than d2l's NiN/, /nin train/);
  });

  test('a NiN of another image size than its meta.json says', async () => {
    const dir = copyDir(saved, path.join(tempDir('nin-bad-'), 'ckpt'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, imageSize: 96 }));
    const r = await runNin(['eval', dir, '--backend', 'cpu', '--test-limit', '4'], { timeoutMs: 60_000 });
    assertOneLineError(r, 1, /another architecture/, /input is 67x67x1, meta.json says 96px/);
  });
});

describe('initial weights (--init-weights)', () => {
  /**
   * Writes a model's weights as scripts/torch-init-weights.py does: a JSON manifest naming each
   * kernel and bias, the float32 values beside it, here split over `shards` files.
   */
  function writeManifest(dir: string, model: tf.LayersModel, shards = 1, rename: (name: string) => string = (n) => n): string {
    const values = model.getWeights().map((t) => t.dataSync() as Float32Array);
    return writeWeightsManifest(dir, model.weights.map((w, k) => ({ name: rename((w as unknown as { originalName: string }).originalName), shape: w.shape as number[], values: values[k] })), shards);
  }

  function weightsOf(model: tf.LayersModel): Float32Array[] {
    return model.getWeights().map((t) => t.dataSync() as Float32Array);
  }

  test('from a checkpoint directory: the new model predicts what the saved one did', () => {
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 99 });
    assert.notDeepEqual(logits(model), savedLogits);
    loadInitialWeights(saved, model);
    assert.deepEqual(logits(model), savedLogits);
    model.dispose();
  });

  test('from a weights manifest, one file or sharded: exactly the weights it holds, at any image size', () => {
    const source = buildNin({ imageSize: IMAGE_SIZE, seed: 5, biasInit: 'pytorch' });
    for (const shards of [1, 3]) {
      const file = writeManifest(path.join(tempDir('nin-init-'), 'm'), source, shards);
      const target = buildNin({ imageSize: 96, seed: 6 });
      loadInitialWeights(file, target);
      assert.deepEqual(weightsOf(target), weightsOf(source));
      target.dispose();
    }
    source.dispose();
  });

  test('a missing weight, a wrong shape or a short .bin: one-line error naming it, the model untouched', () => {
    const source = buildNin({ imageSize: IMAGE_SIZE, seed: 5 });
    const missing = writeManifest(path.join(tempDir('nin-init-'), 'm'), source, 1, (n) => n.replace('block4_conv3/bias', 'block4_conv3/b'));
    const transposed = writeManifest(path.join(tempDir('nin-init-'), 'm'), source);
    const json = JSON.parse(fs.readFileSync(transposed, 'utf8'));
    json.weightsManifest[0].weights[0].shape = [96, 1, 11, 11]; // PyTorch's layout, not permuted
    fs.writeFileSync(transposed, JSON.stringify(json));
    const short = writeManifest(path.join(tempDir('nin-init-'), 'm'), source);
    fs.truncateSync(path.join(path.dirname(short), 'init.bin'), 1000);
    const cases: [string, RegExp][] = [
      [missing, /has no weight block4_conv3\/bias/],
      [transposed, /block1_conv1\/kernel is 96x1x11x11, NiN's is 11x11x1x96 \(kernels are height x width x in x out\)/],
      [short, /hold 1000 bytes, the manifest says \d+: truncated or corrupt/],
    ];
    for (const [file, pattern] of cases) {
      const target = buildNin({ imageSize: IMAGE_SIZE, seed: 8 });
      const before = weightsOf(target);
      assert.throws(() => loadInitialWeights(file, target), (err: Error) => err instanceof NinError && !err.message.includes('\n') && pattern.test(err.message));
      assert.deepEqual(weightsOf(target), before, 'nothing half-loaded');
      target.dispose();
    }
    source.dispose();
  });

  test('a path that does not exist is a usage error', () => {
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 1 });
    assert.throws(() => loadInitialWeights(path.join(work, 'nope.json'), model), (err: Error) => err instanceof UsageError && /does not exist/.test(err.message));
    model.dispose();
  });
});
