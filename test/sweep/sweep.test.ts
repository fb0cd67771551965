// nin sweep (src/sweep/): the space file checked strictly (bad input is one line, exit 2, nothing
// written), trial i a pure function of (space, i), trials run as real processes that share one
// directory (several --workers, several "nodes" given SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX),
// a sweep killed with SIGKILL and continued without repeating an ended trial, the median pruner, and
// the report. Trials are tiny: 67px, 256 training images, 2 epochs.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { assertOneLineError, NIN_BIN, REPO_ROOT, runNin, startNin, waitForOutput } from '../helpers/cli';
import { requestText, startServe } from '../helpers/server';
import { TEST_BACKEND } from '../helpers/small-run';
import { checkSpace, readSpaceFile, spaceHash, spaceToJson, trialConfigAt, trialValues, type Space } from '../../src/sweep/space';
import { medianVerdict } from '../../src/sweep/prune';
import { meanSd } from '../../src/sweep/report';
import { formatSeconds, threadsPerWorker } from '../../src/sweep/pool';
import type { EpochMetrics } from '../../src/run/metrics';
import { LOCK_STALE_SECONDS } from '../../src/run/lock';
import { shapes } from '../../src/model/shapes';
import { architectureOf } from '../../src/model/architecture';
import { CLASS_NAMES } from '../../src/data/fashion-mnist';
import { RECIPES } from '../../src/config/recipes';

after(removeTempDirs);

const TIMEOUT = TEST_BACKEND === 'onednn' ? 180_000 : 900_000;
/** A trial's fixed keys: 67px, 256 training images (the issue's check), few test images, 2 epochs. */
const FIXED =
  TEST_BACKEND === 'onednn'
    ? { imageSize: 67, trainLimit: 256, testLimit: 64, batchSize: 32, epochs: 2 }
    : { imageSize: 67, trainLimit: 8, testLimit: 4, batchSize: 4, epochs: 2 };
const ENGINE = { backend: TEST_BACKEND, threads: 1 };
/** Smaller still, where the number of images does not matter (several nodes, Slurm, pruning). */
const TINY = TEST_BACKEND === 'onednn' ? { ...FIXED, trainLimit: 64, testLimit: 32, batchSize: 16 } : FIXED;

function writeSpace(dir: string, space: object, name = 'space.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(space));
  return file;
}

const FOUR = { fixed: FIXED, vary: { learningRate: [0.05, 0.1], seed: [0, 1] }, engine: ENGINE };

/** The pids whose parent is `pid` (Linux /proc): a sweep driver's workers. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const trialFile = (sweep: string, i: number, name: string) => path.join(sweep, 'trials', String(i).padStart(4, '0'), name);
const epochsOf = (sweep: string, i: number) =>
  fs
    .readFileSync(trialFile(sweep, i, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).epoch);

describe('the space: trial i is a pure function of (space, i)', () => {
  const check = (value: object) => checkSpace(value, 'space.json');

  test('grid: the last key varies fastest; its product is the budget, or the budget given caps it', () => {
    const space = check({ vary: { learningRate: [0.05, 0.1], seed: [0, 1, 2] } });
    assert.equal(space.trials, 6);
    assert.deepEqual(
      Array.from({ length: 6 }, (_, i) => trialValues(space, i)),
      [0.05, 0.1].flatMap((learningRate) => [0, 1, 2].map((seed) => ({ learningRate, seed }))),
    );
    assert.equal(check({ vary: { seed: [0, 1, 2] }, trials: 2 }).trials, 2);
  });

  test("the hash: the fixed keys' order and the budget and engine do not change it; a varied value does", () => {
    const base = { fixed: { imageSize: 67, epochs: 2 }, vary: { seed: [0, 1] } };
    const hash = spaceHash(check(base));
    assert.equal(spaceHash(check({ fixed: { epochs: 2, imageSize: 67 }, vary: { seed: [0, 1] } })), hash);
    assert.equal(spaceHash(check({ ...base, trials: 1, engine: { threads: 3 } })), hash);
    assert.notEqual(spaceHash(check({ ...base, vary: { seed: [0, 2] } })), hash);
    assert.notEqual(spaceHash(check({ ...base, fixed: { imageSize: 67, epochs: 3 } })), hash);
  });

  test('random: draw i depends on the seed and i only (not the budget, not other draws); values stay in range', () => {
    const vary = {
      learningRate: { logUniform: [0.001, 0.3] },
      warmupEpochs: { uniform: [0, 3] },
      seed: { int: [0, 9] },
      optimizer: { choice: ['sgd', 'momentum'] },
    };
    const small: Space = check({ method: 'random', seed: 7, trials: 5, vary });
    const large: Space = check({ method: 'random', seed: 7, trials: 500, vary });
    for (let i = 0; i < 5; i++) assert.deepEqual(trialValues(small, i), trialValues(large, i));
    const other = check({ method: 'random', seed: 8, trials: 5, vary });
    assert.notDeepEqual(trialValues(small, 0), trialValues(other, 0));
    const draws = Array.from({ length: 500 }, (_, i) => trialValues(large, i));
    for (const d of draws) {
      assert.ok((d.learningRate as number) >= 0.001 && (d.learningRate as number) <= 0.3);
      assert.ok(Number.isInteger(d.seed) && (d.seed as number) >= 0 && (d.seed as number) <= 9);
      assert.ok(['sgd', 'momentum'].includes(d.optimizer as string));
    }
    // log-uniform: about as many draws below 0.0173 (the geometric middle) as above.
    const below = draws.filter((d) => (d.learningRate as number) < Math.sqrt(0.001 * 0.3)).length;
    assert.ok(below > 200 && below < 300, `${below} of 500 below the geometric middle`);
    assert.equal(new Set(draws.map((d) => d.seed)).size, 10);
  });

  test('the median rule: below the median of the others at that epoch, once enough others reached it', () => {
    const m = (testAcc: number, epoch = 1) => ({ epoch, loss: 1, trainAcc: 0.5, testAcc, examplesPerSec: 1, seconds: 1 }) as EpochMetrics;
    const rule = { rule: 'median' as const, afterEpoch: 1, minTrials: 3 };
    const others = [[m(0.5)], [m(0.6)], [m(0.7)]];
    assert.match(
      String(medianVerdict(rule, [m(0.55)], others, 'testAcc')),
      /testAcc 0\.5500 at epoch 1 is below the median 0\.6000 of 3 other trials/,
    );
    assert.equal(medianVerdict(rule, [m(0.6)], others, 'testAcc'), null, 'at the median: goes on');
    assert.equal(medianVerdict(rule, [m(0.1)], others.slice(0, 2), 'testAcc'), null, 'too few others');
    assert.equal(medianVerdict({ ...rule, afterEpoch: 2 }, [m(0.1)], others, 'testAcc'), null, 'too early');
    const { mean, sd } = meanSd([0.8, 0.9]);
    assert.ok(Math.abs(mean! - 0.85) < 1e-12 && Math.abs(sd! - Math.sqrt(0.005)) < 1e-12, `${mean} ± ${sd}`);
    assert.deepEqual(meanSd([0.8]), { mean: 0.8, sd: null });
    assert.equal(threadsPerWorker(2, 16), 8);
    assert.equal(threadsPerWorker(4, 2), 1);
  });

  test("a trial's time in its progress line: rounded to the second before it is split into minutes", () => {
    assert.equal(formatSeconds(42.46), '42.5 s');
    assert.equal(formatSeconds(59.96), '1 min 0 s');
    assert.equal(formatSeconds(539.6), '9 min 0 s'); // a real trial printed "8 min 60 s"
    assert.equal(formatSeconds(545.4), '9 min 5 s');
  });
});

describe('bad input: one line, exit 2, nothing written', () => {
  const cases: [string, object, RegExp][] = [
    ['an unknown key', { vary: { learningRat: [0.1] } }, /"learningRat" is not a recipe or architecture key/],
    [
      'an engine key among the trial keys',
      { vary: { threads: [1, 2] } },
      /threads is an engine setting, not part of a trial; put it under "engine"/,
    ],
    ['a value out of range', { vary: { learningRate: [0.1, -1] } }, /learningRate -1 is not allowed; it must be a number above 0/],
    ['an empty list', { vary: { seed: [] } }, /seed lists no values; list at least one/],
    ['no key varied', { vary: {} }, /"vary" names no key/],
    ['a budget of 0', { vary: { seed: [0, 1] }, trials: 0 }, /trials is 0; it must be a whole number from 1 to 10000/],
    [
      'a huge grid',
      { vary: { seed: { choice: Array.from({ length: 1000 }, (_, i) => i) }, trainLimit: Array.from({ length: 20 }, (_, i) => i + 1) } },
      /the grid holds 20000 trials, more than the 10000 a sweep may/,
    ],
    [
      'a distribution in a grid',
      { vary: { learningRate: { logUniform: [0.01, 0.1] } } },
      /learningRate is a distribution, which a grid cannot enumerate/,
    ],
    ['random search without a budget', { method: 'random', vary: { seed: { int: [0, 9] } } }, /random search needs a budget/],
    [
      'an impossible variant',
      { fixed: { blockConvs: 0, imageSize: 67 }, vary: { bottleneck: [64] } },
      /trial 0 \(bottleneck=64\): --bottleneck needs a convolution after the last block's first/,
    ],
    ['an image size NiN cannot take', { vary: { imageSize: [67, 40] } }, /imageSize 40 is not allowed; it must be a whole number from 67/],
    [
      "an architecture that passes the key's range but does not build",
      { fixed: { imageSize: 67 }, vary: { blockKernel: [1, 2] } },
      /trial 1 \(blockKernel=2\): --block-kernel 2 is neither 1 \(d2l's\) nor 3/,
    ],
  ];
  for (const [label, space, why] of cases) {
    test(label, async () => {
      const root = tempDir('nin-sweep-bad-');
      const file = writeSpace(root, space);
      const dir = path.join(root, 'sweep');
      const r = await runNin(['sweep', 'start', file, '--dir', dir]);
      assertOneLineError(r, 2, why);
      assert.ok(!fs.existsSync(dir), 'no sweep directory');
    });
  }

  test('a space file that is not JSON, and one that is missing', async () => {
    const root = tempDir('nin-sweep-bad-');
    fs.writeFileSync(path.join(root, 'broken.json'), '{"vary": ');
    assertOneLineError(
      await runNin(['sweep', 'start', path.join(root, 'broken.json'), '--dir', path.join(root, 's')]),
      2,
      /broken\.json is not valid JSON/,
    );
    assertOneLineError(
      await runNin(['sweep', 'start', path.join(root, 'nope.json'), '--dir', path.join(root, 's')]),
      2,
      /nope\.json does not exist/,
    );
    assert.deepEqual(fs.readdirSync(root), ['broken.json']);
  });

  test('a trial index out of range, a directory of another space, a directory without a space', async () => {
    const root = tempDir('nin-sweep-bad-');
    const dir = path.join(root, 'sweep');
    const file = writeSpace(root, { ...FOUR, fixed: { ...TINY, epochs: 1 } });
    // Created by a first `run` of the space file, as a Slurm array's first task does; then the index checks.
    assertOneLineError(
      await runNin(['sweep', 'run', file, '--dir', dir, '--trial', '4']),
      2,
      /--trial 4 is out of range: the space holds trials 0 to 3/,
    );
    assert.ok(!fs.existsSync(dir), 'refused before the directory is made');
    assertOneLineError(
      await runNin(['sweep', 'run', path.join(root, 'nothing'), '--trial', '0']),
      2,
      /nothing is not a sweep directory \(no space\.json\); pass the space file too/,
    );
    const r = await runNin(['sweep', 'report', path.join(root, 'nothing')]);
    assertOneLineError(r, 2, /is not a sweep directory/);
    // A real sweep directory, made by a first trial.
    const made = await runNin(['sweep', 'run', file, '--dir', dir, '--trial', '0'], {
      env: { SLURM_ARRAY_TASK_ID: '' },
      timeoutMs: TIMEOUT,
    });
    assert.equal(made.code, 0, made.stderr);
    const before = fs.readdirSync(dir).sort();
    assertOneLineError(
      await runNin(['sweep', 'run', dir], { env: { SLURM_ARRAY_TASK_ID: '7' } }),
      2,
      /\$SLURM_ARRAY_TASK_ID 7 is out of range: .* holds trials 0 to 3/,
    );
    const other = writeSpace(root, { ...FOUR, vary: { learningRate: [0.05, 0.2], seed: [0, 1] } }, 'other.json');
    assertOneLineError(
      await runNin(['sweep', 'start', other, '--dir', dir]),
      2,
      /holds a sweep of another space \([0-9a-f]{16}, this one is [0-9a-f]{16}\); pass another --dir/,
    );
    assert.deepEqual(fs.readdirSync(dir).sort(), before, 'nothing written');
    // Running an ended trial again is a no-op, exit 0.
    const again = await runNin(['sweep', 'run', dir, '--trial', '0']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^trial 0 has ended \(done\); nothing to do$/m);
  });

  test('a sweep begun under another version of its base recipe: no new trial starts (one line, exit 2); the report still reads it', async () => {
    const root = tempDir('nin-sweep-recipe-');
    const dir = path.join(root, 'sweep');
    const file = writeSpace(root, { ...FOUR, recipe: 'best', fixed: { ...TINY, epochs: 1 } });
    const made = await runNin(['sweep', 'run', file, '--dir', dir, '--trial', '0'], {
      env: { SLURM_ARRAY_TASK_ID: '' },
      timeoutMs: TIMEOUT,
    });
    assert.equal(made.code, 0, made.stderr);
    const spaceFile = path.join(dir, 'space.json');
    const stored = readJson(spaceFile);
    assert.deepEqual(stored.recipeValues, RECIPES.best.values, 'space.json records the recipe as it was');
    // As if an older nin had begun it, when best had another learning rate and no class bias.
    const { classBias: _bias, ...older } = { ...stored.recipeValues, learningRate: 0.5 };
    fs.writeFileSync(spaceFile, JSON.stringify({ ...stored, recipeValues: older }));
    const before = fs.readdirSync(path.join(dir, 'trials')).sort();
    const refused = new RegExp(
      `began with another recipe best \\(learningRate 0\\.5 -> ${RECIPES.best.values.learningRate}, classBias d2l's default -> 1\\): its new trials would train other values than its old ones; finish it with the nin that began it, or start the space in a new --dir`,
    );
    assertOneLineError(await runNin(['sweep', 'start', file, '--dir', dir]), 2, refused);
    assertOneLineError(await runNin(['sweep', 'run', dir, '--trial', '1']), 2, refused);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'trials')).sort(), before, 'no trial started');
    const report = await runNin(['sweep', 'report', dir]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /^0 .* done /m);
    // A sweep begun before space.json recorded the values cannot be checked, and goes on.
    const { recipeValues: _values, ...unrecorded } = stored;
    fs.writeFileSync(spaceFile, JSON.stringify(unrecorded));
    const goesOn = await runNin(['sweep', 'run', dir, '--trial', '1'], { timeoutMs: TIMEOUT });
    assert.equal(goesOn.code, 0, goesOn.stderr);
  });
});

describe('trials as processes sharing one directory', () => {
  test("the issue's check: 4 trials, --workers 2, SIGKILLed mid-run, continued once without repeating an ended trial, then reported", async () => {
    const root = tempDir('nin-sweep-kill-');
    const file = writeSpace(root, { ...FOUR, fixed: { ...FIXED, epochs: 3 } });
    const dir = path.join(root, 'sweep');
    const first = startNin(['sweep', 'start', file, '--dir', dir, '--workers', '2'], { timeoutMs: TIMEOUT });
    // Kill once one trial has ended and another is being trained: the driver and every worker, with SIGKILL.
    const lockPid = (i: number) => {
      try {
        return Number(fs.readFileSync(trialFile(dir, i, '.lock'), 'utf8').split('@')[0]);
      } catch {
        return null;
      }
    };
    let killedWhile: number[] = [];
    const deadline = Date.now() + TIMEOUT;
    while (Date.now() < deadline) {
      const ended = [0, 1, 2, 3].filter((i) => fs.existsSync(trialFile(dir, i, 'trial.json')));
      const live = [0, 1, 2, 3].map(lockPid).filter((p): p is number => p !== null);
      if (ended.length >= 1 && live.length >= 1) {
        const workers = childrenOf(first.child.pid!);
        first.child.kill('SIGKILL');
        for (const pid of [...live, ...workers]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Ended meanwhile.
          }
        }
        killedWhile = live;
        break;
      }
      if (ended.length === 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.done;
    assert.ok(killedWhile.length >= 1, 'the sweep was killed while a trial was being trained');
    const endedBefore = [0, 1, 2, 3].filter((i) => fs.existsSync(trialFile(dir, i, 'trial.json')));
    assert.ok(endedBefore.length >= 1 && endedBefore.length < 4, `ended before the kill: ${endedBefore}`);
    const records = Object.fromEntries(endedBefore.map((i) => [i, fs.readFileSync(trialFile(dir, i, 'trial.json'), 'utf8')]));
    const metrics = Object.fromEntries(endedBefore.map((i) => [i, fs.statSync(trialFile(dir, i, 'metrics.jsonl')).mtimeMs]));

    const second = await runNin(['sweep', 'start', '--dir', dir, '--workers', '2'], { timeoutMs: TIMEOUT });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`4 trials, ${endedBefore.length} ended, ${4 - endedBefore.length} to run`));
    for (const i of endedBefore) {
      assert.equal(fs.readFileSync(trialFile(dir, i, 'trial.json'), 'utf8'), records[i], `trial ${i} was not run again`);
      assert.equal(fs.statSync(trialFile(dir, i, 'metrics.jsonl')).mtimeMs, metrics[i]);
      assert.doesNotMatch(second.stderr, new RegExp(`^trial ${i} \\(.*\\): (starting|resuming)`, 'm'));
    }
    for (let i = 0; i < 4; i++) {
      assert.equal(readJson(trialFile(dir, i, 'trial.json')).state, 'done');
      assert.deepEqual(epochsOf(dir, i), [1, 2, 3], `trial ${i}: each epoch once`);
    }
    assert.match(second.stderr, /4 of 4 trials ended \(4 done, 0 pruned, 0 failed\)/);

    const report = await runNin(['sweep', 'report', dir]);
    assert.equal(report.code, 0, report.stderr);
    const rows = report.stdout.split('\n').filter((l) => /^[0-3] {2}/.test(l));
    assert.equal(rows.length, 4, report.stdout);
    for (const row of rows) assert.match(row, /^\d\s+0\.(05|1)\s+[01]\s+done\s+3\/3\s+0\.\d{4}\s+0\.\d{4}\s+1,992,166\s+\d+\.\d s$/);
    assert.match(
      report.stdout,
      /over seeds .*\nlearningRate\s+seeds\s+test acc\n0\.05\s+2\s+0\.\d{4} ± 0\.\d{4}\n0\.1\s+2\s+0\.\d{4} ± 0\.\d{4}/,
    );
    const json = JSON.parse((await runNin(['sweep', 'report', dir, '--json'])).stdout);
    assert.deepEqual(json.varied, ['learningRate', 'seed']);
    assert.equal(json.trials.length, 4);
    assert.equal(json.counts.done, 4);
    assert.equal(json.groups.length, 2);
    // nin sweep best: the configuration of the best mean over seeds, as the report's groups have it (a tie: the first).
    const top = (json.groups as { values: { learningRate: number }; trials: number[]; mean: number }[]).reduce((a, g) =>
      g.mean > a.mean ? g : a,
    );
    const best = await runNin(['sweep', 'best', dir, '--epochs', '5']);
    assert.equal(best.code, 0, best.stderr);
    assert.match(
      best.stderr,
      new RegExp(
        `^best of 4 ended trials \\(4 done\\): trials ${top.trials.join(', ')} \\(learningRate=${top.values.learningRate}; seeds 0, 1\\): mean test acc ${top.mean.toFixed(4)} ± 0\\.\\d{4} over 2 seeds\n$`,
      ),
    );
    assert.deepEqual(JSON.parse(best.stdout).fixed, { ...FIXED, epochs: 5, learningRate: top.values.learningRate });
    const svg = path.join(root, 'sweep.svg');
    assert.equal((await runNin(['sweep', 'report', dir, '--out', svg])).code, 0);
    assert.match(fs.readFileSync(svg, 'utf8'), /^<svg [^]*<circle [^]*<\/svg>/);

    // nin serve DIR serves the sweep's trials as runs.
    const { proc: serve, url } = await startServe([dir]);
    try {
      const { body } = await requestText(url, '/api/runs');
      assert.deepEqual((JSON.parse(body) as { runs: { id: string }[] }).runs.map((r) => r.id).sort(), ['0000', '0001', '0002', '0003']);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.done;
    }
  });

  test('an architecture key varies like any recipe key: each trial trains its own network, and the report shows the key and its parameters', async () => {
    const root = tempDir('nin-sweep-arch-');
    // 67px, 256 training images, 1 epoch: d2l's global average pooling head against a dense one.
    const file = writeSpace(root, { fixed: { ...FIXED, epochs: 1 }, vary: { head: ['gap', 'dense'] }, engine: ENGINE });
    const dir = path.join(root, 'sweep');
    const r = await runNin(['sweep', 'start', file, '--dir', dir], { timeoutMs: TIMEOUT });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 of 2 trials ended \(2 done, 0 pruned, 0 failed\)/);
    // The count shapes.ts gives each variant at 67px, and what each trial's checkpoint really holds.
    const expected = ['gap', 'dense'].map((head) => shapes({ imageSize: 67, architecture: architectureOf({ head }) }).totalParams);
    assert.notEqual(expected[0], expected[1]);
    for (const [i, head] of ['gap', 'dense'].entries()) {
      assert.equal(readJson(trialFile(dir, i, 'config.json')).head, head, 'the key reaches the run as a config key');
      const manifest = readJson(trialFile(dir, i, 'last/model.json')).weightsManifest[0].weights as { shape: number[] }[];
      const trained = manifest.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
      assert.equal(trained, expected[i], `trial ${i} (head ${head}) trained a network of its own`);
    }
    const report = await runNin(['sweep', 'report', dir]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /^trial\s+head\s+state\s/m);
    const shown = (n: number) => n.toLocaleString('en-US');
    assert.match(report.stdout, new RegExp(`^0\\s+gap\\s+done\\s+1/1\\s.*\\s${shown(expected[0])}\\s`, 'm'));
    assert.match(report.stdout, new RegExp(`^1\\s+dense\\s+done\\s+1/1\\s.*\\s${shown(expected[1])}\\s`, 'm'));
    const json = JSON.parse((await runNin(['sweep', 'report', dir, '--json'])).stdout);
    assert.deepEqual(json.varied, ['head']);
    assert.deepEqual(
      json.trials.map((t: { params: number }) => t.params),
      expected,
    );
  });

  test('SIGTERM to the driver: passed on once to each worker, which saves its trial; exit 143; the same command continues', async () => {
    const root = tempDir('nin-sweep-term-');
    // Trials of several seconds (256 images, 3 epochs), so one is surely being trained when the signal comes.
    const file = writeSpace(root, { ...FOUR, fixed: { ...FIXED, epochs: 3 }, vary: { seed: [0, 1] } });
    const dir = path.join(root, 'sweep');
    const first = startNin(['sweep', 'start', file, '--dir', dir, '--workers', '2'], { timeoutMs: TIMEOUT });
    await waitForOutput(first, (_, stderr) => /trial 1 \(seed=1\): starting/.test(stderr), TIMEOUT);
    // The lock appears without a line of output: looked for on disk.
    while (![0, 1].some((i) => fs.existsSync(trialFile(dir, i, '.lock')))) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGTERM');
    const r = await first.done;
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /SIGTERM: stopping: each worker saves its trial's last\//);
    assert.match(r.stderr, /nin: interrupted by SIGTERM; continue with nin sweep start --dir /);
    assert.match(r.stderr, /trial [01] \(seed=[01]\) stopped at epoch \d\/3 \(exit 143: interrupted by SIGTERM; /);
    const again = await runNin(['sweep', 'start', '--dir', dir, '--workers', '2'], { timeoutMs: TIMEOUT });
    assert.equal(again.code, 0, again.stderr);
    for (const i of [0, 1]) assert.deepEqual(epochsOf(dir, i), [1, 2, 3]);
  });

  test('several "nodes": different indices from SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX fill one directory; the same index twice trains once', async () => {
    const root = tempDir('nin-sweep-nodes-');
    const file = writeSpace(root, { ...FOUR, fixed: { ...TINY, epochs: 1 }, vary: { seed: [0, 1, 2] } });
    const dir = path.join(root, 'sweep');
    // Three processes start together on the space file (the first creates the directory), as array tasks do.
    const runs = await Promise.all([
      runNin(['sweep', 'run', file, '--dir', dir], { env: { SLURM_ARRAY_TASK_ID: '0' }, timeoutMs: TIMEOUT }),
      runNin(['sweep', 'run', file, '--dir', dir], { env: { JOB_COMPLETION_INDEX: '1', SLURM_ARRAY_TASK_ID: '' }, timeoutMs: TIMEOUT }),
      runNin(['sweep', 'run', file, '--dir', dir, '--trial', '2'], { env: { SLURM_ARRAY_TASK_ID: '0' }, timeoutMs: TIMEOUT }),
    ]);
    for (const [i, r] of runs.entries()) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^trial ${i} done: 1 epochs, testAcc 0\\.\\d{4}$`, 'm'));
      assert.equal(readJson(trialFile(dir, i, 'trial.json')).state, 'done');
      assert.equal(readJson(trialFile(dir, i, 'config.json')).seed, i);
    }

    // The same index twice at once (a retried task beside the first): one trains, the other skips with exit 0.
    const file2 = writeSpace(root, { ...FOUR, fixed: { ...TINY, epochs: 2 }, vary: { seed: [5] } }, 'one.json');
    const dir2 = path.join(root, 'sweep2');
    const both = await Promise.all(
      [0, 1].map(() =>
        runNin(['sweep', 'run', file2, '--dir', dir2, '--trial', '0'], { env: { SLURM_ARRAY_TASK_ID: '' }, timeoutMs: TIMEOUT }),
      ),
    );
    for (const r of both) assert.equal(r.code, 0, r.stderr);
    const trained = both.filter((r) => /^trial 0 done/m.test(r.stdout));
    const skipped = both.filter((r) =>
      /^trial 0 (is being run by process \d+; skipped|has ended \(done\); nothing to do)$/m.test(r.stdout),
    );
    assert.equal(trained.length, 1, both.map((r) => r.stdout + r.stderr).join('\n---\n'));
    assert.equal(skipped.length, 1);
    assert.equal(both.filter((r) => /epoch 1\/2/.test(r.stderr)).length, 1, 'only one process trained');
    assert.deepEqual(epochsOf(dir2, 0), [1, 2]);
  });

  test('a trial held by another host: --no-wait skips it; by default it is waited for and taken over once the lock is stale', async () => {
    const root = tempDir('nin-sweep-host-');
    const file = writeSpace(root, { ...FOUR, fixed: { ...TINY, epochs: 1 }, vary: { seed: [3] } });
    const dir = path.join(root, 'sweep');
    const space = checkSpace(readJson(file), file);
    const trial = trialFile(dir, 0, '');
    fs.mkdirSync(trial, { recursive: true });
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'space.json'), JSON.stringify({ nin: 'test', hash: spaceHash(space), space: spaceToJson(space) }));
    // The trial as a node that died 10 minutes less 4 seconds ago left it: its config, and its lock.
    fs.writeFileSync(path.join(trial, 'config.json'), JSON.stringify(trialConfigAt(space, 0)));
    const lock = path.join(trial, '.lock');
    fs.writeFileSync(lock, '4242@node-7.cluster\n');
    const age = (LOCK_STALE_SECONDS - 4) * 1000;
    const stamp = (Date.now() - age) / 1000;
    fs.utimesSync(lock, stamp, stamp);

    const skipped = await runNin(['sweep', 'run', dir, '--trial', '0', '--no-wait']);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stdout, /^trial 0 is being run by process 4242 on node-7\.cluster \(its lock written \d+ s ago\); skipped$/m);
    fs.utimesSync(lock, stamp, stamp);

    const waited = await runNin(['sweep', 'run', dir, '--trial', '0'], { env: { SLURM_ARRAY_TASK_ID: '' }, timeoutMs: TIMEOUT });
    assert.equal(waited.code, 0, waited.stderr);
    assert.match(
      waited.stderr,
      /trial 0 is being run by process 4242 on node-7\.cluster .*; waiting until it ends, or until its lock is 10 minutes old/,
    );
    assert.match(waited.stdout, /^trial 0 done: 1 epochs/m);
    assert.equal(readJson(trialFile(dir, 0, 'trial.json')).state, 'done');
  });

  test('pruning: a trial below the median of the trials already in the directory stops at the epoch end, recorded and reported', async () => {
    const root = tempDir('nin-sweep-prune-');
    const file = writeSpace(root, {
      ...FOUR,
      fixed: { ...TINY, epochs: 3 },
      vary: { seed: [0, 1, 2, 3] },
      prune: { rule: 'median', afterEpoch: 1, minTrials: 3 },
    });
    const dir = path.join(root, 'sweep');
    // The sweep's directory as `nin sweep start` makes it, and three trials planted in it that reached 0.95 at
    // epoch 1 (no tiny run gets there), so the real trial is below their median whatever it learns.
    fs.mkdirSync(path.join(dir, 'trials'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'logs'));
    const space = checkSpace(readJson(file), file);
    fs.writeFileSync(path.join(dir, 'space.json'), JSON.stringify({ nin: 'test', hash: spaceHash(space), space: spaceToJson(space) }));
    for (const i of [1, 2, 3]) {
      const trial = path.join(dir, 'trials', String(i).padStart(4, '0'));
      fs.mkdirSync(trial);
      fs.writeFileSync(
        path.join(trial, 'metrics.jsonl'),
        JSON.stringify({ epoch: 1, loss: 0.2, trainAcc: 0.95, testAcc: 0.95, examplesPerSec: 1, seconds: 1 }) + '\n',
      );
    }
    const r = await runNin(['sweep', 'run', dir, '--trial', '0'], { env: { SLURM_ARRAY_TASK_ID: '' }, timeoutMs: TIMEOUT });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^trial 0 pruned at epoch 1: pruned by the median rule: testAcc 0\.\d{4} at epoch 1 is below the median 0\.9500 of 3 other trials$/m,
    );
    assert.match(r.stderr, /stopping after epoch 1 of 3: pruned by the median rule/);
    const record = readJson(trialFile(dir, 0, 'trial.json'));
    assert.equal(record.state, 'pruned');
    assert.equal(record.epoch, 1);
    assert.deepEqual(epochsOf(dir, 0), [1], 'stopped at the epoch end');
    // A pruned trial has ended: not run again.
    const again = await runNin(['sweep', 'run', dir, '--trial', '0']);
    assert.match(again.stdout, /^trial 0 has ended \(pruned: pruned by the median rule/m);
    // Killed between the verdict and trial.json: judged again on its epochs, not trained further.
    const record0 = fs.readFileSync(trialFile(dir, 0, 'trial.json'), 'utf8');
    fs.rmSync(trialFile(dir, 0, 'trial.json'));
    const rejudged = await runNin(['sweep', 'run', dir, '--trial', '0']);
    assert.equal(rejudged.code, 0, rejudged.stderr);
    assert.match(rejudged.stdout, /^trial 0 pruned at epoch 1: pruned by the median rule/m);
    assert.doesNotMatch(rejudged.stderr, /resuming/);
    assert.deepEqual(epochsOf(dir, 0), [1]);
    assert.equal(readJson(trialFile(dir, 0, 'trial.json')).reason, JSON.parse(record0).reason);
    const report = await runNin(['sweep', 'report', dir]);
    assert.match(report.stdout, /^0\s+0\s+pruned@1\s+1\/3\s/m);
  });
});

/** A planted trial: its state (null: a run directory with neither trial.json nor a live lock, i.e. partial) and its accuracy per epoch. */
interface Planted {
  state: 'done' | 'pruned' | 'failed' | null;
  accs: (number | { test: number; val: number })[];
  dead?: string[]; // the last epoch's deadClasses
}

/**
 * A sweep directory as `nin sweep start` leaves one (space.json, trials/NNNN with config.json, metrics.jsonl and
 * trial.json, logs/), written directly: what `nin sweep best` reads of a sweep are these files, and planted
 * accuracies make the winner certain where tiny real runs would leave it to chance.
 */
function plantSweep(root: string, value: object, trials: Record<number, Planted>): { dir: string; space: Space } {
  const dir = path.join(root, 'sweep');
  fs.mkdirSync(path.join(dir, 'trials'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'logs'));
  const space = checkSpace(value, 'space');
  fs.writeFileSync(path.join(dir, 'space.json'), JSON.stringify({ nin: 'test', hash: spaceHash(space), space: spaceToJson(space) }));
  for (const [i, t] of Object.entries(trials)) {
    const trial = path.join(dir, 'trials', String(i).padStart(4, '0'));
    fs.mkdirSync(trial);
    fs.writeFileSync(path.join(trial, 'config.json'), JSON.stringify(trialConfigAt(space, Number(i))));
    const rows = t.accs.map((a, e) => ({
      epoch: e + 1,
      loss: 1,
      trainAcc: 0.5,
      ...(typeof a === 'number' ? { testAcc: a } : { testAcc: a.test, valLoss: 1, valAcc: a.val }),
      examplesPerSec: 1,
      seconds: 1,
      ...(t.dead && e === t.accs.length - 1 ? { deadClasses: t.dead } : {}),
    }));
    fs.writeFileSync(path.join(trial, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r) + '\n').join(''));
    if (t.state) {
      const record = {
        trial: Number(i),
        state: t.state,
        epoch: t.accs.length,
        reason: t.state === 'done' ? null : 'planted',
        endedAt: '2025-01-01T00:00:00Z',
      };
      fs.writeFileSync(path.join(trial, 'trial.json'), JSON.stringify(record));
    }
  }
  return { dir, space };
}

describe('nin sweep report: collapsed trials', () => {
  test('a trial that ended with nine classes dead is marked collapsed, and each configuration has a mean of the others too', async () => {
    const nine = CLASS_NAMES.slice(1);
    // 50 steps an epoch: judged from the first epoch's end, as the dead-class guard judges.
    const judged = { ...TINY, trainLimit: 50 * TINY.batchSize };
    const { dir } = plantSweep(
      tempDir('nin-sweep-collapse-'),
      { fixed: judged, vary: { learningRate: [0.05, 0.1], seed: [0, 1, 2] }, engine: ENGINE },
      {
        0: { state: 'done', accs: [0.5, 0.8] },
        1: { state: 'done', accs: [0.5, 0.1], dead: nine }, // collapsed
        2: { state: 'done', accs: [0.5, 0.9], dead: nine.slice(0, 8) }, // eight dead: not a collapse
        3: { state: 'done', accs: [0.5, 0.7] },
        4: { state: 'done', accs: [0.5, 0.6] },
        5: { state: 'pruned', accs: [0.1], dead: nine }, // pruned: in no mean
      },
    );
    const json = await runNin(['sweep', 'report', dir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.deepEqual(
      report.trials.map((t: { collapsed: boolean }) => t.collapsed),
      [false, true, false, false, false, true],
    );
    const [slow, fast] = report.groups;
    assert.equal(slow.n, 3);
    assert.equal(slow.collapsed, 1);
    assert.ok(Math.abs(slow.mean - 0.6) < 1e-12);
    assert.equal(slow.others.n, 2);
    assert.ok(Math.abs(slow.others.mean - 0.85) < 1e-12);
    assert.deepEqual([fast.n, fast.collapsed, fast.others.n], [2, 0, 2]);
    assert.ok(Math.abs(fast.others.mean - 0.65) < 1e-12);

    const text = (await runNin(['sweep', 'report', dir])).stdout;
    assert.match(text, /^1 +0\.05 +1 +done, collapsed +2\/2 +0\.1000 /m);
    assert.match(text, /^5 +0\.1 +2 +pruned@1 /m);
    assert.match(text, /^learningRate +seeds +test acc +collapsed +test acc of the others$/m);
    assert.match(text, /^0\.05 +3 +0\.6000 ± 0\.4359 +1 +0\.8500 ± 0\.0707$/m);
    assert.match(text, /^0\.1 +2 +0\.6500 ± 0\.0707 +0 +0\.6500 ± 0\.0707$/m);

    // A trial of fewer than 50 steps that ends with one answer for every image is where any network starts: not collapsed.
    const early = plantSweep(
      tempDir('nin-sweep-collapse-'),
      { fixed: TINY, vary: { seed: [0, 1] }, engine: ENGINE },
      { 0: { state: 'done', accs: [0.5, 0.1], dead: nine }, 1: { state: 'done', accs: [0.5, 0.3] } },
    );
    const tiny = JSON.parse((await runNin(['sweep', 'report', early.dir, '--json'])).stdout);
    assert.deepEqual(
      tiny.trials.map((t: { collapsed: boolean }) => t.collapsed),
      [false, false],
    );
    assert.doesNotMatch((await runNin(['sweep', 'report', early.dir])).stdout, /collapsed/);
  });
});

describe('nin sweep best: the best configuration, as the space that trains it on several seeds', () => {
  test('the best done trial by final accuracy wins (not a pruned, failed or partial one, not a best epoch); its space round-trips and starts', async () => {
    const root = tempDir('nin-sweep-best-');
    const { dir } = plantSweep(
      root,
      { fixed: { ...TINY, epochs: 2 }, vary: { learningRate: [0.05, 0.034523791, 0.2, 0.3, 0.1, 0.02] }, engine: ENGINE },
      {
        0: { state: 'done', accs: [0.9, 0.5] }, // the best epoch of all, but its final accuracy is low
        1: { state: 'done', accs: [0.4, 0.7] }, // the winner
        2: { state: 'pruned', accs: [0.95] },
        3: { state: null, accs: [0.99] }, // partial
        4: { state: 'done', accs: [0.6, 0.7] }, // a tie: the lower index wins
        5: { state: 'failed', accs: [0.97, 0.98] },
      },
    );
    const r = await runNin(['sweep', 'best', dir, '--seeds', '2', '--epochs', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'best of 5 ended trials (3 done): trial 1 (learningRate=0.03452): test acc 0.7000\n');
    const expected = {
      recipe: 'd2l',
      fixed: { ...TINY, epochs: 1, learningRate: 0.034523791 },
      vary: { seed: [0, 1] },
      method: 'grid',
      prune: null,
      engine: ENGINE,
    };
    assert.deepEqual(JSON.parse(r.stdout), expected);
    assert.equal(r.stdout, JSON.stringify(JSON.parse(r.stdout), null, 2) + '\n', 'pretty JSON, a newline at the end');
    // Defaults: 5 seeds, the sweep's epochs.
    const byDefault = JSON.parse((await runNin(['sweep', 'best', dir])).stdout);
    assert.deepEqual(byDefault.vary, { seed: [0, 1, 2, 3, 4] });
    assert.equal(byDefault.fixed.epochs, 2);

    // Read back as nin sweep start reads a space file: the exact learning rate, seeds 0 and 1, no pruning.
    const file = path.join(root, 'winner.json');
    fs.writeFileSync(file, r.stdout);
    const space = readSpaceFile(file);
    assert.equal(space.method, 'grid');
    assert.equal(space.trials, 2);
    assert.equal(space.prune, null);
    assert.deepEqual(
      [0, 1].map((i) => trialConfigAt(space, i).seed),
      [0, 1],
    );
    assert.equal(trialConfigAt(space, 1).learningRate, 0.034523791);
    assert.equal(trialConfigAt(space, 1).epochs, 1);
    // And trained: one seed, one epoch, of the planted winner's configuration.
    const one = path.join(root, 'one.json');
    fs.writeFileSync(one, (await runNin(['sweep', 'best', dir, '--seeds', '1', '--epochs', '1'])).stdout);
    const winner = path.join(root, 'winner');
    const started = await runNin(['sweep', 'start', one, '--dir', winner], { timeoutMs: TIMEOUT });
    assert.equal(started.code, 0, started.stderr);
    assert.equal(readJson(trialFile(winner, 0, 'trial.json')).state, 'done');
    assert.equal(readJson(trialFile(winner, 0, 'config.json')).learningRate, 0.034523791);
    assert.deepEqual(epochsOf(winner, 0), [1]);
  });

  test('when the seed varies, configurations compete by their mean over the done seeds; with a validation split, by val acc', async () => {
    const root = tempDir('nin-sweep-best-');
    const { dir } = plantSweep(
      root,
      { fixed: { ...TINY, valSplit: 16 }, vary: { learningRate: [0.05, 0.1], warmupEpochs: [0, 1], seed: [0, 1] }, engine: ENGINE },
      {
        // lr 0.05, warm-up 0: the best single trial (val 0.85), but a mean of 0.60.
        0: { state: 'done', accs: [0.5, { test: 0.5, val: 0.85 }] },
        1: { state: 'done', accs: [0.5, { test: 0.5, val: 0.35 }] },
        // lr 0.05, warm-up 1: the best test accuracy, not compared.
        2: { state: 'done', accs: [0.5, { test: 0.99, val: 0.5 }] },
        3: { state: 'done', accs: [0.5, { test: 0.99, val: 0.5 }] },
        // lr 0.1, warm-up 0: the winner, 0.71 over two seeds.
        4: { state: 'done', accs: [0.5, { test: 0.5, val: 0.7 }] },
        5: { state: 'done', accs: [0.5, { test: 0.5, val: 0.72 }] },
        // lr 0.1, warm-up 1: pruned on both seeds, though higher.
        6: { state: 'pruned', accs: [{ test: 0.9, val: 0.9 }] },
        7: { state: 'pruned', accs: [{ test: 0.9, val: 0.9 }] },
      },
    );
    const r = await runNin(['sweep', 'best', dir, '--seeds', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^best of 8 ended trials \(6 done\): trials 4, 5 \(learningRate=0\.1, warmupEpochs=0; seeds 0, 1\): mean val acc 0\.7100 ± 0\.0141 over 2 seeds\n$/,
    );
    const space = JSON.parse(r.stdout);
    assert.deepEqual(space.fixed, { ...TINY, valSplit: 16, learningRate: 0.1, warmupEpochs: 0 });
    assert.deepEqual(space.vary, { seed: [0, 1, 2] });
    // A validation split for some trials and not others: no one accuracy to compare.
    const mixed = plantSweep(
      tempDir('nin-sweep-best-'),
      { fixed: TINY, vary: { valSplit: [0, 16] }, engine: ENGINE },
      {
        0: { state: 'done', accs: [0.5, 0.5] },
        1: { state: 'done', accs: [0.5, { test: 0.5, val: 0.5 }] },
      },
    );
    assertOneLineError(await runNin(['sweep', 'best', mixed.dir]), 1, /do not report one accuracy \(valSplit varies/);
  });

  test('errors: not a sweep, nothing ended, nothing done, a bad --seeds or --epochs; one line, nothing printed', async () => {
    const root = tempDir('nin-sweep-best-');
    assertOneLineError(await runNin(['sweep', 'best', root]), 2, /is not a sweep directory \(no space\.json\)/);
    const fresh = plantSweep(root, { fixed: TINY, vary: { seed: [0, 1] }, engine: ENGINE }, { 1: { state: null, accs: [0.5] } });
    assertOneLineError(
      await runNin(['sweep', 'best', fresh.dir]),
      1,
      /no trial of .*sweep has ended yet; run its trials first: nin sweep start --dir .*sweep$/m,
    );
    const pruned = plantSweep(
      tempDir('nin-sweep-best-'),
      { fixed: TINY, vary: { seed: [0, 1] }, engine: ENGINE },
      {
        0: { state: 'pruned', accs: [0.5] },
        1: { state: 'failed', accs: [] },
      },
    );
    assertOneLineError(await runNin(['sweep', 'best', pruned.dir]), 1, /none of the 2 ended trials of .* is done \(1 pruned, 1 failed\)/);
    for (const seeds of ['0', '101', '2.5', 'x'])
      assertOneLineError(await runNin(['sweep', 'best', fresh.dir, '--seeds', seeds]), 2, /--seeds must be a whole number from 1 to 100/);
    for (const epochs of ['0', '-1', 'ten'])
      assertOneLineError(
        await runNin(['sweep', 'best', fresh.dir, '--epochs', epochs]),
        2,
        /--epochs must be a whole number from 1 to 10000/,
      );
  });
});

describe('under a real Slurm (scripts/slurm-local.sh: one node on this machine)', () => {
  const script = path.join(REPO_ROOT, 'scripts', 'slurm-local.sh');
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  const up = () => spawnSync(script, ['status']).status === 0;
  // CI installs slurm-wlm (scripts/setup.sh) and starts it (.ci/run) for its three suites at once: there it never
  // skips, and a suite never stops a Slurm it did not start. Run as root elsewhere, the test starts it and stops it.
  const why =
    process.platform !== 'linux'
      ? 'Slurm runs on Linux here'
      : up()
        ? null
        : process.getuid?.() !== 0
          ? 'starting Slurm needs root (run scripts/slurm-local.sh start as root)'
          : !has('slurmctld') || !has('sbatch')
            ? 'slurm-wlm is not installed (scripts/setup.sh installs it)'
            : null;
  let started = false;
  after(() => {
    if (started) spawnSync(script, ['stop']);
  });

  test('sbatch --wait --array=0-1 runs a 2-trial sweep, one array task per trial', { skip: why ?? false, timeout: TIMEOUT }, async () => {
    if (!up()) {
      const r = spawnSync(script, ['start'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      started = true;
    }
    const root = tempDir('nin-sweep-slurm-');
    const file = writeSpace(root, { ...FOUR, fixed: { ...TINY, epochs: 1 }, vary: { seed: [0, 1] } });
    const dir = path.join(root, 'sweep');
    // README's job script, with this checkout's node and nin: each task runs the trial of its $SLURM_ARRAY_TASK_ID.
    const job = path.join(root, 'job.sh');
    fs.writeFileSync(
      job,
      [
        '#!/bin/sh',
        '#SBATCH --job-name=nin-sweep-test',
        '#SBATCH --cpus-per-task=1',
        `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(NIN_BIN)} sweep run ${JSON.stringify(file)} --dir ${JSON.stringify(dir)} --threads "$SLURM_CPUS_PER_TASK"`,
        '',
      ].join('\n'),
    );
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn('sbatch', ['--wait', '--array=0-1', `--output=${root}/slurm-%a.out`, job], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
    });
    const logs = [0, 1].map((i) =>
      fs.existsSync(path.join(root, `slurm-${i}.out`)) ? fs.readFileSync(path.join(root, `slurm-${i}.out`), 'utf8') : '',
    );
    assert.equal(r.code, 0, `${r.out}\n${logs.join('\n---\n')}`);
    for (const i of [0, 1]) {
      assert.equal(readJson(trialFile(dir, i, 'trial.json')).state, 'done', logs[i]);
      assert.match(logs[i], new RegExp(`^trial ${i} done: 1 epochs`, 'm'));
      assert.equal(readJson(trialFile(dir, i, 'config.json')).seed, i);
    }
  });
});
