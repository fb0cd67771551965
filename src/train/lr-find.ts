// `nin lr-find`: the learning-rate range test of fastai's lr_find and Lightning's Tuner.lr_find. A fresh
// NiN takes training steps while the rate grows exponentially; the smoothed loss against the rate says
// where learning starts, where it is fastest and where it explodes. Also draws that curve as an SVG.
import * as path from 'node:path';
import { initBackend, microBatchPlan } from '../backend';
import { type BackendChoice, DEFAULT_RECIPE, type OptimizerName, type PrecisionChoice, type Recipe } from '../config/config';
import { batches, loadFashionMnist } from '../data/idx';
import { formatRate } from '../cli/format';
import { buildNin } from '../model/nin';
import { type Architecture, DEFAULT_ARCHITECTURE, describeArchitecture, sameArchitecture } from '../model/architecture';
import { deriveSeed } from '../sys/random';
import { checkTrainingMemory } from '../machine/resources';
import { checkOutputFile, type FileFormat } from '../sys/output-path';
import { fontFile, svgToPng } from '../report/plot';
import { makeDirs, writeFileAtomic } from '../sys/safe-file';
import { diverged, makeOptimizer, makeTrainer, trainStep } from './step';
import { setLearningRate } from '../sys/tfjs-internals';
import { ELAPSED, LongSteps } from './long-steps';
import { type Log, stderrLog } from '../sys/log';
import { type Stop, type StopSignal, withStop } from '../sys/signals';

export interface LrFindOptions {
  imageSize: number; // the CLI's default is 96: the curve's shape, not d2l's 224px, is sought, and 96px is ~5x faster
  batchSize: number; // as training will use it: the best rate depends on it
  steps: number; // most training steps (fastai's and Lightning's default: 100)
  startLr: number; // the first step's rate
  endLr: number; // the last step's rate, if the loss has not exploded before (fastai's end_lr: 10)
  optimizer: OptimizerName;
  momentum: number; // 'momentum' only
  nesterov: boolean; // 'momentum' only
  seed: number; // initialisation, shuffling and dropout, as `nin train --seed` draws them
  init?: Pick<Recipe, 'biasInit' | 'kernelInit' | 'classBias'>; // the fresh NiN's initialisation; default d2l's
  architecture?: Architecture; // which NiN (model/architecture.ts); default d2l's
  labelSmoothing?: number; // as the recipe trains; default 0
  weightDecay?: number; // as the recipe trains; default 0
  trainLimit: number | null; // first N training examples; null = all 60,000
  out: string | null; // plot of loss against rate, SVG or PNG as its extension says; null = none
  dataDir: string | null;
  backend: BackendChoice;
  threads: number | null;
  precision?: PrecisionChoice; // default fp32
  handleSignals?: boolean; // a stop signal ends the test after its step, with the curve so far (stoppedBy 'interrupted')
  log?: Log; // stderr lines: the banner, every tenth step (default: stderr)
}

/** fastai's smoothing of the recorded loss (Recorder's AvgSmoothLoss): an exponential moving average. */
export const SMOOTHING_BETA = 0.98;
/** fastai's stop: the smoothed loss above this many times its minimum so far means the rate is too high. */
export const EXPLOSION_FACTOR = 4;

export interface LrFindPoint {
  step: number; // 1-based
  lr: number; // the rate this step was taken with
  loss: number; // the batch's loss before the update
  smoothed: number; // bias-corrected exponential moving average of the losses so far
}

/**
 * Why the range test ended: all steps taken, smoothed loss above 4x its minimum, a non-finite/huge loss,
 * or a stop signal (Ctrl-C).
 */
export type LrFindStop = 'steps' | 'exploded' | 'diverged' | 'interrupted';

export interface LrSuggestions {
  steepest: number | null; // fastai's 'steep': the rate where the smoothed loss falls fastest against log(rate)
  minimumLoss: number | null; // the rate at the smallest smoothed loss
  minimumOverTen: number | null; // fastai's 'minimum': that rate divided by 10, a step back from the edge
  fall: number | null; // how far the smoothed loss fell below its start, as a share of it (0.4 = 40%)
}

/**
 * Below this fall the curve is flat and its steepest point is noise, so nothing is suggested. fastai
 * suggests regardless; NiN with plain SGD shows why not: its loss can sit at ln 10 for hundreds of steps
 * at any rate, and a range test of 100 steps then draws a flat line whose "steepest" point is random.
 */
export const MIN_FALL = 0.05;

export interface LrFindResult {
  backend: string;
  detail: string;
  imageSize: number;
  batchSize: number;
  optimizer: OptimizerName;
  momentum: number;
  nesterov: boolean;
  seed: number;
  startLr: number;
  endLr: number;
  steps: number; // asked for
  stoppedBy: LrFindStop;
  interruptedBy?: StopSignal; // with stoppedBy 'interrupted'
  points: LrFindPoint[];
  suggestions: LrSuggestions;
  plot: string | null;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// The math, free of the model so tests can drive it with synthetic losses

/** The rate of 0-based step `i` of `steps`: exponential from startLr (i = 0) to endLr (i = steps - 1). */
export function rangeTestLr(i: number, steps: number, startLr: number, endLr: number): number {
  if (steps <= 1) return startLr;
  return startLr * (endLr / startLr) ** (i / (steps - 1));
}

/**
 * Smooths a loss series as fastai does: avg = beta avg + (1 - beta) loss, divided by 1 - beta^(i+1), so
 * the first values are not pulled towards the average's start at 0.
 */
export class LossSmoother {
  private average = 0;
  private count = 0;
  constructor(readonly beta = SMOOTHING_BETA) {}

  add(loss: number): number {
    this.count++;
    this.average = this.beta * this.average + (1 - this.beta) * loss;
    return this.average / (1 - this.beta ** this.count);
  }
}

/**
 * The range test's loop: one step per rate until `steps` are taken, the smoothed loss exceeds 4x its
 * minimum, a step's loss diverges (not recorded: it is not a number to plot), or `stopped()` says a stop
 * signal arrived. `step(lr, i)` takes one training step at that rate and returns the batch's loss.
 */
export async function runRangeTest(
  options: { steps: number; startLr: number; endLr: number; beta?: number },
  step: (lr: number, i: number) => number | Promise<number>,
  onPoint: (point: LrFindPoint) => void = () => {},
  stopped: () => Promise<boolean> = async () => false,
): Promise<{ points: LrFindPoint[]; stoppedBy: LrFindStop }> {
  const smoother = new LossSmoother(options.beta);
  const points: LrFindPoint[] = [];
  let best = Infinity;
  for (let i = 0; i < options.steps; i++) {
    const lr = rangeTestLr(i, options.steps, options.startLr, options.endLr);
    const loss = await step(lr, i);
    if (diverged(loss)) return { points, stoppedBy: 'diverged' };
    const point = { step: i + 1, lr, loss, smoothed: smoother.add(loss) };
    points.push(point);
    onPoint(point);
    best = Math.min(best, point.smoothed);
    if (point.smoothed > EXPLOSION_FACTOR * best) return { points, stoppedBy: 'exploded' };
    if (i + 1 < options.steps && (await stopped())) return { points, stoppedBy: 'interrupted' };
  }
  return { points, stoppedBy: 'steps' };
}

/**
 * fastai's suggestions on the smoothed curve, without its first tenth (the average is still settling)
 * and last five points (the explosion): 'steep', the rate at the most negative slope of smoothed loss
 * against log(rate); 'minimum', the rate of the lowest smoothed loss divided by 10. Short curves keep
 * what they can; fewer than two points, or a curve that never fell MIN_FALL below its start, suggest nothing.
 */
export function suggestLearningRates(points: Pick<LrFindPoint, 'lr' | 'smoothed'>[]): LrSuggestions {
  let skipStart = Math.floor(points.length / 10);
  let skipEnd = 5;
  while (points.length - skipStart - skipEnd < 2 && skipEnd > 0) skipEnd--;
  while (points.length - skipStart - skipEnd < 2 && skipStart > 0) skipStart--;
  const kept = points.slice(skipStart, points.length - skipEnd);
  if (kept.length < 2) return { steepest: null, minimumLoss: null, minimumOverTen: null, fall: null };
  const lowest = kept.reduce((best, p) => (p.smoothed < best.smoothed ? p : best));
  const fall = (kept[0].smoothed - lowest.smoothed) / kept[0].smoothed;
  if (!(fall >= MIN_FALL)) return { steepest: null, minimumLoss: null, minimumOverTen: null, fall };
  let steepest = 0;
  let steepestSlope = Infinity;
  for (let i = 0; i + 1 < kept.length; i++) {
    const slope = (kept[i + 1].smoothed - kept[i].smoothed) / (Math.log(kept[i + 1].lr) - Math.log(kept[i].lr));
    if (slope < steepestSlope) [steepest, steepestSlope] = [i, slope];
  }
  return { steepest: kept[steepest].lr, minimumLoss: lowest.lr, minimumOverTen: lowest.lr / 10, fall };
}

// ---------------------------------------------------------------------------------------------
// The command

export async function lrFind(options: LrFindOptions): Promise<LrFindResult> {
  const log = options.log ?? stderrLog;
  const started = Date.now();
  // The plot's path and format are checked before any step: a bad --out costs nothing.
  const format = options.out ? checkOutputFile(options.out, { flag: '--out', command: 'nin lr-find', formats: ['svg', 'png'] }) : null;
  if (format === 'png') fontFile();
  const texts = { acknowledge: 'ending the test after this step', kept: 'no plot was written' };
  return withStop(options.handleSignals, texts, log, (stop) => rangeTest(options, format, log, stop, started));
}

async function rangeTest(options: LrFindOptions, format: FileFormat | null, log: Log, stop: Stop, started: number): Promise<LrFindResult> {
  const backend = await initBackend(options.backend, options.threads, log, options.precision);
  if (backend.name !== 'webgpu') checkTrainingMemory(options.imageSize, options.batchSize);
  const data = loadFashionMnist({ dataDir: options.dataDir ?? undefined, trainLimit: options.trainLimit ?? undefined, testLimit: 1 });
  const init = options.init ?? DEFAULT_RECIPE;
  const architecture = options.architecture ?? DEFAULT_ARCHITECTURE;
  const variant = sameArchitecture(architecture, DEFAULT_ARCHITECTURE) ? '' : `, ${describeArchitecture(architecture)}`;
  const classBias = init.classBias === null ? '' : `, class biases ${init.classBias}`;
  log(
    `lr-find: ${backend.name} (${backend.detail})${variant}, ${options.imageSize}px, batch ${options.batchSize}, ${options.optimizer}, ${init.kernelInit} kernels, ${init.biasInit} biases${classBias}, lr ${formatRate(options.startLr)} to ${formatRate(options.endLr)} over at most ${options.steps} steps, ${data.train.count} training images`,
  );

  // The model and batches `nin train --seed` starts with, so the curve describes that run's start.
  const model = buildNin({
    imageSize: options.imageSize,
    seed: options.seed,
    biasInit: init.biasInit,
    kernelInit: init.kernelInit,
    classBias: init.classBias,
    architecture,
  });
  const trainer = makeTrainer(model, makeOptimizer({ ...options, learningRate: options.startLr }));
  const plan = microBatchPlan(backend, model, options.batchSize);
  if (plan) log(plan.note);
  let epoch = 1;
  let stream = batches(data.train, {
    batchSize: options.batchSize,
    imageSize: options.imageSize,
    shuffle: true,
    seed: options.seed,
    epoch,
  });
  const nextBatch = () => {
    let next = stream.next();
    if (next.done) {
      // A small --train-limit runs out of batches: go on with the next epoch's order.
      stream = batches(data.train, {
        batchSize: options.batchSize,
        imageSize: options.imageSize,
        shuffle: true,
        seed: options.seed,
        epoch: ++epoch,
      });
      next = stream.next();
    }
    return next.value as NonNullable<typeof next.value>;
  };
  const every = Math.max(1, Math.round(options.steps / 10));
  // A pure-JS step takes minutes: a line every 30 s while one runs (long-steps.ts).
  let current = 0;
  const steps = new LongSteps(stop, backend.name, () => ({
    text: `lr-find: step ${current}/${options.steps} running for ${ELAPSED}`,
    terminal: false,
    everySeconds: 30,
  }));
  let range: Awaited<ReturnType<typeof runRangeTest>>;
  try {
    range = await runRangeTest(
      options,
      async (lr, i) => {
        setLearningRate(trainer.optimizer, lr);
        const batch = nextBatch();
        current = i + 1;
        // Dropout masks from training's stream (purpose 2, per global step), as `nin train` draws them.
        // Awaited: a backend that reads its results asynchronously may make the step a promise.
        const { loss } = await steps.run(() =>
          trainStep(trainer, batch.x, batch.labels, batch.size, {
            imageSize: options.imageSize,
            labelSmoothing: options.labelSmoothing ?? 0,
            weightDecay: options.weightDecay ?? 0,
            dropoutSeed: deriveSeed(options.seed, 2, i),
            microBatchSize: plan?.size,
          }),
        );
        return loss;
      },
      (p) => {
        if (p.step % every === 0 || p.step === 1)
          log(`step ${p.step}/${options.steps}: lr ${formatRate(p.lr)}, loss ${p.loss.toFixed(3)}, smoothed ${p.smoothed.toFixed(3)}`);
      },
      () => stop.point(),
    );
  } finally {
    steps.close();
    model.dispose();
    trainer.optimizer.dispose();
  }
  const suggestions = suggestLearningRates(range.points);
  const result: LrFindResult = {
    backend: backend.name,
    detail: backend.detail,
    imageSize: options.imageSize,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    momentum: options.momentum,
    nesterov: options.nesterov,
    seed: options.seed,
    startLr: options.startLr,
    endLr: options.endLr,
    steps: options.steps,
    stoppedBy: range.stoppedBy,
    ...(range.stoppedBy === 'interrupted' ? { interruptedBy: stop.signal! } : {}),
    points: range.points,
    suggestions,
    plot: null,
    seconds: (Date.now() - started) / 1000,
  };
  if (options.out) {
    makeDirs(path.dirname(options.out));
    if (format === 'png') svgToPng(renderLrFind(result), options.out);
    else writeFileAtomic(options.out, renderLrFind(result), 'pass another --out');
    result.plot = options.out;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// The plot: loss (raw and smoothed) against the rate on a log axis, with the suggestions marked

const PLOT = { width: 720, height: 420, left: 64, right: 700, top: 40, bottom: 372 };
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** The SVG text of the range test's curve. */
export function renderLrFind(
  result: Pick<LrFindResult, 'points' | 'suggestions' | 'startLr' | 'endLr' | 'imageSize' | 'batchSize' | 'optimizer'>,
): string {
  const { left, right, top, bottom, width, height } = PLOT;
  const lowDecade = Math.floor(Math.log10(result.startLr));
  const highDecade = Math.max(lowDecade + 1, Math.ceil(Math.log10(Math.max(result.endLr, ...result.points.map((p) => p.lr)))));
  const losses = result.points.flatMap((p) => [p.loss, p.smoothed]);
  // The y range follows the smoothed curve, clipped at 4x its minimum as the stop is, so one wild batch does not flatten it.
  const minSmoothed = Math.min(...result.points.map((p) => p.smoothed));
  const yMax = losses.length ? Math.min(Math.max(...losses), EXPLOSION_FACTOR * minSmoothed) * 1.05 : 2.5;
  const yMin = losses.length ? Math.max(0, Math.min(...losses) - 0.05 * (yMax - Math.min(...losses))) : 0;
  const yTop = Math.max(yMax, yMin + 0.1);
  const sx = (lr: number) => left + ((Math.log10(lr) - lowDecade) / (highDecade - lowDecade)) * (right - left);
  const sy = (loss: number) => bottom - ((Math.min(loss, yTop) - yMin) / (yTop - yMin)) * (bottom - top);
  const n = (v: number) => String(Math.round(v * 100) / 100);

  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>learning-rate range test</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${n((left + right) / 2)}" y="22" text-anchor="middle" font-size="14">nin lr-find: ${result.imageSize}px, batch ${result.batchSize}, ${result.optimizer}</text>`,
    '<g class="grid" stroke="#d9d9d9" stroke-width="1">',
  ];
  const yTicks = ticksBetween(yMin, yTop);
  for (let d = lowDecade; d <= highDecade; d++)
    out.push(`<line x1="${n(sx(10 ** d))}" y1="${top}" x2="${n(sx(10 ** d))}" y2="${bottom}"/>`);
  for (const y of yTicks) out.push(`<line x1="${left}" y1="${n(sy(y))}" x2="${right}" y2="${n(sy(y))}"/>`);
  out.push(
    '</g>',
    `<rect class="axes" x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#000000"/>`,
    '<g class="ticks">',
  );
  for (let d = lowDecade; d <= highDecade; d++)
    out.push(`<text x="${n(sx(10 ** d))}" y="${bottom + 17}" text-anchor="middle">1e${d}</text>`);
  for (const y of yTicks) out.push(`<text x="${left - 6}" y="${n(sy(y) + 4)}" text-anchor="end">${Number(y.toPrecision(6))}</text>`);
  out.push(
    '</g>',
    `<text class="xlabel" x="${n((left + right) / 2)}" y="${height - 12}" text-anchor="middle" font-size="13">learning rate (log scale)</text>`,
    `<text class="ylabel" transform="translate(16 ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">training loss</text>`,
  );
  const line = (key: 'loss' | 'smoothed', colour: string, widthPx: number) =>
    `<polyline data-series="${key}" fill="none" stroke="${colour}" stroke-width="${widthPx}" stroke-linejoin="round" points="${result.points.map((p) => `${n(sx(p.lr))},${n(sy(p[key]))}`).join(' ')}"/>`;
  out.push(line('loss', '#aec7e8', 1), line('smoothed', '#1f77b4', 2));
  const marks: [number | null, string, string][] = [
    [result.suggestions.steepest, '#d62728', 'steepest'],
    [result.suggestions.minimumOverTen, '#2ca02c', 'min loss / 10'],
  ];
  let legendY = top + 18;
  const legend = (colour: string, label: string, dash = '') => {
    out.push(
      `<line x1="${left + 12}" y1="${legendY}" x2="${left + 42}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${left + 50}" y="${legendY + 4}">${label}</text>`,
    );
    legendY += 18;
  };
  // Top left: the curve starts near ln 10 and ends in the explosion at the top right.
  out.push('<g class="legend">');
  legend('#aec7e8', 'loss per batch');
  legend('#1f77b4', 'smoothed (beta 0.98)');
  for (const [lr, colour, label] of marks) {
    if (lr === null) continue;
    out.push(
      `<line data-suggestion="${label}" x1="${n(sx(lr))}" y1="${top}" x2="${n(sx(lr))}" y2="${bottom}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="6 3"/>`,
    );
    legend(colour, `${label} ${formatRate(lr)}`, '6 3');
  }
  out.push('</g>');
  if (result.points.length === 0)
    out.push(
      `<text x="${n((left + right) / 2)}" y="${n((top + bottom) / 2)}" text-anchor="middle" fill="#808080">no finite loss recorded</text>`,
    );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** About five round tick values (1, 2 or 5 times a power of ten apart) from low to high. */
function ticksBetween(low: number, high: number): number[] {
  const rough = (high - low) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const spacing = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) as number;
  const ticks = [];
  for (let t = Math.ceil(low / spacing) * spacing; t <= high + 1e-12; t += spacing) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}
