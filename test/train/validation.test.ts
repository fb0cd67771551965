// --val-split and --early-stop: the held-out split is stratified, disjoint, seeded and exact; a run
// with it logs val columns and chooses best/ on valAcc; --early-stop ends a run early with one line.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitValidation, type Split } from '../../src/data/idx';
import { lines, runNin, type CliResult } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { flagValue, SMALL_RUN_TIMEOUT, smallRunFlags, TEST_BACKEND } from '../helpers/small-run';

after(removeTempDirs);

const BACKEND = TEST_BACKEND;
const TINY = smallRunFlags(8); // 8 on cpu, so that a quarter can be held out
const VAL = BACKEND === 'onednn' ? 16 : 4; // --val-split: a quarter of --train-limit
const TIMEOUT = SMALL_RUN_TIMEOUT;

function assertOk(r: CliResult): void {
  assert.equal(r.code, 0, `exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** `count` examples with uneven classes (class c has about c+1 shares); image i's bytes all hold i % 256. */
function unevenSplit(count: number): Split {
  const labels = new Uint8Array(count);
  const weights = Array.from({ length: 10 }, (_, c) => c + 1);
  const total = weights.reduce((a, b) => a + b, 0);
  let i = 0;
  for (let c = 0; c < 10; c++) for (let k = 0; k < Math.round((count * weights[c]) / total) && i < count; k++) labels[i++] = c;
  while (i < count) labels[i++] = 9;
  // Interleave the classes, as a real file does.
  const order = Array.from(labels.keys()).sort((a, b) => ((a * 7919) % count) - ((b * 7919) % count));
  const shuffled = Uint8Array.from(order, (j) => labels[j]);
  const images = new Uint8Array(count * 784);
  for (let j = 0; j < count; j++) images.fill(j % 256, j * 784, (j + 1) * 784);
  return { images, labels: shuffled, count };
}

function classCounts(labels: Uint8Array): number[] {
  const counts = new Array(10).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

describe('splitValidation', () => {
  const split = unevenSplit(997);

  test('exact size, stratified: each class within one of its share', () => {
    for (const n of [1, 10, 37, 500, 996]) {
      const { train, validation } = splitValidation(split, n, 0);
      assert.equal(validation.count, n);
      assert.equal(train.count, split.count - n);
      assert.equal(validation.labels.length, n);
      assert.equal(validation.images.length, n * 784);
      const all = classCounts(split.labels);
      const held = classCounts(validation.labels);
      held.forEach((h, c) => assert.ok(Math.abs(h - (n * all[c]) / split.count) < 1, `n=${n} class ${c}: ${h} of ${all[c]}`));
      classCounts(train.labels).forEach((t, c) => assert.equal(t + held[c], all[c]));
    }
  });

  test('disjoint, covering, in order, images moved with their labels', () => {
    const { train, validation } = splitValidation(split, 100, 3);
    // Image i's bytes hold i % 256 and count < 1024 keeps them in order: recover the indices.
    const indices = (s: Split) => Array.from({ length: s.count }, (_, j) => s.images[j * 784]);
    const ids = (s: Split) => {
      const raw = indices(s);
      let wrap = 0;
      return raw.map((v, j) => {
        if (j > 0 && v < raw[j - 1]) wrap += 256;
        return v + wrap;
      });
    };
    const t = ids(train);
    const v = ids(validation);
    for (const list of [t, v]) list.forEach((x, j) => j === 0 || assert.ok(x > list[j - 1], 'kept in order'));
    assert.deepEqual(
      [...t, ...v].sort((a, b) => a - b),
      Array.from({ length: split.count }, (_, j) => j),
    );
    v.forEach((x, j) => assert.equal(validation.labels[j], split.labels[x]));
    t.forEach((x, j) => assert.equal(train.labels[j], split.labels[x]));
  });

  test('seeded: the same seed holds out the same examples, another seed others', () => {
    const a = splitValidation(split, 100, 7).validation;
    const b = splitValidation(split, 100, 7).validation;
    const c = splitValidation(split, 100, 8).validation;
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images);
  });

  test('refuses 0 or all of the examples', () => {
    assert.throws(() => splitValidation(split, 0, 0), /--val-split 0/);
    assert.throws(() => splitValidation(split, split.count, 0), /fewer than the 997 training examples/);
  });
});

describe('nin train --val-split', () => {
  let out: string;
  let run: CliResult;

  before(async () => {
    out = tempDir('hv-val-');
    run = await runNin(['train', ...TINY, '--epochs', '3', '--val-split', String(VAL), '--out', out, '--run', 'run'], {
      timeoutMs: TIMEOUT,
    });
  });

  test('the epoch line, metrics.jsonl and metrics.csv carry val acc; the banner counts the split', () => {
    assertOk(run);
    const trainLimit = Number(flagValue(TINY, '--train-limit'));
    assert.match(run.stderr, new RegExp(`\\(${trainLimit - VAL} train, ${VAL} validation, `));
    const epochs = lines(run.stdout).filter((l) => l.startsWith('epoch '));
    assert.equal(epochs.length, 3);
    assert.match(
      epochs[0],
      /^epoch 1\/3: loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}, val acc \d\.\d{3}, \d+\.\d examples\/sec$/,
    );
    const runDir = path.join(out, 'run');
    const metrics = lines(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')).map((l) => JSON.parse(l));
    for (const m of metrics) {
      assert.ok(m.valAcc >= 0 && m.valAcc <= 1 && Number.isInteger(Math.round(m.valAcc * VAL * 1e6) / 1e6), JSON.stringify(m));
      assert.ok(m.valLoss > 0);
    }
    const csv = lines(fs.readFileSync(path.join(runDir, 'metrics.csv'), 'utf8'));
    assert.equal(csv[0], 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds,valLoss,valAcc');
    csv.slice(1).forEach((row, i) => {
      const cells = row.split(',').map(Number);
      assert.deepEqual(cells.slice(-2), [metrics[i].valLoss, metrics[i].valAcc]);
    });
    assert.match(fs.readFileSync(path.join(runDir, 'curves.svg'), 'utf8'), /data-metric="valAcc"/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).valSplit, VAL);
  });

  test('best/ is the first epoch with the highest valAcc, and its meta says bestBy valAcc', () => {
    const runDir = path.join(out, 'run');
    const metrics = lines(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')).map((l) => JSON.parse(l));
    const byVal = metrics.reduce((b, m) => (m.valAcc > b.valAcc ? m : b));
    const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'best', 'meta.json'), 'utf8'));
    assert.equal(meta.bestBy, 'valAcc');
    assert.equal(meta.epoch, byVal.epoch);
  });

  test('--resume refuses --val-split and --early-stop (exit 2)', async () => {
    for (const flag of [
      ['--val-split', '8'],
      ['--early-stop', '2'],
    ]) {
      const r = await runNin(['train', '--resume', path.join(out, 'run'), ...flag], { timeoutMs: TIMEOUT });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${flag[0]} cannot change`));
    }
  });

  test('--val-split out of range, or not below the training examples, is one error line and exit 2, leaving no run', async () => {
    const empty = tempDir('hv-val-refused-');
    const trainLimit = flagValue(TINY, '--train-limit');
    for (const n of ['60000', trainLimit]) {
      const r = await runNin(['train', ...TINY, '--val-split', n, '--out', empty], { timeoutMs: TIMEOUT });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(lines(r.stderr).filter((l) => l.startsWith('nin: ') || l.startsWith('error: ')).length, 1, r.stderr);
      assert.match(r.stderr, /--val-split/);
    }
    assert.deepEqual(fs.readdirSync(empty), []);
  });

  test('a resumed run holds out the same examples: --resume --epochs 3 after 2 epochs logs what the 3-epoch run did', async () => {
    const args = ['train', ...TINY, '--val-split', String(VAL), '--out', out];
    assertOk(await runNin([...args, '--epochs', '2', '--run', 'short'], { timeoutMs: TIMEOUT }));
    assertOk(await runNin(['train', '--resume', path.join(out, 'short'), '--epochs', '3', '--backend', BACKEND], { timeoutMs: TIMEOUT }));
    const read = (name: string) =>
      lines(fs.readFileSync(path.join(out, name, 'metrics.jsonl'), 'utf8')).map((l) => {
        const { loss, trainAcc, testAcc, valLoss, valAcc } = JSON.parse(l);
        return { loss, trainAcc, testAcc, valLoss, valAcc };
      });
    assert.deepEqual(read('short'), read('run'));
  });
});

describe('nin train --early-stop', () => {
  test('without a better accuracy for PATIENCE epochs the run ends early, exit 0, with one stderr line', async () => {
    const out = tempDir('hv-early-');
    // A learning rate this small leaves every prediction as it was: test acc never improves after epoch 1.
    const r = await runNin(['train', ...TINY, '--lr', '1e-9', '--epochs', '5', '--early-stop', '1', '--out', out, '--run', 'run'], {
      timeoutMs: TIMEOUT,
    });
    assertOk(r);
    assert.equal(lines(r.stdout).filter((l) => l.startsWith('epoch ')).length, 2);
    const stops = lines(r.stderr).filter((l) => l.startsWith('early stop: '));
    assert.equal(stops.length, 1, r.stderr);
    assert.match(stops[0], /testAcc has not improved on \d\.\d{3} for 1 epoch \(--early-stop 1\); ending before epoch 3 of 5/);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'run', 'best', 'meta.json'), 'utf8'));
    assert.equal(meta.bestBy, 'testAcc');
    assert.equal(meta.epoch, 1);
  });
});
