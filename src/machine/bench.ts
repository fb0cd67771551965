// `nin bench`: training and inference images/s on synthetic input, measured as
// scripts/reference/torch_bench.py measures PyTorch (one warm-up step, then forward + backward + update only),
// and with --breakdown, where a training step's time goes; on a GPU backend, the device memory TF.js allocated.
import * as tf from '@tensorflow/tfjs';
import { initBackend, microBatchPlan, type Precision } from '../backend';
import { NATIVE_TIMERS, onednnTimers, resetOnednnTimers, type NativeTimer } from '../backend/onednn';
import { type BackendChoice, DEFAULT_RECIPE, type PrecisionChoice } from '../config/config';
import { buildNin, forward } from '../model/nin';
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

/** One training step's mean time, in parts that add up to it (milliseconds). */
export interface StepBreakdown {
  stepMs: number;
  // Native work per kind (onednn only; empty elsewhere): convolutions without their boundary reorders, the
  // reorders between TF.js's layouts and oneDNN's (and float32 <-> bf16), pooling, and elementwise ops and sums
  // outside the optimizer update.
  nativeMs: Partial<Record<NativeTimer, number>>;
  updateMs: number; // the optimizer's update of every weight, native part included
  otherMs: number; // the rest: TF.js's JS kernels (loss, one-hot, argmax), its bookkeeping, garbage collection
  convGflopPerStep: number; // the convolutions' arithmetic in one step: forward, input and weight gradients
  convGflopPerSec: number | null; // what the convolution kernels reach (onednn only)
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
}

/** Read back every this many steps, as `nin train` does when no progress line asks sooner. */
const READ_EVERY_STEPS = 32;

/** What the backend can say about the device memory it allocated. */
function gpuMemory(backend: string): Pick<BenchResult, 'gpuBytesAllocated' | 'gpuBytesAllocatedNote'> {
  const memory = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
  if (typeof memory.numBytesAllocatedInGPU === 'number') return { gpuBytesAllocated: memory.numBytesAllocatedInGPU };
  return {
    gpuBytesAllocated: null,
    gpuBytesAllocatedNote:
      backend === 'tensorflow'
        ? 'libtensorflow does not report device memory to TF.js (nvidia-smi does)'
        : `${backend} runs on the CPU: no device memory`,
  };
}

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
  let what = 'warm-up step';
  const steps = new LongSteps(stop, backend.name, () => ({
    text: `bench: ${what} running for ${ELAPSED}`,
    terminal: false,
    everySeconds: 30,
  }));
  // A stop point after each step: the timings of a stopped benchmark are no result.
  const stopPoint = async () => {
    if (await stop.point()) throw new InterruptedError(stop.signal!, `no result (bench stopped during its ${what}s)`);
  };
  try {
    // The step `nin train` takes, dropout on: the benchmark times exactly what training runs.
    const plan = microBatchPlan(backend, model, options.batchSize);
    if (plan) log(plan.note);
    // Steps are queued and their losses read back every READ_EVERY_STEPS steps, as training does:
    // on a GPU a read per step would time a drained queue per step.
    // A slow GPU (a software adapter) reads sooner: a stop waits for what is queued (signals.ts).
    const pending = new DeferredReads(READ_EVERY_STEPS, GRACE_SECONDS / 4);
    const step = async (i: number) => {
      pending.push(
        await steps.run(() =>
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
      await stopPoint();
    };
    let t: bigint;
    try {
      await step(0); // warm-up: primitive creation, allocations
      await pending.take();
      // The native timers run always (a clock read per kernel), so the timed steps are the measured ones.
      if (native) resetOnednnTimers();
      what = 'training step';
      t = process.hrtime.bigint();
      for (let i = 1; i <= options.steps; i++) await step(i);
      await pending.take();
    } finally {
      pending.dispose();
    }
    const trainSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const stepTimes = native ? onednnTimers() : null;
    const breakdown = options.breakdown ? measureBreakdown(trainer, options, trainSeconds, stepTimes) : undefined;

    const input = tf.tensor4d(x, [options.batchSize, options.imageSize, options.imageSize, 1]);
    what = 'inference step';
    const infer = async () => {
      const y = await steps.run(() => tf.tidy(() => forward(model, input, false)));
      await y.data();
      y.dispose();
      await stopPoint();
    };
    await infer();
    t = process.hrtime.bigint();
    for (let i = 0; i < options.steps; i++) await infer();
    const inferSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    input.dispose();
    return {
      backend: backend.name,
      detail: backend.detail,
      precision: backend.precision,
      isa: backend.isa,
      imageSize: options.imageSize,
      batchSize: options.batchSize,
      threads: backend.threads,
      steps: options.steps,
      trainImagesPerSec: round((options.batchSize * options.steps) / trainSeconds),
      inferImagesPerSec: round((options.batchSize * options.steps) / inferSeconds),
      ...(breakdown ? { breakdown } : {}),
      ...gpuMemory(backend.name),
    };
  } finally {
    steps.close();
    model.dispose();
    trainer.optimizer.dispose();
  }
}

/**
 * Splits the timed steps' mean time: native work from the addon's timers over those steps; the optimizer update
 * timed alone afterwards, as many times, on zero gradients (plain SGD runs the same kernels whatever the gradient,
 * and w - lr * 0 leaves the weights as they were); the rest is what neither accounts for.
 */
function measureBreakdown(
  trainer: Trainer,
  options: BenchOptions,
  trainSeconds: number,
  stepTimes: ReturnType<typeof onednnTimers> | null,
): StepBreakdown {
  const steps = options.steps;
  const zeros: tf.NamedTensorMap = Object.fromEntries(trainer.variables.map((v) => [v.name, tf.zerosLike(v)]));
  if (stepTimes) resetOnednnTimers();
  const t = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) applyUpdate(trainer, zeros, 0);
  const updateSeconds = Number(process.hrtime.bigint() - t) / 1e9;
  const updateTimes = stepTimes ? onednnTimers() : null;
  tf.dispose(Object.values(zeros));

  const ms = (seconds: number) => round((1000 * seconds) / steps);
  const nativeMs: Partial<Record<NativeTimer, number>> = {};
  let nativeSeconds = 0;
  if (stepTimes && updateTimes) {
    for (const name of NATIVE_TIMERS) {
      // The update's own native work (elementwise) is counted in updateMs, not twice.
      const seconds = Math.max(0, stepTimes[name].seconds - updateTimes[name].seconds);
      nativeMs[name] = ms(seconds);
      nativeSeconds += seconds;
    }
  }
  const flops = convFlopsPerImage(trainer.model).training * options.batchSize;
  const convSeconds = stepTimes
    ? stepTimes.convForward.seconds + stepTimes.convBackwardData.seconds + stepTimes.convBackwardWeights.seconds
    : 0;
  return {
    stepMs: ms(trainSeconds),
    nativeMs,
    updateMs: ms(updateSeconds),
    otherMs: ms(Math.max(0, trainSeconds - nativeSeconds - updateSeconds)),
    convGflopPerStep: round(flops / 1e9),
    convGflopPerSec: convSeconds > 0 ? round((flops * steps) / convSeconds / 1e9) : null,
  };
}
