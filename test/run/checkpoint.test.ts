// Checkpoints: a saved and loaded model predicts identically; a crash at any point of the swap
// leaves a loadable checkpoint; every kind of damaged checkpoint makes `nin eval` print one line, exit 1.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { type CheckpointMeta, FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { loadInitialWeights } from '../../src/run/checkpoint/weights-manifest';
import { recoverCheckpoint, saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { NinError, UsageError } from '../../src/sys/errors';
import { buildNin, forward } from '../../src/model/nin';
import { NIN_VERSION } from '../../src/sys/version';
import { assertOneLineError, runNin } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { writeWeightsManifest } from '../helpers/manifest';
import * as configCheckModule from '../../src/config/check';

const IMAGE_SIZE = 67;

function metaFor(epoch: number): CheckpointMeta {
  return {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    // momentum: the optimizer whose state the checkpoint below is saved with (load checks they agree).
    config: resolveConfig({ imageSize: IMAGE_SIZE, batchSize: 4, trainLimit: 4, testLimit: 4, optimizer: 'momentum' }),
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
    assert.deepEqual(
      fs.readdirSync(work).filter((f) => f.startsWith('.')),
      [],
      'no temporary or .old directory is left behind',
    );
  });

  test('optimizer state round-trips (momentum slots and iterations)', async () => {
    const loaded = await loadCheckpoint(saved);
    try {
      assert.ok(loaded.optimizerWeights && loaded.optimizerWeights.length > 1);
      const optimizer = tf.train.momentum(0.1, 0.9);
      await optimizer.setWeights(loaded.optimizerWeights);
      const again = await optimizer.getWeights();
      assert.deepEqual(
        again.map((w) => w.name),
        loaded.optimizerWeights.map((w) => w.name),
      );
      for (let i = 0; i < again.length; i++)
        assert.deepEqual(Array.from(again[i].tensor.dataSync()), Array.from(loaded.optimizerWeights[i].tensor.dataSync()));
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
    await assert.rejects(
      loadCheckpoint(dir),
      (err: unknown) => err instanceof NinError && err.exitCode === 1 && /newer nin/.test(err.message) && /upgrade/.test(err.message),
    );
  });
});

describe('nin eval of a damaged checkpoint: one line, exit 1, nothing changed', { concurrency: 3 }, () => {
  type Damage = (dir: string) => void;
  const cases: [string, Damage, RegExp[]][] = [
    ['a missing directory', (dir) => fs.rmSync(dir, { recursive: true }), [/does not exist/, /checkpoint directory/]],
    ['a directory without model.json', (dir) => fs.rmSync(path.join(dir, 'model.json')), [/no model\.json/, /nin train/]],
    [
      'an empty directory',
      (dir) => fs.rmSync(dir, { recursive: true }) === undefined && (fs.mkdirSync(dir) as unknown as void),
      [/no model\.json/],
    ],
    ['a file instead of a directory', (dir) => (fs.rmSync(dir, { recursive: true }), fs.writeFileSync(dir, 'x')), [/not a directory/]],
    [
      'a truncated weights.bin',
      (dir) => fs.truncateSync(path.join(dir, 'weights.bin'), 4_000_000),
      [/weights\.bin has 4000000 bytes/, /truncated/, /another checkpoint/],
    ],
    ['an empty weights.bin', (dir) => fs.truncateSync(path.join(dir, 'weights.bin'), 0), [/weights\.bin has 0 bytes/]],
    ['a missing weights.bin', (dir) => fs.rmSync(path.join(dir, 'weights.bin')), [/weights\.bin is missing/]],
    [
      'a model.json that is not JSON',
      (dir) => fs.writeFileSync(path.join(dir, 'model.json'), '{"format": "layers-mo'),
      [/model\.json is not valid JSON/, /another checkpoint/],
    ],
    [
      'a model.json that is JSON but not a model',
      (dir) => fs.writeFileSync(path.join(dir, 'model.json'), '{"hello": 1}'),
      [/not a TF\.js LayersModel/],
    ],
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
    const other = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1] }), tf.layers.dense({ units: 10 })],
    });
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
    return writeWeightsManifest(
      dir,
      model.weights.map((w, k) => ({
        name: rename((w as unknown as { originalName: string }).originalName),
        shape: w.shape as number[],
        values: values[k],
      })),
      shards,
    );
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
      assert.throws(
        () => loadInitialWeights(file, target),
        (err: Error) => err instanceof NinError && !err.message.includes('\n') && pattern.test(err.message),
      );
      assert.deepEqual(weightsOf(target), before, 'nothing half-loaded');
      target.dispose();
    }
    source.dispose();
  });

  test('a path that does not exist is a usage error', () => {
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 1 });
    assert.throws(
      () => loadInitialWeights(path.join(work, 'nope.json'), model),
      (err: Error) => err instanceof UsageError && /does not exist/.test(err.message),
    );
    model.dispose();
  });
});

describe('everything a checkpoint holds is checked at load, as strictly as the CLI checks flags', () => {
  // Imported here so the tests above keep their own imports.
  const check = () => configCheckModule;

  /** A copy of the good checkpoint with meta.json changed by `edit`. */
  function withMeta(edit: (meta: Record<string, unknown>) => unknown): string {
    const dir = copyDir(saved, path.join(tempDir('nin-meta-'), 'ckpt'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(edit(meta) ?? meta));
    return dir;
  }

  async function refused(dir: string, ...patterns: RegExp[]): Promise<void> {
    await assert.rejects(loadCheckpoint(dir), (err: unknown) => {
      assert.ok(err instanceof NinError && err.exitCode === 1, String(err));
      assert.ok(!err.message.includes('\n'), err.message);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    });
  }

  /** float32 NaN (or another value) at a byte offset of a copy of the checkpoint's `file`. */
  function poisoned(file: string, offset: number, value = NaN): string {
    const dir = copyDir(saved, path.join(tempDir('nin-nan-'), 'ckpt'));
    const bytes = fs.readFileSync(path.join(dir, file));
    bytes.writeFloatLE(value, offset);
    fs.writeFileSync(path.join(dir, file), bytes);
    return dir;
  }

  test('NaN or infinity in weights.bin is refused with one line naming the weight', async () => {
    await refused(
      poisoned('weights.bin', 0),
      /weights\.bin holds 1 NaN or infinite value \(first in block1_conv1\/kernel\): its run diverged or the file is damaged; use another checkpoint/,
    );
    await refused(poisoned('weights.bin', 4 * 100_000, -Infinity), /holds 1 NaN or infinite value/);
  });

  test('NaN in the optimizer state is refused; so is a step count that disagrees with meta.json', async () => {
    await refused(poisoned('optimizer.bin', 8), /optimizer\.bin holds 1 NaN or infinite value/, /resume from another checkpoint/);
    const dir = copyDir(saved, path.join(tempDir('nin-iter-'), 'ckpt'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, optimizer: { name: 'momentum', iterations: 7 } }));
    await refused(dir, /optimizer\.bin: iter is 1; it must be meta\.json's optimizer\.iterations, 7/);
  });

  test('--init-weights from a checkpoint or a manifest holding NaN loads nothing', () => {
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 8 });
    const before = model.getWeights().map((t) => Array.from(t.dataSync()));
    assert.throws(
      () => loadInitialWeights(poisoned('weights.bin', 40), model),
      (e: unknown) =>
        e instanceof NinError && /weights\.bin holds 1 NaN or infinite value \(first in block1_conv1\/kernel\)/.test(e.message),
    );
    const dir = path.join(tempDir('nin-init-nan-'), 'm');
    const file = writeWeightsManifest(
      dir,
      model.weights.map((w, k) => ({
        name: (w as unknown as { originalName: string }).originalName,
        shape: w.shape as number[],
        values: Float32Array.from(before[k], (v, i) => (k === 3 && i === 2 ? Infinity : v)),
      })),
    );
    assert.throws(
      () => loadInitialWeights(file, model),
      (e: unknown) => e instanceof NinError && /init\.bin holds 1 NaN or infinite value \(first in block1_conv2\/bias\)/.test(e.message),
    );
    assert.deepEqual(
      model.getWeights().map((t) => Array.from(t.dataSync())),
      before,
      'nothing half-loaded',
    );
    model.dispose();
  });

  test("meta.json's config is checked key by key with the CLI's ranges", async () => {
    await refused(
      withMeta((m) => void ((m.config as Record<string, unknown>).learningRate = 'abc')),
      /meta\.json \(config\): learningRate is "abc"; it must be a number above 0 and at most 10000 \(as --lr\); use another checkpoint/,
    );
    await refused(
      withMeta((m) => void ((m.config as Record<string, unknown>).batchSize = 0)),
      /batchSize is 0; it must be a whole number from 1 to 4096 \(as --batch-size\)/,
    );
    await refused(
      withMeta((m) => void ((m.config as Record<string, unknown>).optimizer = 'rmsprop')),
      /optimizer is "rmsprop"; it must be one of "sgd", "momentum", "adam" \(as --optimizer\)/,
    );
    await refused(
      withMeta((m) => void ((m.config as Record<string, unknown>).lr = 0.1)),
      /"lr" is not a nin config key/,
    );
    await refused(
      withMeta((m) => void delete (m.config as Record<string, unknown>).seed),
      /seed is missing; it must be a whole number from 0 to 4294967295 \(as --seed\)/,
    );
  });

  test("meta.json's own fields: epoch, metrics, history, a cut-short epoch, the optimizer's name", async () => {
    const metrics = { epoch: 1, loss: 2.3, trainAcc: 0.1, testAcc: 0.1, examplesPerSec: 5, seconds: 1 };
    await refused(
      withMeta((m) => ({ ...m, epoch: -1 })),
      /meta\.json: epoch is -1; it must be a whole number from 0 to 10000/,
    );
    await refused(
      withMeta((m) => ({ ...m, epoch: 1, metrics: { ...metrics, testAcc: 1.5 } })),
      /metrics\.testAcc is 1\.5; it must be a number from 0 to 1/,
    );
    await refused(
      withMeta((m) => ({ ...m, epoch: 2, metrics: { ...metrics, epoch: 2 }, history: [metrics] })),
      /history is "1 rows"; it must be one row per completed epoch \(2\)/,
    );
    await refused(
      withMeta((m) => ({ ...m, partial: { batches: 1, lossSum: 1, correct: 9, examples: 4, trainSeconds: 1 } })),
      /partial\.correct is 9; it must be a whole number from 0 to 4/,
    );
    await refused(
      withMeta((m) => ({ ...m, optimizer: { name: 'adam', iterations: 1 } })),
      /optimizer\.name is "adam"; it must be one of "momentum"/,
    );
    await refused(
      withMeta((m) => ({ ...m, config: { ...(m.config as object), imageSize: 96 } })),
      /meta\.json: config\.imageSize is 96; it must be its imageSize, 67/,
    );
  });

  test('model.json: a topology with other layers is refused before TF.js builds it (no huge allocation)', async () => {
    const dir = copyDir(saved, path.join(tempDir('nin-topo-'), 'ckpt'));
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.modelTopology.config.layers[1].config.filters = 2e9;
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const rss = process.memoryUsage().rss;
    await refused(dir, /another architecture than d2l's NiN at 67px \(block1_conv2's filters is 2000000000, NiN's is 96\)/);
    assert.ok(process.memoryUsage().rss - rss < 100e6);
    json.modelTopology.config.layers[1].config.filters = 96;
    json.weightsManifest[0].weights[0].dtype = 'int32';
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await refused(dir, /model\.json: weightsManifest\[0\]\.weights\[0\]\.dtype is "int32"; it must be one of "float32"/);
  });

  test('sizes are checked before reading: a 5 GB weights.bin (sparse) or meta.json, a directory, a FIFO or a link in their place', async () => {
    const big = copyDir(saved, path.join(tempDir('nin-big-'), 'ckpt'));
    fs.truncateSync(path.join(big, 'weights.bin'), 5e9);
    await refused(big, /weights\.bin has 5000000000 bytes, its manifest says \d+: the file is truncated or corrupt/);
    const bigMeta = copyDir(saved, path.join(tempDir('nin-big-'), 'ckpt'));
    fs.truncateSync(path.join(bigMeta, 'meta.json'), 5e9);
    await refused(bigMeta, /meta\.json is 5000\.0 MB, more than the 16\.0 MB nin reads for a JSON file/);
    const folder = copyDir(saved, path.join(tempDir('nin-dir-'), 'ckpt'));
    fs.rmSync(path.join(folder, 'meta.json'));
    fs.mkdirSync(path.join(folder, 'meta.json'));
    await refused(folder, /meta\.json is a directory, not a JSON file/);
    const fifo = copyDir(saved, path.join(tempDir('nin-fifo-'), 'ckpt'));
    fs.rmSync(path.join(fifo, 'weights.bin'));
    execFileSync('mkfifo', [path.join(fifo, 'weights.bin')]);
    await refused(fifo, /weights\.bin is not a regular file/);
    // nin train writes no links into a checkpoint: one (here to a device) is refused, not followed.
    const device = copyDir(saved, path.join(tempDir('nin-dev-'), 'ckpt'));
    fs.rmSync(path.join(device, 'weights.bin'));
    fs.symlinkSync('/dev/zero', path.join(device, 'weights.bin'));
    await refused(device, /weights\.bin is a symbolic link; nin follows no link inside a run or checkpoint/);
  });

  test('validateConfig: a config as the CLI resolves it passes; keys added later get what runs before them did; the rest is refused naming file, key and range', () => {
    const { validateConfig } = check();
    const config = resolveConfig({ learningRate: 0.05, imageSize: 96, trainLimit: 100, threads: 2 });
    assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(config)), 'c.json'), config);
    const old = { ...config } as Record<string, unknown>;
    for (const key of ['nesterov', 'schedule', 'warmupEpochs', 'augment', 'labelSmoothing', 'biasInit', 'kernelInit', 'initWeights'])
      delete old[key];
    assert.deepEqual(validateConfig(old, 'c.json'), {
      ...config,
      nesterov: false,
      schedule: 'constant',
      warmupEpochs: 0,
      augment: false,
      labelSmoothing: 0,
      biasInit: 'zeros',
      kernelInit: 'xavier',
      classBias: null,
      initWeights: null,
    });
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { learningRate: 'abc' },
        /^run\/config\.json: learningRate is "abc"; it must be a number above 0 and at most 10000 \(as --lr\); restore the file from a copy, or start a new run$/,
      ],
      [{ learningRate: 0 }, /learningRate is 0; it must be a number above 0/],
      [{ epochs: 1.5 }, /epochs is 1\.5; it must be a whole number from 1 to 10000 \(as --epochs\)/],
      [{ imageSize: 66 }, /imageSize is 66; it must be a whole number from 67 to 1024/],
      [{ momentum: 1 }, /momentum is 1; it must be a number from 0 to 0\.999999/],
      [{ nesterov: 'yes' }, /nesterov is "yes"; it must be true or false/],
      [{ trainLimit: 0 }, /trainLimit is 0; it must be a whole number from 1 to 60000 or null/],
      [{ threads: null, backend: 'gpu' }, /backend is "gpu"; it must be one of "auto", /],
      [{ dataDir: '' }, /dataDir is ""; it must be a path or null/],
      [{ seed: -1 }, /seed is -1/],
    ];
    for (const [change, pattern] of bad) {
      assert.throws(
        () => validateConfig({ ...config, ...change }, 'run/config.json'),
        (e: unknown) => e instanceof NinError && e.exitCode === 1 && pattern.test(e.message),
        JSON.stringify(change),
      );
    }
    for (const value of [null, [], 'x', 3])
      assert.throws(() => validateConfig(value, 'c.json'), /c\.json holds .*, not a nin config object/);
  });
});

describe('nin eval on a NaN checkpoint: one line, exit 1', () => {
  test('eval', async () => {
    const dir = copyDir(saved, path.join(tempDir('nin-nan-cli-'), 'ckpt'));
    const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
    new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).fill(NaN);
    fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
    const r = await runNin(['eval', dir, '--backend', 'cpu', '--test-limit', '4'], { timeoutMs: 60_000 });
    assertOneLineError(
      r,
      1,
      /weights\.bin holds \d+ NaN or infinite values \(first in block1_conv1\/kernel\): its run diverged or the file is damaged/,
    );
  });
});
