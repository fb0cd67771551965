// `nin lr-find` (src/lr-find.ts): the exponential rate schedule, fastai's bias-corrected smoothing, the
// suggestions on synthetic curves whose answer is known, the early stop, and a tiny real run (67px,
// batch 8, 20 steps) as a function and as a process.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { TEST_BACKEND } from '../helpers/small-run';
import { formatLrFind } from '../../src/cli/format';
import {
  EXPLOSION_FACTOR,
  LossSmoother,
  lrFind,
  MIN_FALL,
  type LrFindOptions,
  type LrFindResult,
  rangeTestLr,
  renderLrFind,
  runRangeTest,
  SMOOTHING_BETA,
  suggestLearningRates,
} from '../../src/train/lr-find';
import { assertOneLineError, runNin } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';

const BACKEND = TEST_BACKEND;
after(removeTempDirs);

/** Points on a log-spaced grid of `steps` rates from 1e-5 to 10 with the given smoothed loss. */
function syntheticCurve(steps: number, smoothed: (log10Lr: number) => number) {
  return Array.from({ length: steps }, (_, i) => {
    const lr = rangeTestLr(i, steps, 1e-5, 10);
    return { step: i + 1, lr, loss: smoothed(Math.log10(lr)), smoothed: smoothed(Math.log10(lr)) };
  });
}

/** A whole result around synthetic points, as the formatter and the plot take it. */
function resultOf(points: ReturnType<typeof syntheticCurve>): LrFindResult {
  return {
    backend: 'cpu',
    detail: 'test',
    imageSize: 96,
    batchSize: 128,
    optimizer: 'sgd',
    momentum: 0.9,
    nesterov: false,
    seed: 0,
    startLr: 1e-5,
    endLr: 10,
    steps: points.length,
    stoppedBy: 'steps',
    points,
    suggestions: suggestLearningRates(points),
    plot: '/tmp/x.svg',
    seconds: 1,
  };
}

describe('the range test, on synthetic losses', () => {
  test('the rate grows exponentially from --start-lr to --end-lr', () => {
    const lrs = Array.from({ length: 20 }, (_, i) => rangeTestLr(i, 20, 1e-5, 10));
    assert.equal(lrs[0], 1e-5);
    assert.ok(Math.abs(lrs[19] - 10) < 1e-12, `last ${lrs[19]}`);
    const ratio = (10 / 1e-5) ** (1 / 19);
    for (let i = 1; i < 20; i++)
      assert.ok(Math.abs(lrs[i] / lrs[i - 1] - ratio) < 1e-9, `step ${i}: ratio ${lrs[i] / lrs[i - 1]}, want ${ratio}`);
  });

  test("smoothing is fastai's: a bias-corrected exponential moving average with beta 0.98", () => {
    assert.equal(SMOOTHING_BETA, 0.98);
    // A constant loss is its own average from the first step on: that is what the bias correction is for.
    const constant = new LossSmoother();
    for (let i = 0; i < 50; i++) assert.ok(Math.abs(constant.add(2.3) - 2.3) < 1e-12);
    // Against the closed form: sum of (1 - beta) beta^(n-i) x_i over 1 - beta^n.
    const losses = [2.3, 2.1, 2.6, 1.9, 2.0, 5.0, 1.2];
    const smoother = new LossSmoother();
    losses.forEach((_, n) => {
      const got = smoother.add(losses[n]);
      let weighted = 0;
      for (let i = 0; i <= n; i++) weighted += (1 - SMOOTHING_BETA) * SMOOTHING_BETA ** (n - i) * losses[i];
      const want = weighted / (1 - SMOOTHING_BETA ** (n + 1));
      assert.ok(Math.abs(got - want) < 1e-12, `step ${n + 1}: ${got} vs ${want}`);
    });
    // By hand, two steps: (0.98 * 0.02 * 1 + 0.02 * 2) / (1 - 0.98^2) = 0.0596 / 0.0396.
    const two = new LossSmoother();
    assert.equal(two.add(1), 1);
    assert.ok(Math.abs(two.add(2) - 0.0596 / 0.0396) < 1e-12);
  });

  test('the suggestion is the steepest fall against log(rate), and the minimum / 10', () => {
    // Falls fastest at lr 1e-2 (tanh's inflection), lowest at lr 1 (where the quadratic rise starts), then explodes.
    const curve = syntheticCurve(100, (x) => 2.3 - Math.tanh(2 * (x + 2)) + 3 * Math.max(0, x) ** 2);
    const s = suggestLearningRates(curve);
    const gridStep = 6 / 99; // decades between neighbouring rates
    assert.ok(s.steepest !== null && Math.abs(Math.log10(s.steepest) + 2) <= gridStep, `steepest ${s.steepest}`);
    assert.ok(s.minimumLoss !== null && Math.abs(Math.log10(s.minimumLoss)) <= gridStep, `minimum at ${s.minimumLoss}`);
    assert.equal(s.minimumOverTen, (s.minimumLoss as number) / 10);
  });

  test('like fastai, the first tenth and the last five points are not suggested (the average settling, the explosion)', () => {
    // A cliff in the first 10 points and a deeper fall among the last 5 would win without the trim.
    const curve = syntheticCurve(100, (x) => 2.3 - Math.tanh(2 * (x + 2)));
    curve[3].smoothed -= 5;
    for (let i = 95; i < 100; i++) curve[i].smoothed = -10 * (i - 94);
    const s = suggestLearningRates(curve);
    assert.ok(Math.abs(Math.log10(s.steepest as number) + 2) <= 6 / 99, `steepest ${s.steepest}`);
    assert.ok((s.minimumLoss as number) < curve[95].lr, `minimum at ${s.minimumLoss}`);
  });

  test('a short curve still gets a suggestion; fewer than two points get none', () => {
    const three = syntheticCurve(3, (x) => -x);
    assert.notEqual(suggestLearningRates(three).steepest, null);
    assert.deepEqual(suggestLearningRates(three.slice(0, 1)), { steepest: null, minimumLoss: null, minimumOverTen: null, fall: null });
    assert.deepEqual(suggestLearningRates([]), { steepest: null, minimumLoss: null, minimumOverTen: null, fall: null });
  });

  test('a flat curve (NiN stuck at ln 10) suggests nothing, and says how little it fell', () => {
    // Noise of +-0.01 around ln 10 at every rate, as NiN with plain SGD shows over 40 steps at 96px.
    const flat = syntheticCurve(40, (x) => Math.log(10) + 0.01 * Math.sin(7 * x));
    const s = suggestLearningRates(flat);
    assert.equal(s.steepest, null);
    assert.equal(s.minimumOverTen, null);
    assert.ok(s.fall !== null && s.fall >= 0 && s.fall < MIN_FALL, `fall ${s.fall}`);
    const falling = suggestLearningRates(syntheticCurve(40, (x) => 2.3 - Math.tanh(2 * (x + 2))));
    assert.ok((falling.fall as number) > 0.5, `fall ${falling.fall}`);
    const text = formatLrFind({ ...resultOf(flat), suggestions: s });
    assert.match(
      text,
      /^no suggestion: the smoothed loss fell at most \d\.\d% below its start; on a flat curve the steepest point is noise$/m,
    );
    assert.doesNotMatch(text, /suggested lr/);
  });

  test('stops once the smoothed loss exceeds 4x its minimum', async () => {
    // Flat at 1.0 for 30 steps, then doubling each step.
    const seen: number[] = [];
    const { points, stoppedBy } = await runRangeTest({ steps: 100, startLr: 1e-5, endLr: 10 }, (lr, i) => {
      seen.push(lr);
      return i < 30 ? 1 : 2 ** (i - 29);
    });
    assert.equal(stoppedBy, 'exploded');
    assert.ok(points.length > 30 && points.length < 100, `${points.length} points`);
    const minimum = Math.min(...points.map((p) => p.smoothed));
    assert.ok(points[points.length - 1].smoothed > EXPLOSION_FACTOR * minimum);
    for (const p of points.slice(0, -1)) assert.ok(p.smoothed <= EXPLOSION_FACTOR * minimum);
    assert.equal(seen.length, points.length, 'no step after the stop');
    assert.deepEqual(
      points.map((p) => p.step),
      points.map((_, i) => i + 1),
    );
  });

  test('stops at a diverged loss (NaN, infinite, or above 1000) without recording it', async () => {
    for (const bad of [NaN, Infinity, 1e5]) {
      const { points, stoppedBy } = await runRangeTest({ steps: 100, startLr: 1e-5, endLr: 10 }, (_, i) => (i === 7 ? bad : 2.3));
      assert.equal(stoppedBy, 'diverged', String(bad));
      assert.equal(points.length, 7);
    }
    assert.equal((await runRangeTest({ steps: 12, startLr: 1e-5, endLr: 10 }, () => 2.3)).stoppedBy, 'steps');
  });

  test('the plot marks the suggestions on a log axis; the text says why it stopped and what it suggests', () => {
    const curve = syntheticCurve(100, (x) => 2.3 - Math.tanh(2 * (x + 2)) + 3 * Math.max(0, x) ** 2);
    const result = resultOf(curve);
    const svg = renderLrFind(result);
    for (const decade of [-5, -4, -3, -2, -1, 0, 1]) assert.match(svg, new RegExp(`>1e${decade}<`));
    assert.match(svg, /data-suggestion="steepest"/);
    assert.match(svg, /data-suggestion="min loss \/ 10"/);
    const smoothed = svg.match(/data-series="smoothed"[^>]*points="([^"]*)"/);
    assert.equal(smoothed?.[1].split(' ').length, 100);
    const text = formatLrFind(result);
    assert.match(text, /all 100 steps taken/);
    // The grid's rates nearest 1e-2 and 1 from below: steps 50 and 83 of 100 (lr 0.00933 and 0.933).
    assert.match(text, /^suggested lr: 0\.00933 \(steepest fall of the smoothed loss\)$/m);
    assert.match(text, /^min loss \/ 10: 0\.0933 \(smoothed loss lowest at lr 0\.933\)$/m);
    assert.match(text, /^plot: \/tmp\/x\.svg$/m);
  });
});

describe('lrFind on Fashion-MNIST (67px, batch 8, 20 steps, 300 images)', () => {
  let result: LrFindResult;
  let out: string;
  let tensorsBefore: number;
  before(async () => {
    await initBackend(BACKEND, null);
    out = path.join(tempDir('h6-lrfind-'), 'plots', 'lr.svg');
    const options: LrFindOptions = {
      imageSize: 67,
      batchSize: 8,
      steps: 20,
      startLr: 1e-5,
      endLr: 10,
      optimizer: 'sgd',
      momentum: 0.9,
      nesterov: false,
      seed: 0,
      trainLimit: 300,
      out,
      dataDir: null,
      backend: BACKEND,
      threads: null,
    };
    tensorsBefore = tf.memory().numTensors;
    result = await lrFind({ ...options, log: () => {} });
  });

  test('takes steps at exponentially growing rates from a fresh NiN, and leaks no tensors', () => {
    assert.ok(result.points.length >= 2 && result.points.length <= 20, `${result.points.length} points`);
    result.points.forEach((p, i) => {
      assert.equal(p.step, i + 1);
      assert.ok(Math.abs(p.lr - rangeTestLr(i, 20, 1e-5, 10)) < 1e-15 * Math.max(1, p.lr));
      assert.ok(Number.isFinite(p.loss) && Number.isFinite(p.smoothed));
    });
    // A fresh NiN at a tiny rate predicts near-uniformly: the loss starts near ln 10.
    assert.ok(Math.abs(result.points[0].loss - Math.log(10)) < 0.5, `first loss ${result.points[0].loss}`);
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });

  test('suggests rates inside the range it tried, or nothing when the curve stayed flat; wrote the SVG', () => {
    // 20 steps of batch 8 rarely move NiN off ln 10, so either outcome is right; which one is decided by `fall`.
    const { steepest, minimumLoss, minimumOverTen, fall } = result.suggestions;
    assert.ok(fall !== null && fall >= 0, `fall ${fall}`);
    if (fall < MIN_FALL) assert.deepEqual([steepest, minimumLoss, minimumOverTen], [null, null, null]);
    else {
      for (const lr of [steepest, minimumLoss]) assert.ok(lr !== null && lr >= 1e-5 && lr <= 10, `lr ${lr}`);
      assert.equal(minimumOverTen, (minimumLoss as number) / 10);
    }
    assert.equal(result.plot, out);
    const svg = fs.readFileSync(out, 'utf8');
    assert.match(svg, /^<svg /);
    assert.equal(svg.match(/data-series="loss"[^>]*points="([^"]*)"/)?.[1].split(' ').length, result.points.length);
  });
});

describe('nin lr-find (process)', () => {
  test('--json prints one object with the points, the suggestions and the plot path', async () => {
    const out = path.join(tempDir('h6-lrfind-cli-'), 'lr.svg');
    const r = await runNin(
      [
        'lr-find',
        '--image-size',
        '67',
        '--batch-size',
        '8',
        '--steps',
        '20',
        '--train-limit',
        '300',
        '--backend',
        BACKEND,
        '--out',
        out,
        '--json',
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as LrFindResult;
    assert.equal(result.imageSize, 67);
    assert.equal(result.batchSize, 8);
    assert.equal(result.startLr, 1e-5);
    assert.equal(result.endLr, 10);
    assert.ok(result.points.length >= 2 && result.points.length <= 20);
    assert.equal(typeof result.suggestions.fall, 'number');
    assert.equal(result.suggestions.steepest === null, (result.suggestions.fall as number) < MIN_FALL);
    assert.equal(result.plot, out);
    assert.ok(fs.existsSync(out));
    assert.match(r.stderr, /^lr-find: /m, 'the banner goes to stderr');
  });

  test("--recipe best tests best's optimizer and initialisation; flags beside it win", async () => {
    const out = path.join(tempDir('h17-lrfind-recipe-'), 'lr.svg');
    const small = ['--image-size', '67', '--batch-size', '8', '--steps', '3', '--train-limit', '24', '--backend', BACKEND, '--out', out];
    const r = await runNin(['lr-find', '--recipe', 'best', ...small, '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as LrFindResult;
    assert.equal(result.optimizer, 'momentum');
    assert.equal(result.imageSize, 67);
    assert.equal(result.batchSize, 8);
    assert.match(r.stderr, /^lr-find: .*, 67px, batch 8, momentum, he kernels, zeros biases, class biases 1, /m);
    const plain = await runNin(['lr-find', ...small], { timeoutMs: 300_000 });
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /^lr-find: .*, 67px, batch 8, sgd, xavier kernels, pytorch biases, lr /m);
  });

  test('--start-lr at or above --end-lr is a usage error', async () => {
    const r = await runNin(['lr-find', '--start-lr', '1', '--end-lr', '0.1']);
    assertOneLineError(r, 2, /--start-lr 1 must be below --end-lr 0\.1/);
  });

  test('a bad --steps names the option', async () => {
    const r = await runNin(['lr-find', '--steps', '1']);
    assertOneLineError(r, 2, /--steps/);
  });
});
