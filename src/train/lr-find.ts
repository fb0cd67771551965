// `nin lr-find`: the learning-rate range test of fastai's lr_find and Lightning's Tuner.lr_find. A fresh
// NiN takes training steps while the rate grows exponentially; the smoothed loss against the rate says
// where learning starts, where it is fastest and where it explodes. Also draws that curve as an SVG.
import * as path from 'node:path';
import { type BackendInfo, initBackend, microBatchPlan } from '../backend';
import { type BackendChoice, DEFAULT_RECIPE, type OptimizerName, type PrecisionChoice, type Recipe } from '../config/config';
import { type Batch, batches, loadFashionMnist, type Split } from '../data/idx';
import { formatRate } from '../cli/format';
import { buildNin } from '../model/nin';
import { type Architecture, DEFAULT_ARCHITECTURE, describeArchitecture, sameArchitecture } from '../model/architecture';
import { deriveSeed } from '../sys/random';
import { checkTrainingMemory } from '../machine/resources';
import { checkOutputFile, type FileFormat } from '../sys/output-path';
import { fontFile, svgToPng } from '../report/plot';
import { renderLrFindPlot } from '../report/lr-find-plot';
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
  const nextBatch = endlessBatches(data.train, options);
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
  const result = resultOf(options, backend, range, stop.signal, started);
  if (options.out) {
    writePlot(result, options.out, format);
    result.plot = options.out;
  }
  return result;
}

/** The result of a range test: the options it ran with, its points, the suggested rates. */
function resultOf(
  options: LrFindOptions,
  backend: BackendInfo,
  range: { points: LrFindPoint[]; stoppedBy: LrFindResult['stoppedBy'] },
  signal: StopSignal | null,
  started: number,
): LrFindResult {
  const suggestions = suggestLearningRates(range.points);
  return {
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
    ...(range.stoppedBy === 'interrupted' ? { interruptedBy: signal! } : {}),
    points: range.points,
    suggestions,
    plot: null,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Training's batches in training's order (seeded, per epoch), going on into the next epoch when a small --train-limit runs out. */
function endlessBatches(train: Split, options: LrFindOptions): () => Batch {
  let epoch = 1;
  const epochBatches = () =>
    batches(train, { batchSize: options.batchSize, imageSize: options.imageSize, shuffle: true, seed: options.seed, epoch });
  let stream = epochBatches();
  return () => {
    let next = stream.next();
    if (next.done) {
      epoch++;
      stream = epochBatches();
      next = stream.next();
    }
    return next.value as Batch;
  };
}

/** The SVG of the range test's curve (report/lr-find-plot.ts), clipped where the test stops. */
export function renderLrFind(result: Parameters<typeof renderLrFindPlot>[0]): string {
  return renderLrFindPlot(result, EXPLOSION_FACTOR);
}

/** The plot of loss against rate, as SVG or PNG. */
function writePlot(result: LrFindResult, out: string, format: FileFormat | null): void {
  makeDirs(path.dirname(out));
  if (format === 'png') svgToPng(renderLrFind(result), out);
  else writeFileAtomic(out, renderLrFind(result), 'pass another --out');
}
