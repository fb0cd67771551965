// `nin bench`: training and inference images/s on synthetic input, measured as
// scripts/reference/torch_bench.py measures PyTorch (one warm-up step, then forward + backward + update only),
// and with --breakdown, where a training step's time goes; on a GPU backend, the device memory TF.js allocated.
import * as tf from '@tensorflow/tfjs';
import { initBackend, microBatchPlan, type Precision } from '../backend';
import {
  benchmarkOnednnConv,
  type Conversions,
  convShape,
  NATIVE_TIMERS,
  onednnConversions,
  onednnTimers,
  resetOnednnConversions,
  resetOnednnTimers,
  type NativeTimer,
} from '../backend/onednn';
import { type BackendChoice, DEFAULT_RECIPE, type PrecisionChoice } from '../config/config';
import { buildNin, forward } from '../model/nin';
import { type BenchMemory, benchMemory, gpuMemory } from './resources';
import { benchMemoryEstimate } from '../model/shapes';
import { type Architecture, DEFAULT_ARCHITECTURE, describeArchitecture, sameArchitecture } from '../model/architecture';
import { DeferredReads } from '../train/deferred-reads';
import { applyUpdate, deferredStep, makeTrainer, type Trainer } from '../train/step';
import { mulberry32 } from '../sys/random';
import { InterruptedError } from '../sys/errors';
import { ELAPSED, LongSteps } from '../train/long-steps';
import { type Log, stderrLog } from '../sys/log';
import { GRACE_SECONDS, type Stop, withStop } from '../sys/signals';

export interface BenchOptions {
  imageSize: number;
  batchSize: number;
  steps: number;
  backend: BackendChoice;
  threads: number | null;
  precision?: PrecisionChoice; // default fp32
  breakdown?: boolean; // also measure where a training step's time goes
  handleSignals?: boolean; // a stop signal ends the benchmark after its step, with InterruptedError
  log?: Log; // stderr lines: the banner, a backend warning (default: stderr)
  architecture?: Architecture; // which NiN (model/architecture.ts); default d2l's
}

/** One training step's mean time, in parts that add up to it (milliseconds), wall and CPU. */
export interface StepBreakdown {
  stepMs: number;
  // Every thread's CPU time over the step: on a machine other programs share, wall time includes what the scheduler
  // gave them, CPU time does not, so the CPU column compares runs on a busy machine.
  stepCpuMs: number;
  // Native work per kind (onednn only; empty elsewhere): convolutions without their boundary reorders, the
  // reorders between TF.js's layouts and oneDNN's (and float32 <-> bf16), pooling, and elementwise ops and sums
  // outside the optimizer update.
  nativeMs: Partial<Record<NativeTimer, number>>;
  nativeCpuMs: Partial<Record<NativeTimer, number>>;
  updateMs: number; // the optimizer's update of every weight, native part included
  updateCpuMs: number;
  otherMs: number; // the rest: TF.js's JS kernels (loss, one-hot, argmax), its bookkeeping, garbage collection
  otherCpuMs: number;
  // Tensors converted per step (onednn only): into TF.js's float32 values for JavaScript, or from one native layout
  // (or precision) into another for a kernel that reads another; what layout propagation leaves.
  conversionsPerStep: Conversions | null;
  convGflopPerStep: number; // the convolutions' arithmetic in one step: forward, input and weight gradients
  convGflopPerSec: number | null; // what the convolution kernels reach (onednn only)
  convPeak: ConvPeak | null; // the fastest single layer, timed alone at start (onednn only)
  convPeakFraction: number | null; // convGflopPerSec / convPeak's rate
  stepPeakFraction: number | null; // the whole step's rate (convolution arithmetic / step time) / convPeak's rate
  // The same two fractions in CPU time (the peak's fastest CPU time against the step's): what they would be on a
  // quiet machine when the wall-time ones are measured on a busy one (equal on a quiet one, less any spinning).
  convPeakFractionCpu: number | null;
  stepPeakFractionCpu: number | null;
}

/** The peak the convolutions are held against: the fastest of the model's layers, each timed alone. */
export interface ConvPeak {
  gflopPerSec: number;
  gflopPerCpuSec: number; // the same arithmetic per second of CPU time (every thread's)
  layer: string; // the layer that reached it
  implementation: string; // oneDNN's kernel, e.g. "brgconv:avx512_core_amx_bf16"
}

export interface BenchResult {
  backend: string;
  detail: string;
  precision: Precision;
  isa: string | null;
  imageSize: number;
  batchSize: number;
  threads: number | null;
  steps: number;
  trainImagesPerSec: number;
  inferImagesPerSec: number;
  breakdown?: StepBreakdown;
  // The most device memory the backend allocated (TF.js's webgpu buffer pool, which keeps every
  // buffer it created for reuse, so its size is its high-water mark); null with the reason elsewhere.
  gpuBytesAllocated: number | null;
  gpuBytesAllocatedNote?: string;
  memory: BenchMemory;
}

/** Read back every this many steps, as `nin train` does when no progress line asks sooner. */
const READ_EVERY_STEPS = 32;

/**
 * Floating-point operations of a model's convolutions per image: 2 per multiply-add, times three in training
 * (forward, input gradient, weight gradient), less the first layer's input gradient, which is never computed.
 */
export function convFlopsPerImage(model: tf.LayersModel): { forward: number; training: number } {
  let forwardFlops = 0;
  let firstLayer = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const [kh, kw, inChannels, outChannels] = layer.getWeights()[0].shape;
    const [, outHeight, outWidth] = layer.outputShape as number[];
    const flops = 2 * outHeight * outWidth * outChannels * kh * kw * inChannels;
    if (forwardFlops === 0) firstLayer = flops;
    forwardFlops += flops;
  }
  return { forward: forwardFlops, training: 3 * forwardFlops - firstLayer };
}

const round = (v: number) => Math.round(v * 100) / 100;

export async function bench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? stderrLog;
  return withStop(options.handleSignals, { acknowledge: 'stopping after this step', kept: 'no result' }, log, (stop) =>
    benchWith(options, log, stop),
  );
}

async function benchWith(options: BenchOptions, log: Log, stop: Stop): Promise<BenchResult> {
  const backend = await initBackend(options.backend, options.threads, log, options.precision ?? 'fp32');
  const architecture = options.architecture ?? DEFAULT_ARCHITECTURE;
  const variant = sameArchitecture(architecture, DEFAULT_ARCHITECTURE) ? '' : `, ${describeArchitecture(architecture)}`;
  log(
    `bench: ${backend.name} (${backend.detail})${variant}, ${options.imageSize}px, batch ${options.batchSize}, ${options.steps} steps after a warm-up`,
  );
  const model = buildNin({ imageSize: options.imageSize, seed: 0, architecture });
  const trainer = makeTrainer(model, tf.train.sgd(DEFAULT_RECIPE.learningRate));
  const random = mulberry32(0);
  const pixels = options.batchSize * options.imageSize * options.imageSize;
  const x = new Float32Array(pixels).map(() => random());
  const labels = new Int32Array(options.batchSize).map(() => Math.floor(random() * 10));
  const native = backend.name === 'onednn';
  // A pure-JS step at 224px takes hours: guarded, with a line every 30 s while one runs (long-steps.ts).
  const timing: Timing = {
    what: 'warm-up step',
    stop,
    steps: new LongSteps(stop, backend.name, () => ({
      text: `bench: ${timing.what} running for ${ELAPSED}`,
      terminal: false,
      everySeconds: 30,
    })),
  };
  try {
    const trained = await timeTraining(options, log, timing, { backend, model, trainer, x, labels, native });
    const breakdown = options.breakdown
      ? measureBreakdown(
          trainer,
          options,
          { seconds: trained.seconds, cpuSeconds: trained.cpuSeconds },
          trained.stepTimes,
          trained.conversions,
        )
      : undefined;
    const inferSeconds = await timeInference(options, timing, model, x);
    return {
      backend: backend.name,
      detail: backend.detail,
      precision: backend.precision,
      isa: backend.isa,
      imageSize: options.imageSize,
      batchSize: options.batchSize,
      threads: backend.threads,
      steps: options.steps,
      trainImagesPerSec: round((options.batchSize * options.steps) / trained.seconds),
      inferImagesPerSec: round((options.batchSize * options.steps) / inferSeconds),
      ...(breakdown ? { breakdown } : {}),
      ...gpuMemory(backend.name),
      memory: benchMemory(benchMemoryEstimate({ ...options, precision: backend.precision, architecture }).bytes),
    };
  } finally {
    timing.steps.close();
    model.dispose();
    trainer.optimizer.dispose();
  }
}

/** What the timed loops share: the step being timed (for the heartbeat and a stop's words), the guard and the stop. */
interface Timing {
  what: string;
  steps: LongSteps;
  stop: Stop;
}

/** A stop point after each step: the timings of a stopped benchmark are no result. */
async function stopPoint(timing: Timing): Promise<void> {
  if (await timing.stop.point()) throw new InterruptedError(timing.stop.signal!, `no result (bench stopped during its ${timing.what}s)`);
}

interface TrainingSetup {
  backend: Awaited<ReturnType<typeof initBackend>>;
  model: tf.LayersModel;
  trainer: Trainer;
  x: Float32Array;
  labels: Int32Array;
  native: boolean;
}

/** A warm-up step, then `options.steps` timed training steps: wall and CPU seconds, and the native timers' parts. */
async function timeTraining(options: BenchOptions, log: Log, timing: Timing, setup: TrainingSetup) {
  const { backend, model, trainer, x, labels, native } = setup;
  // The step `nin train` takes, dropout on: the benchmark times exactly what training runs.
  const plan = microBatchPlan(backend, model, options.batchSize);
  if (plan) log(plan.note);
  // Steps are queued and their losses read back every READ_EVERY_STEPS steps, as training does:
  // on a GPU a read per step would time a drained queue per step.
  // A slow GPU (a software adapter) reads sooner: a stop waits for what is queued (signals.ts).
  const pending = new DeferredReads(READ_EVERY_STEPS, GRACE_SECONDS / 4);
  const step = async (i: number) => {
    pending.push(
      await timing.steps.run(() =>
        deferredStep(trainer, x, labels, options.batchSize, {
          imageSize: options.imageSize,
          labelSmoothing: 0,
          weightDecay: 0,
          dropoutSeed: i,
          microBatchSize: plan?.size,
        }),
      ),
    );
    if (pending.full) await pending.take();
    await stopPoint(timing);
  };
  let t: bigint;
  let cpu: NodeJS.CpuUsage;
  try {
    await step(0); // warm-up: primitive creation, allocations
    await pending.take();
    // The native timers run always (a clock read per kernel), so the timed steps are the measured ones.
    if (native) {
      resetOnednnTimers();
      resetOnednnConversions();
    }
    cpu = process.cpuUsage();
    timing.what = 'training step';
    t = process.hrtime.bigint();
    for (let i = 1; i <= options.steps; i++) await step(i);
    await pending.take();
  } finally {
    pending.dispose();
  }
  return {
    seconds: Number(process.hrtime.bigint() - t) / 1e9,
    cpuSeconds: cpuSecondsSince(cpu),
    stepTimes: native ? onednnTimers() : null,
    conversions: native ? onednnConversions() : null,
  };
}

/** A warm-up forward pass, then `options.steps` timed ones (dropout off, as prediction runs): seconds. */
async function timeInference(options: BenchOptions, timing: Timing, model: tf.LayersModel, x: Float32Array): Promise<number> {
  const input = tf.tensor4d(x, [options.batchSize, options.imageSize, options.imageSize, 1]);
  try {
    timing.what = 'inference step';
    const infer = async () => {
      const y = await timing.steps.run(() => tf.tidy(() => forward(model, input, false)));
      await y.data();
      y.dispose();
      await stopPoint(timing);
    };
    await infer();
    const t = process.hrtime.bigint();
    for (let i = 0; i < options.steps; i++) await infer();
    return Number(process.hrtime.bigint() - t) / 1e9;
  } finally {
    input.dispose();
  }
}

/** CPU seconds of every thread of this process since `start` (process.cpuUsage()). */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1e6;
}

/** Repetitions of each layer in the peak measurement: the fastest counts, so a busy machine needs several. */
const PEAK_REPETITIONS = 5;

/**
 * The convolutions' peak on this machine, threads and precision: each distinct convolution of the model timed alone
 * (forward, in the layouts oneDNN prefers, nothing reordered), the fastest rate any reaches. Measured, not a
 * constant: it differs by CPU (AMX, AVX512-BF16, AVX-512) and precision by an order of magnitude.
 */
function measureConvPeak(model: tf.LayersModel, batchSize: number): ConvPeak | null {
  let peak: ConvPeak | null = null;
  const seen = new Set<string>();
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const config = layer.getConfig() as { strides: [number, number]; padding: 'valid' | 'same' };
    const [, height, width, channels] = (layer.input as tf.SymbolicTensor).shape as number[];
    const filterShape = layer.getWeights()[0].shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo([batchSize, height, width, channels], filterShape, config.strides, 1, config.padding);
    const shape = convShape(info);
    const key = JSON.stringify(shape);
    if (seen.has(key)) continue;
    seen.add(key);
    const result = benchmarkOnednnConv(shape, PEAK_REPETITIONS);
    if (result === null) continue;
    const flops = 2 * info.outHeight * info.outWidth * info.outChannels * info.filterHeight * info.filterWidth * info.inChannels;
    const rate = (flops * batchSize) / result.seconds / 1e9;
    if (peak === null || rate > peak.gflopPerSec) {
      const cpuRate = (flops * batchSize) / result.cpuSeconds / 1e9;
      peak = { gflopPerSec: round(rate), gflopPerCpuSec: round(cpuRate), layer: layer.name, implementation: result.implementation };
    }
  }
  return peak;
}

/**
 * Splits the timed steps' mean time: native work from the addon's timers over those steps; the optimizer update
 * timed alone afterwards, as many times, on zero gradients (plain SGD runs the same kernels whatever the gradient,
 * and w - lr * 0 leaves the weights as they were); the rest is what neither accounts for. Then the convolutions'
 * peak (measureConvPeak), which the step's convolutions and the whole step are held against.
 */
function measureBreakdown(
  trainer: Trainer,
  options: BenchOptions,
  train: { seconds: number; cpuSeconds: number },
  stepTimes: ReturnType<typeof onednnTimers> | null,
  conversions: Conversions | null,
): StepBreakdown {
  const steps = options.steps;
  const zeros: tf.NamedTensorMap = Object.fromEntries(trainer.variables.map((v) => [v.name, tf.zerosLike(v)]));
  if (stepTimes) resetOnednnTimers();
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) applyUpdate(trainer, zeros, 0);
  const updateSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  const updateCpuSeconds = cpuSecondsSince(cpu);
  const updateTimes = stepTimes ? onednnTimers() : null;
  tf.dispose(Object.values(zeros));

  const ms = (seconds: number) => round((1000 * seconds) / steps);
  const nativeMs: Partial<Record<NativeTimer, number>> = {};
  const nativeCpuMs: Partial<Record<NativeTimer, number>> = {};
  let nativeSeconds = 0;
  let nativeCpuSeconds = 0;
  if (stepTimes && updateTimes) {
    for (const name of NATIVE_TIMERS) {
      // The update's own native work (elementwise) is counted in updateMs, not twice.
      const seconds = Math.max(0, stepTimes[name].seconds - updateTimes[name].seconds);
      const cpuSeconds = Math.max(0, stepTimes[name].cpuSeconds - updateTimes[name].cpuSeconds);
      nativeMs[name] = ms(seconds);
      nativeCpuMs[name] = ms(cpuSeconds);
      nativeSeconds += seconds;
      nativeCpuSeconds += cpuSeconds;
    }
  }
  const flops = convFlopsPerImage(trainer.model).training * options.batchSize;
  const convSeconds = stepTimes
    ? stepTimes.convForward.seconds + stepTimes.convBackwardData.seconds + stepTimes.convBackwardWeights.seconds
    : 0;
  const convGflopPerSec = convSeconds > 0 ? (flops * steps) / convSeconds / 1e9 : null;
  const convCpuSeconds = stepTimes
    ? stepTimes.convForward.cpuSeconds + stepTimes.convBackwardData.cpuSeconds + stepTimes.convBackwardWeights.cpuSeconds
    : 0;
  const convPeak = stepTimes ? measureConvPeak(trainer.model, options.batchSize) : null;
  const stepGflopPerSec = (flops * steps) / train.seconds / 1e9;
  return {
    stepMs: ms(train.seconds),
    stepCpuMs: ms(train.cpuSeconds),
    nativeMs,
    nativeCpuMs,
    updateMs: ms(updateSeconds),
    updateCpuMs: ms(updateCpuSeconds),
    otherMs: ms(Math.max(0, train.seconds - nativeSeconds - updateSeconds)),
    otherCpuMs: ms(Math.max(0, train.cpuSeconds - nativeCpuSeconds - updateCpuSeconds)),
    conversionsPerStep:
      conversions === null
        ? null
        : { toJavaScript: round(conversions.toJavaScript / steps), betweenLayouts: round(conversions.betweenLayouts / steps) },
    convGflopPerStep: round(flops / 1e9),
    convGflopPerSec: convGflopPerSec === null ? null : round(convGflopPerSec),
    convPeak,
    convPeakFraction: convPeak && convGflopPerSec !== null ? round(convGflopPerSec / convPeak.gflopPerSec) : null,
    stepPeakFraction: convPeak ? round(stepGflopPerSec / convPeak.gflopPerSec) : null,
    convPeakFractionCpu: convPeak && convCpuSeconds > 0 ? round((flops * steps) / convCpuSeconds / 1e9 / convPeak.gflopPerCpuSec) : null,
    stepPeakFractionCpu: convPeak ? round((flops * steps) / train.cpuSeconds / 1e9 / convPeak.gflopPerCpuSec) : null,
  };
}
