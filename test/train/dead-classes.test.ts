// The dead-class guard: a class whose last-block channel is 0 on every test image, or that is never
// predicted, is named after the epoch (stderr, metrics.jsonl); a healthy model names none.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { TEST_BACKEND } from '../helpers/small-run';
import { batches, CLASS_NAMES, type Split } from '../../src/data/idx';
import { deadClasses, scoreSplit } from '../../src/report/eval';
import { isCollapsed } from '../../src/run/metrics';
import { formatChanceHint, formatDeadClasses } from '../../src/cli/format';
import { DeadClassGuard } from '../../src/train/train';
import { DEFAULT_CONFIG } from '../../src/config/config';
import { RECIPES } from '../../src/config/recipes';
import { buildNin, forward, NUM_CLASSES } from '../../src/model/nin';
import { lines, runNin } from '../helpers/cli';
import { fixtureSplit, removeTempDirs, tempDir } from '../helpers/idx';
import { writeWeightsManifest } from '../helpers/manifest';

after(removeTempDirs);

const BACKEND = TEST_BACKEND;
const SIZE = 67;
const BAG = 8;

/** Sets block4_conv3's kernel and bias for the classes in `biases` (kernel 0: the channel is its bias, after ReLU). */
function setLastChannels(model: tf.LayersModel, biases: Record<number, number>): void {
  const layer = model.getLayer('block4_conv3');
  const [kernel, bias] = layer.getWeights();
  const k = kernel.arraySync() as number[][][][];
  const b = bias.arraySync() as number[];
  for (const [c, value] of Object.entries(biases)) {
    for (const row of k) for (const col of row) for (const input of col) input[Number(c)] = 0;
    b[Number(c)] = value;
  }
  layer.setWeights([tf.tensor4d(k), tf.tensor1d(b)]);
}

describe('scoreSplit and deadClasses', () => {
  let model: tf.Sequential;
  let split: Split;

  before(async () => {
    await initBackend(BACKEND, null, () => {});
    model = buildNin({ imageSize: SIZE, seed: 0, biasInit: 'pytorch' });
    // A fresh NiN often starts with some last-block channels at 0 on every image; a kernel of 0 and a
    // bias of 1 makes those live, so every channel is positive somewhere.
    const fixture = { ...fixtureSplit(12), count: 12 };
    const start = (await scoreSplit(model, fixture, 6, SIZE))!;
    setLastChannels(model, Object.fromEntries(start.zeroLogitClasses.map((c) => [c, 1])));
    // Labelled with the model's own predictions: every class present is predicted.
    const [batch] = [...batches(fixture, { batchSize: 12, imageSize: SIZE, shuffle: false, seed: 0, epoch: 0 })];
    const predicted = tf.tidy(() => tf.argMax(forward(model, tf.tensor4d(batch.x, [12, SIZE, SIZE, 1]), false), 1).dataSync());
    split = { images: fixture.images, labels: Uint8Array.from(predicted), count: 12 };
  });

  after(() => model.dispose());

  test('a healthy model: no zero channel, every class present is predicted, nothing dead', async () => {
    const score = (await scoreSplit(model, split, 6, SIZE))!;
    assert.deepEqual(score.zeroLogitClasses, []);
    assert.equal(score.accuracy, 1, 'scored on its own predictions');
    assert.deepEqual(deadClasses(score), []);
  });

  test("Bag's channel at 0 for every image (kernel 0, bias -100): named as a zero channel", async () => {
    const dead = buildNin({ imageSize: SIZE, seed: 0 });
    dead.setWeights(model.getWeights());
    setLastChannels(dead, { [BAG]: -100 });
    const score = (await scoreSplit(dead, split, 6, SIZE))!;
    dead.dispose();
    assert.deepEqual(score.zeroLogitClasses, [BAG]);
    assert.deepEqual(deadClasses(score), [{ name: 'Bag', reason: 'zero-channel' }]);
  });

  test('a class with test examples but no prediction is named; a class absent from the split is not', async () => {
    const present = new Set(split.labels);
    const absent = Array.from({ length: NUM_CLASSES }, (_, c) => c).filter((c) => !present.has(c));
    assert.ok(absent.length > 0, 'the fixture leaves some class out');
    // Relabel the first image as a class the model never predicts.
    const relabelled = { ...split, labels: Uint8Array.from(split.labels, (l, i) => (i === 0 ? absent[0] : l)) };
    const score = (await scoreSplit(model, relabelled, 6, SIZE))!;
    // The first image's old class may now have no example left, but it is still predicted: never named.
    assert.deepEqual(deadClasses(score), [{ name: CLASS_NAMES[absent[0]], reason: 'never-predicted' }]);
  });

  test('the guard line names the classes by reason and what to try', () => {
    const line = formatDeadClasses(
      [
        { name: 'Bag', reason: 'zero-channel' },
        { name: 'Coat', reason: 'zero-channel' },
        { name: 'Shirt', reason: 'never-predicted' },
      ],
      3,
      DEFAULT_CONFIG,
    );
    assert.equal(lines(line).length, 1);
    assert.equal(
      line,
      'warning: dead classes after epoch 3: Bag, Coat (channel 0 on every test image), Shirt (never predicted); they can come back; if they stay, try a lower --lr (now 0.1), a warm-up (--warmup-epochs 1), another --seed or --recipe best',
    );
  });

  test('once per run: then only when the classes change; before 50 steps one short note', () => {
    const bag = [{ name: 'Bag', reason: 'zero-channel' as const }];
    const bagCoat = [...bag, { name: 'Coat', reason: 'never-predicted' as const }];
    const guard = new DeadClassGuard(DEFAULT_CONFIG);
    assert.equal(guard.line(bagCoat, 1, 2), 'note: Bag, Coat dead after 2 steps, as often at the start (judged from 50 steps on)');
    assert.equal(guard.line(bag, 2, 4), null, 'the note is said once');
    assert.match(
      guard.line(bag, 30, 60) ?? '',
      /^warning: dead classes after epoch 30: Bag \(channel 0 on every test image\); they can come back; if they stay, try /,
    );
    assert.equal(guard.line(bag, 31, 62), null);
    assert.equal(guard.line(bagCoat, 32, 64), 'warning: dead classes after epoch 32: Bag, Coat');
    assert.equal(guard.line([], 33, 66), null);
    const many = CLASS_NAMES.slice(0, 9).map((name) => ({ name, reason: 'never-predicted' as const }));
    assert.equal(
      new DeadClassGuard(DEFAULT_CONFIG).line(many, 1, 1),
      'note: 9 of 10 classes dead after 1 step, as often at the start (judged from 50 steps on)',
    );
  });

  test('a collapse (nine or ten classes dead) gets its own line, once, that says to start again', () => {
    const nine = CLASS_NAMES.slice(0, 9).map((name) => ({ name, reason: 'never-predicted' as const }));
    const ten = [...nine, { name: CLASS_NAMES[9], reason: 'zero-channel' as const }];
    const guard = new DeadClassGuard(DEFAULT_CONFIG);
    assert.match(guard.line(nine.slice(0, 2), 1, 60) ?? '', /^warning: dead classes after epoch 1: /);
    assert.equal(
      guard.line(nine, 2, 120),
      'warning: the run collapsed in epoch 2: 9 of 10 classes are dead, so every test image gets the same class (a 10-channel ReLU layer of the last block is 0 on every image; README, "Dead classes"); collapsed runs have not come back: stop it (Ctrl-C) and start again with another --seed, a lower --lr (now 0.1) or a wider last block (--bottleneck 64)',
    );
    assert.equal(guard.line(ten, 3, 180), null, 'said once');
    assert.equal(guard.line(nine, 4, 240), null);
    // A run that already has a bottleneck is not told to add one; eight dead is not a collapse.
    assert.match(
      new DeadClassGuard({ ...DEFAULT_CONFIG, bottleneck: 64 }).line(ten, 1, 60) ?? '',
      /start again with another --seed or a lower --lr \(now 0.1\)$/,
    );
    assert.match(new DeadClassGuard(DEFAULT_CONFIG).line(nine.slice(1), 1, 60) ?? '', /^warning: dead classes after epoch 1: /);
    assert.equal(isCollapsed(undefined, 60), false);
    assert.equal(
      isCollapsed(
        nine.map((d) => d.name),
        50,
      ),
      true,
    );
    assert.equal(
      isCollapsed(
        nine.map((d) => d.name),
        49,
      ),
      false,
      'where every network starts: not judged',
    );
  });

  test('what to try leaves out what the run already does, and says when it is still warming up', () => {
    // best's initialisation with a 2-epoch warm-up to 0.03 (the values need not be best's own).
    const best = { ...DEFAULT_CONFIG, ...RECIPES.best.values, learningRate: 0.03, warmupEpochs: 2 };
    const dead = [{ name: 'Bag', reason: 'zero-channel' as const }];
    assert.match(
      formatDeadClasses(dead, 1, best),
      /if they stay, the learning rate is still warming up \(to 0.03 by the end of epoch 2\); if it lasts, try a lower --lr \(now 0.03\) or another --seed$/,
    );
    assert.match(formatDeadClasses(dead, 2, best), /if they stay, try a lower --lr \(now 0.03\) or another --seed$/);
    // One epoch of best: its 2-epoch warm-up is cut to the run (schedule.ts), so it has ended after epoch 1.
    assert.match(formatDeadClasses(dead, 1, { ...best, epochs: 1 }), /if they stay, try a lower --lr \(now 0.03\) or another --seed$/);
    assert.equal(
      formatChanceHint(2.3012, 1, DEFAULT_CONFIG),
      'hint: the loss stayed at chance level (2.301 ~ ln 10) in epoch 1; try a lower --lr (now 0.1), a warm-up (--warmup-epochs 1), another --seed or --recipe best',
    );
  });
});

describe('nin train with the guard', () => {
  /**
   * A run of one step at a vanishing lr from weights whose last block is a constant per class (kernel 0):
   * every logit is its class's bias after ReLU. Ankle boot (the first test image's class) highest, so it
   * is predicted; `bagBias` -100 kills Bag's channel.
   */
  async function runFrom(bagBias: number) {
    await initBackend(BACKEND, null, () => {});
    const model = buildNin({ imageSize: SIZE, seed: 0, biasInit: 'pytorch' });
    setLastChannels(model, Object.fromEntries(Array.from({ length: NUM_CLASSES }, (_, c) => [c, c === 9 ? 2 : c === BAG ? bagBias : 1])));
    const dir = tempDir('h17-guard-');
    const init = writeWeightsManifest(
      path.join(dir, 'init'),
      model.weights.map((w, k) => ({
        name: (w as unknown as { originalName: string }).originalName,
        shape: w.shape as number[],
        values: model.getWeights()[k].dataSync() as Float32Array,
      })),
    );
    model.dispose();
    const r = await runNin(
      [
        'train',
        '--backend',
        BACKEND,
        '--threads',
        '1',
        '--image-size',
        String(SIZE),
        '--epochs',
        '1',
        '--train-limit',
        '8',
        '--batch-size',
        '8',
        '--test-limit',
        '1',
        '--lr',
        '1e-30',
        '--init-weights',
        init,
        '--out',
        dir,
        '--run',
        'r',
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const row = JSON.parse(lines(fs.readFileSync(path.join(dir, 'r', 'metrics.jsonl'), 'utf8'))[0]);
    const csv = lines(fs.readFileSync(path.join(dir, 'r', 'metrics.csv'), 'utf8'));
    return { r, row, csv };
  }

  test("a dead Bag channel: the epoch's metrics.jsonl row and one short stderr note name Bag (one step is too early to judge); the run goes on", async () => {
    const { r, row, csv } = await runFrom(-100);
    assert.deepEqual(row.deadClasses, ['Bag']);
    assert.doesNotMatch(r.stderr, /^warning: dead classes/m);
    const notes = lines(r.stderr).filter((l) => /^note: .* dead after/.test(l));
    assert.deepEqual(notes, ['note: Bag dead after 1 step, as often at the start (judged from 50 steps on)'], r.stderr);
    assert.match(r.stdout, /^epoch 1\/1: /m);
    assert.equal(csv[0], 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds', "metrics.csv's columns are unchanged");
  });

  test('a healthy model: no deadClasses in the row, no warning', async () => {
    const { r, row } = await runFrom(1);
    assert.equal(row.testAcc, 1);
    assert.equal(row.deadClasses, undefined);
    assert.doesNotMatch(r.stderr, /dead classes/);
  });
});
