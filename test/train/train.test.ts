// Training end to end: a real train -> eval round trip through the CLI, resume equal to an
// uninterrupted run, a stable tensor count, divergence, and refusals that leave everything as it was.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FILE_NAMES, IMAGES_MAGIC, LABELS_MAGIC } from '../../src/data/idx';
import type { EpochMetrics } from '../../src/run/metrics';
import { resolveConfig, type TrainConfig } from '../../src/config/config';
import { train } from '../../src/train/train';
import { assertOneLineError, lines, runNin, startNin, type CliResult } from '../helpers/cli';
import { idxBytes, fixtureSplit, removeTempDirs, tempDir } from '../helpers/idx';
import { flagValue, SMALL_RUN_TIMEOUT, smallRunFlags, TEST_BACKEND } from '../helpers/small-run';
import { assertOk, loggedNumbers, resumeTrain } from '../helpers/resume';

after(removeTempDirs);

const BACKEND = TEST_BACKEND;
const SMALL = smallRunFlags();
const DIVERGE = [
  '--backend',
  BACKEND,
  '--image-size',
  '67',
  '--train-limit',
  BACKEND === 'onednn' ? '32' : '4',
  '--test-limit',
  '16',
  '--batch-size',
  BACKEND === 'onednn' ? '8' : '4',
];
const TRAIN_TIMEOUT = SMALL_RUN_TIMEOUT;

interface Metrics {
  epoch: number;
  loss: number;
  trainAcc: number;
  testAcc: number;
}

export function readMetrics(runDir: string): Metrics[] {
  return lines(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')).map((l) => JSON.parse(l));
}

/** A training failure: banner lines first, then exactly one `nin: ` line naming the problem, no stack. */
function assertTrainError(r: CliResult, code: number, ...patterns: RegExp[]): void {
  const context = `exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, code, context);
  const errors = lines(r.stderr).filter((l) => l.startsWith('nin: '));
  assert.equal(errors.length, 1, `one error line expected\n${context}`);
  assert.equal(lines(r.stderr).at(-1), errors[0], `the error comes last\n${context}`);
  assert.ok(!r.stderr.includes('    at '), `stack trace\n${context}`);
  for (const p of patterns) assert.match(errors[0], p, context);
}

describe('train -> eval round trip through the CLI', () => {
  let out: string;
  let runDir: string;
  let train: CliResult;

  before(async () => {
    out = tempDir('nin-train-');
    runDir = path.join(out, 'run');
    train = await runNin(['train', ...SMALL, '--epochs', '2', '--out', out, '--run', 'run'], { timeoutMs: TRAIN_TIMEOUT });
  });

  test("exits 0, one line per epoch in d2l's words on stdout, the run dir holds config, logs, last/ and best/", () => {
    assertOk(train);
    const out = lines(train.stdout);
    assert.match(out[0], /^epoch 1\/2: loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}, \d+\.\d examples\/sec$/);
    assert.match(out[1], /^epoch 2\/2: /);
    assert.match(train.stderr, /^config: .*imageSize=67/m);
    for (const f of ['config.json', 'metrics.jsonl', 'metrics.csv', 'last', 'best']) assert.ok(fs.existsSync(path.join(runDir, f)), f);
    for (const dir of ['last', 'best']) {
      for (const f of ['model.json', 'weights.bin', 'meta.json']) assert.ok(fs.existsSync(path.join(runDir, dir, f)), `${dir}/${f}`);
    }
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).imageSize, 67);
    assert.deepEqual(
      fs.readdirSync(runDir).filter((f) => f.startsWith('.') || f.includes('.tmp-')),
      [],
      'no temporary files left',
    );
  });

  test('metrics.jsonl and metrics.csv hold epochs 1 and 2 with the same numbers', () => {
    const metrics = readMetrics(runDir);
    assert.deepEqual(
      metrics.map((m) => m.epoch),
      [1, 2],
    );
    const csv = lines(fs.readFileSync(path.join(runDir, 'metrics.csv'), 'utf8'));
    assert.equal(csv[0], 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds');
    csv.slice(1).forEach((row, i) => {
      const [epoch, loss, trainAcc, testAcc] = row.split(',').map(Number);
      assert.deepEqual(
        { epoch, loss, trainAcc, testAcc },
        { epoch: metrics[i].epoch, loss: metrics[i].loss, trainAcc: metrics[i].trainAcc, testAcc: metrics[i].testAcc },
      );
    });
  });

  test("nin eval <run> --json reproduces the best epoch's logged testAcc exactly; eval of last/ the last epoch's", async () => {
    const metrics = readMetrics(runDir);
    const bestEpoch = metrics.reduce((b, m) => (m.testAcc > b.testAcc ? m : b));
    const testLimit = flagValue(SMALL, '--test-limit');
    const best = await runNin(['eval', runDir, '--json', '--backend', BACKEND, '--test-limit', testLimit], { timeoutMs: TRAIN_TIMEOUT });
    assertOk(best);
    const result = JSON.parse(best.stdout);
    assert.equal(result.checkpoint, path.join(runDir, 'best'));
    assert.equal(result.epoch, bestEpoch.epoch);
    assert.equal(result.examples, Number(testLimit));
    assert.equal(result.accuracy, bestEpoch.testAcc);
    assert.equal(
      result.confusion.flat().reduce((a: number, b: number) => a + b, 0),
      Number(testLimit),
    );

    const last = await runNin(['eval', path.join(runDir, 'last'), '--json', '--backend', BACKEND, '--test-limit', testLimit], {
      timeoutMs: TRAIN_TIMEOUT,
    });
    assertOk(last);
    assert.equal(JSON.parse(last.stdout).epoch, 2);
    assert.equal(JSON.parse(last.stdout).accuracy, metrics[1].testAcc);
  });

  test('--init-weights <run>/last starts a new run from those weights (with a vanishing lr it predicts what they did)', async () => {
    const r = await runNin(
      ['train', ...SMALL, '--epochs', '1', '--lr', '1e-30', '--init-weights', path.join(runDir, 'last'), '--out', out, '--run', 'warm'],
      { timeoutMs: TRAIN_TIMEOUT },
    );
    assertOk(r);
    assert.match(r.stderr, /^initial weights: .*last$/m);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'warm', 'config.json'), 'utf8')).initWeights, path.join(runDir, 'last'));
    assert.equal(readMetrics(path.join(out, 'warm'))[0].testAcc, readMetrics(runDir)[1].testAcc);
  });

  test('a second train with the same --run is refused (exit 2), the run is untouched', async () => {
    const before = fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8');
    const r = await runNin(['train', ...SMALL, '--out', out, '--run', 'run']);
    assertOneLineError(r, 2, /--run run/, /already exists/, /--resume/);
    assert.equal(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'), before);
  });

  test('--resume with --epochs 3 continues from epoch 3 to the same numbers as an uninterrupted 3-epoch run', async () => {
    const resumed = await resumeTrain(runDir, { more: ['--epochs', '3'], timeoutMs: TRAIN_TIMEOUT });
    assert.match(resumed.stderr, /resuming after epoch 2/);
    assert.match(lines(resumed.stdout)[0], /^epoch 3\/3: /);
    const straight = await runNin(['train', ...SMALL, '--epochs', '3', '--out', out, '--run', 'straight'], { timeoutMs: TRAIN_TIMEOUT });
    assertOk(straight);
    assert.deepEqual(loggedNumbers(runDir), loggedNumbers(path.join(out, 'straight')));
  });
});

describe('a diverging run', () => {
  /** Every float in a checkpoint's weights.bin is finite. */
  function assertFiniteWeights(dir: string): void {
    const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.ok(values.every(Number.isFinite), `${dir} holds NaN or infinite weights`);
  }

  for (const lr of ['10', '1000']) {
    test(`--lr ${lr}: stops in the epoch the loss turns NaN or explodes, suggests a lower rate, exit 1, best/ stays finite`, async () => {
      const out = tempDir('nin-diverge-');
      // 32 images in batches of 8 at --lr 10 pass DIVERGED_LOSS within epoch 1 and turn NaN in epoch 2.
      const r = await runNin(['train', ...DIVERGE, '--epochs', '4', '--lr', lr, '--out', out, '--run', 'r'], { timeoutMs: TRAIN_TIMEOUT });
      assertTrainError(
        r,
        1,
        /loss became (NaN|-?Infinity|\d\.\d\de\+\d+) (at epoch \d+, batch \d+|after epoch \d+)/,
        /training diverged/,
        /lower the learning rate \(e\.g\. --lr /,
      );
      const stoppedAt = Number(/(?:at|after) epoch (\d+)/.exec(r.stderr)![1]);
      const runDir = path.join(out, 'r');
      const logged = fs.existsSync(path.join(runDir, 'metrics.jsonl')) ? readMetrics(runDir).map((m) => m.epoch) : [];
      assert.deepEqual(
        logged,
        Array.from({ length: stoppedAt - 1 }, (_, i) => i + 1),
        'the log ends with the last finished epoch',
      );
      assert.ok(logged.length < 4, 'it stopped early');
      if (stoppedAt > 1) {
        assert.match(r.stderr, new RegExp(`checkpoints of epoch ${stoppedAt - 1} are kept`));
        assertFiniteWeights(path.join(runDir, 'best'));
        assertFiniteWeights(path.join(runDir, 'last'));
      } else {
        assert.match(r.stderr, /no checkpoint was saved/);
        assert.ok(!fs.existsSync(path.join(runDir, 'best')));
      }
    });
  }
});

describe('refused before anything is written', () => {
  test('--resume of a directory that is not a run (exit 2)', async () => {
    const dir = tempDir('nin-notrun-');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    assertOneLineError(await runNin(['train', '--resume', dir, '--backend', BACKEND]), 2, /--resume/, /not a nin run directory/);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });

  test('--init-weights: a missing path (exit 2), --resume with it (exit 2), a file that is no weights manifest (exit 1)', async () => {
    const out = tempDir('nin-init-');
    assertOneLineError(
      await runNin(['train', ...SMALL, '--init-weights', path.join(out, 'nope.json'), '--out', out]),
      2,
      /--init-weights/,
      /does not exist/,
    );
    assertOneLineError(
      await runNin(['train', '--resume', out, '--init-weights', out, '--backend', BACKEND]),
      2,
      /--init-weights starts a new run/,
    );
    const bad = path.join(out, 'bad.json');
    fs.writeFileSync(bad, '{"weights": []}');
    assertTrainError(
      await runNin(['train', ...SMALL, '--init-weights', bad, '--out', out, '--run', 'r']),
      1,
      /bad\.json has no weightsManifest/,
    );
    assert.deepEqual(fs.readdirSync(out).sort(), ['bad.json'], 'no run directory left');
  });

  test('--resume of a missing directory (exit 2)', async () => {
    assertOneLineError(
      await runNin(['train', '--resume', '/nonexistent/nin-run', '--backend', BACKEND]),
      2,
      /--resume/,
      /not a nin run directory/,
    );
  });

  test('--out that is a file (exit 2)', async () => {
    const file = path.join(tempDir('nin-outfile-'), 'file');
    fs.writeFileSync(file, 'x');
    assertOneLineError(await runNin(['train', ...SMALL, '--out', file]), 2, /--out/, /is a file/, /directory/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'x');
  });

  test('--out below a file (exit 2)', async () => {
    const file = path.join(tempDir('nin-outfile-'), 'file');
    fs.writeFileSync(file, 'x');
    assertOneLineError(await runNin(['train', ...SMALL, '--out', path.join(file, 'runs')]), 2, /--out/, /not writable/);
  });

  test('--out where no directory can be made, under /proc (exit 2, no hang)', async () => {
    assertOneLineError(await runNin(['train', ...SMALL, '--out', '/proc/nin-out/runs'], { timeoutMs: 30000 }), 2, /--out/, /not writable/);
  });

  test('--out on a read-only filesystem (exit 2)', async (t) => {
    const dir = tempDir('nin-ro-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`cannot mount a read-only tmpfs here (${String((err as Error).message).split('\n')[0]})`);
      return;
    }
    try {
      assertOneLineError(await runNin(['train', ...SMALL, '--out', dir]), 2, /--out/, /not writable/);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});

describe('bad dataset files via --data-dir: one error line, exit 1, no run left behind', { concurrency: 2 }, () => {
  const OFFICIAL = '/usr/share/datasets/fashion-mnist';
  /** The official files as symlinks, with `name` replaced by `bytes` (raw, or gzipped when name ends in .gz). */
  function dataDirWith(name: string, bytes: Buffer | null): string {
    const dir = tempDir('nin-baddata-');
    for (const f of fs.readdirSync(OFFICIAL)) fs.symlinkSync(path.join(OFFICIAL, f), path.join(dir, f));
    fs.rmSync(path.join(dir, name.replace(/\.gz$/, '') + '.gz'), { force: true });
    if (bytes) fs.writeFileSync(path.join(dir, name), bytes);
    return dir;
  }
  const cases: [string, string, Buffer | null, RegExp[]][] = [
    [
      'a missing file',
      FILE_NAMES.testLabels,
      null,
      [/missing t10k-labels-idx1-ubyte/, /apt-get install dataset-fashion-mnist/, /nin data --download/],
    ],
    [
      'a truncated images file',
      FILE_NAMES.trainImages,
      idxBytes(IMAGES_MAGIC, [60000, 28, 28], fixtureSplit(2).images),
      [/train-images-idx3-ubyte: truncated: expected 47040016 bytes/, /nin data --download/],
    ],
    ['a truncated header', FILE_NAMES.trainLabels, Buffer.from([0, 0]), [/train-labels-idx1-ubyte: truncated: expected at least 4 bytes/]],
    [
      'a wrong magic number',
      FILE_NAMES.testImages,
      idxBytes(LABELS_MAGIC, [8, 28, 28], fixtureSplit(8).images),
      [/t10k-images-idx3-ubyte: wrong magic number 2049, expected 2051/],
    ],
    [
      'a valid IDX file that is not the official one (checksum)',
      FILE_NAMES.testImages,
      idxBytes(IMAGES_MAGIC, [8, 28, 28], fixtureSplit(8).images),
      [/t10k-images-idx3-ubyte: checksum mismatch/, /not the official Fashion-MNIST file/, /nin data --download/],
    ],
    // Any change to an official file breaks its checksum first; the count check itself is in data.test.ts.
    [
      'images and labels counts that differ',
      FILE_NAMES.testLabels,
      idxBytes(LABELS_MAGIC, [9999], fixtureSplit(9999).labels),
      [/t10k-labels-idx1-ubyte: checksum mismatch/],
    ],
    [
      'a corrupt gzip',
      FILE_NAMES.testImages + '.gz',
      Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]),
      [/t10k-images-idx3-ubyte\.gz: truncated or corrupt gzip/],
    ],
    [
      'a truncated official .gz',
      FILE_NAMES.trainLabels + '.gz',
      fs.readFileSync(path.join(OFFICIAL, FILE_NAMES.trainLabels + '.gz')).subarray(0, 20000),
      [/train-labels-idx1-ubyte\.gz: truncated or corrupt gzip/],
    ],
  ];
  for (const [name, file, bytes, patterns] of cases) {
    test(name, async () => {
      const dataDir = dataDirWith(file, bytes);
      const out = tempDir('nin-baddata-out-');
      const r = await runNin(['train', ...SMALL, '--data-dir', dataDir, '--out', out, '--run', 'r']);
      assertTrainError(r, 1, ...patterns);
      assert.deepEqual(fs.readdirSync(out), [], 'a run that never started leaves no directory behind');
    });
  }

  test('nin eval with a bad --data-dir: one line, exit 1', async () => {
    const out = tempDir('nin-baddata-out-');
    const ok = await runNin(['train', ...SMALL, '--epochs', '1', '--out', out, '--run', 'r'], { timeoutMs: TRAIN_TIMEOUT });
    assertOk(ok);
    const r = await runNin([
      'eval',
      path.join(out, 'r'),
      '--backend',
      BACKEND,
      '--test-limit',
      flagValue(SMALL, '--test-limit'),
      '--data-dir',
      dataDirWith(FILE_NAMES.testImages + '.gz', Buffer.from('nope')),
    ]);
    assertOneLineError(r, 1, /t10k-images-idx3-ubyte: wrong magic number|t10k-images-idx3-ubyte.gz: truncated/, /nin data --download/);
  });
});

describe('--resume is exact for every optimizer and schedule', () => {
  const cases: [string, Partial<TrainConfig>][] = [
    ['sgd, constant', { optimizer: 'sgd' }],
    ['momentum, cosine', { optimizer: 'momentum', schedule: 'cosine', learningRate: 0.05 }],
    [
      'momentum with Nesterov, onecycle with warm-up',
      { optimizer: 'momentum', nesterov: true, schedule: 'onecycle', warmupEpochs: 0.5, learningRate: 0.05 },
    ],
    ['adam, cosine with warm-up', { optimizer: 'adam', schedule: 'cosine', warmupEpochs: 0.5, learningRate: 0.001 }],
  ];
  const quiet = () => {};
  const numbers = (history: EpochMetrics[]) => history.map(({ epoch, loss, trainAcc, testAcc }) => ({ epoch, loss, trainAcc, testAcc }));
  for (const [name, recipe] of cases) {
    test(`${name}: stopped after epoch 1 and resumed, the log equals an uninterrupted run's to the last digit`, async () => {
      // 5 steps an epoch: Adam's beta2^(5+1) by pow() differs from five float32 products (4 steps would not show it).
      const config = resolveConfig({
        ...recipe,
        backend: BACKEND,
        imageSize: 67,
        epochs: 2,
        batchSize: BACKEND === 'onednn' ? 8 : 2,
        trainLimit: 10 * (BACKEND === 'onednn' ? 4 : 1),
        testLimit: 8,
      });
      const out = tempDir('nin-resume-opt-');
      const straight = await train({ config, out, run: 'straight', log: quiet, print: quiet });
      // A signal right after epoch 1's line: the run stops there with last/ saved, as Ctrl-C would.
      const stopAfterFirst = (line: string) => {
        if (line.startsWith('epoch 1/')) process.emit('SIGINT');
      };
      await assert.rejects(
        train({ config, out, run: 'stopped', log: quiet, print: stopAfterFirst, handleSignals: true }),
        /interrupted by SIGINT/,
      );
      const resumed = await train({ config, out, resume: path.join(out, 'stopped'), log: quiet, print: quiet });
      assert.deepEqual(numbers(resumed.history), numbers(straight.history));
    });
  }
});

describe('reads from the device', () => {
  const READS = ['data', 'dataSync', 'array', 'arraySync', 'bytes'] as const;

  /**
   * One epoch of `batches` training batches in this process: the tensor reads it made (data(),
   * dataSync(), ...; on a GPU each drains the queue), the plain progress lines it printed, and the
   * tensors it left behind.
   */
  async function countReads(batches: number, logEvery: number) {
    const batchSize = BACKEND === 'onednn' ? 4 : 2;
    const config = resolveConfig({ backend: BACKEND, imageSize: 67, epochs: 1, batchSize, trainLimit: batches * batchSize, testLimit: 8 });
    const proto = tf.Tensor.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    const originals = READS.map((name) => proto[name]);
    const write = process.stderr.write;
    let reads = 0;
    let ticks = 0;
    READS.forEach((name, i) => {
      proto[name] = function (this: unknown, ...args: unknown[]) {
        reads++;
        return originals[i].apply(this, args);
      };
    });
    process.stderr.write = ((text: string) => {
      if (/^epoch 1\/1: batch /.test(String(text))) ticks++;
      return true;
    }) as typeof process.stderr.write;
    const tensors = tf.memory().numTensors;
    try {
      const quiet = () => {};
      await train({ config, out: tempDir('nin-reads-'), run: 'r', log: quiet, print: quiet, logEvery });
    } finally {
      READS.forEach((name, i) => (proto[name] = originals[i]));
      process.stderr.write = write;
    }
    return { reads, ticks, leaked: tf.memory().numTensors - tensors };
  }

  test('training batches are read back at progress ticks, not per batch; no tensor is left behind', async () => {
    // No progress lines: the reads (test pass, checkpoints, the epoch's one read of its steps) do not grow with the batches.
    const few = await countReads(2, 0);
    const many = await countReads(12, 0);
    assert.equal(many.ticks, 0);
    assert.equal(many.reads, few.reads, `2 batches: ${few.reads} reads, 12 batches: ${many.reads}`);
    assert.equal(few.leaked, 0, 'tensors left after a run');
    assert.equal(many.leaked, 0, 'tensors left after a run');
    // A progress line after every batch: at most one read per line more.
    const ticking = await countReads(12, 1e-6);
    assert.ok(ticking.ticks > 0, 'progress lines were printed');
    assert.ok(ticking.reads <= many.reads + ticking.ticks, `${ticking.reads} reads with ${ticking.ticks} progress lines`);
  });
});

describe('progress in logs, mid-epoch saves, TensorBoard', () => {
  test('stderr not a terminal: plain progress lines every --log-every seconds; --tensorboard writes event files into the run', async () => {
    const out = tempDir('nin-progress-');
    const r = await runNin(['train', ...SMALL, '--epochs', '1', '--log-every', '0.05', '--tensorboard', '--out', out, '--run', 'r'], {
      timeoutMs: TRAIN_TIMEOUT,
    });
    assertOk(r);
    assert.match(r.stderr, /^epoch 1\/1: batch \d+\/\d+, loss \d\.\d{3}, acc \d\.\d{3}, [\d.]+ images\/s, ETA \d+:\d\d/m);
    const events = fs.readdirSync(path.join(out, 'r', 'tensorboard'));
    assert.equal(events.length, 1);
    assert.match(events[0], /^events\.out\.tfevents\.\d+\./);
    const bytes = fs.readFileSync(path.join(out, 'r', 'tensorboard', events[0]));
    for (const tag of ['batch/loss', 'batch/learningRate', 'epoch/testAcc']) assert.ok(bytes.includes(tag), tag);
  });

  test('--save-every: last/ is saved mid-epoch, so a kill -9 loses at most that long; --resume continues inside the epoch', async () => {
    const out = tempDir('nin-save-every-');
    const runDir = path.join(out, 'r');
    const args = [
      '--backend',
      BACKEND,
      '--image-size',
      '67',
      '--epochs',
      '1',
      '--batch-size',
      '2',
      '--train-limit',
      BACKEND === 'onednn' ? '1000' : '40',
      '--test-limit',
      '4',
    ];
    const proc = startNin(['train', ...args, '--save-every', '1s', '--out', out, '--run', 'r'], { timeoutMs: TRAIN_TIMEOUT });
    const meta = path.join(runDir, 'last', 'meta.json');
    const deadline = Date.now() + TRAIN_TIMEOUT;
    while (!fs.existsSync(meta) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    proc.child.kill('SIGKILL');
    await proc.done;
    const saved = JSON.parse(fs.readFileSync(meta, 'utf8'));
    assert.equal(saved.epoch, 0);
    assert.ok(saved.partial?.batches > 0, JSON.stringify(saved.partial));
    const resumed = await resumeTrain(runDir, { timeoutMs: TRAIN_TIMEOUT });
    assert.match(resumed.stderr, /resuming after epoch 0 and \d+ batches of epoch 1/);
    assert.match(resumed.stdout, /^epoch 1\/1: /m);
  });
});
