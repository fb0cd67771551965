// How long a run takes on this machine, said before its first batch. A warm-up times a training step of a
// few images at the run's image size, on its backend and in its precision, on a throwaway NiN: one step
// to create the kernels, primitives or shaders, one timed. A step costs a fixed part (TF.js's ~200 kernel
// calls, the weight update, weight copies: 15-20 ms on onednn) and a part per image. Where the step is
// long (224px: a batch of 8 and one of 128 cost the same per image, within the noise of a shared machine)
// the fixed part is lost in it, and 8 images scaled to the run's batch say its time for about a tenth of
// one of its batches; where the scaled step is a second or less (96px on onednn: 8 images scaled put a
// batch of 64 at 2.3x its time), the run's own batch is timed as well, for a second or two. A run of two
// batches does not take noticeably longer. For a run of ten minutes or more, each faster route the run does
// not already take is timed the same way, so its factor is this machine's: bf16 (--precision auto) on a CPU
// with AVX512-BF16 or AMX, 96px (--image-size 96, about a fifth of 224px's work) and --recipe best (96px,
// better accuracy in 10 epochs). The progress line's ETA refines the estimate once the run's own batches
// are timed.
//
// The pure-JS cpu backend takes minutes for one step at 67px and hours at 224px, so its warm-up is one
// image at 67px, scaled by the convolutions' arithmetic to the run's size (its kernels are plain loops:
// time follows the arithmetic), and only for a run that is not itself about that short.
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../backend';
import { clearOnednnCache, onednnStatus, setOnednnConvPrecision } from '../backend/onednn/addon';
import { convFlopsPerImage } from '../machine/bench';
import type { TrainConfig } from '../config/config';
import { MIN_IMAGE_SIZE, buildNin } from '../model/nin';
import { type Architecture, architectureOf } from '../model/architecture';
import { mulberry32 } from '../sys/random';
import { deferredStep, hostImageSize, makeTrainer } from './step';

/** Below this estimate, the faster routes are not worth their warm-up or a line. */
const ROUTES_FROM_SECONDS = 600;
/** Images in a warm-up step: the run's batch when smaller. */
const WARMUP_BATCH = 8;
/** A step the warm-up puts at this many seconds or less is timed again at the run's batch (see the top). */
const FULL_BATCH_UP_TO_SECONDS = 1;
/** The cpu backend's warm-up (one 67px image) is left out of runs smaller than this many such images. */
const CPU_WARMUP_FROM_IMAGES = 50;
/** How much faster the onednn backend trains than the pure-JS one: 130 vs 0.06 images/s at 67px, batch 16 vs 4, here (2 cores). */
const ONEDNN_OVER_CPU = 2000;
/** A test batch runs forward only: about a third of a training step (as progress.ts counts it). */
const TEST_BATCH_SHARE = 1 / 3;

/** What is left of a run. */
export interface RunWork {
  trainSteps: number; // training batches still to run
  testBatches: number; // test (and validation) batches still to run, over all remaining epochs
  trainImages: number; // images those training batches hold
}

/** "~40 s", "~12 min", "~3.4 h", "~9 days", "~8.3 years" (the pure-JS backend at 224px). */
export function aboutDuration(seconds: number): string {
  if (seconds < 90) return `~${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `~${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `~${(seconds / 3600).toFixed(1)} h`;
  if (seconds < 730 * 86400) return `~${Math.round(seconds / 86400)} days`;
  return `~${(seconds / (365 * 86400)).toFixed(1)} years`;
}

/**
 * Seconds a training step of `batchSize` images at `imageSize` takes on a throwaway NiN: WARMUP_BATCH images timed
 * (after a step that sets up) and scaled, or, when that puts the step at FULL_BATCH_UP_TO_SECONDS or less, the
 * run's batch timed the same way.
 */
async function stepSeconds(imageSize: number, batchSize: number, architecture: Architecture): Promise<number> {
  const model = buildNin({ imageSize, seed: 0, architecture });
  const trainer = makeTrainer(model, tf.train.sgd(0.01));
  const inputSize = hostImageSize(imageSize);
  const random = mulberry32(0);
  const timed = async (batch: number, tries: number) => {
    const x = new Float32Array(batch * inputSize * inputSize).map(() => random());
    const labels = new Int32Array(batch).map(() => Math.floor(random() * 10));
    const step = async (i: number) => {
      const options = { imageSize, inputSize, labelSmoothing: 0, weightDecay: 0, dropoutSeed: i };
      const metrics = deferredStep(trainer, x, labels, batch, options);
      await metrics.data(); // a GPU's step has finished only when its result is read
      metrics.dispose();
    };
    await step(0);
    let seconds = Infinity;
    for (let i = 1; i <= tries; i++) {
      const started = process.hrtime.bigint();
      await step(i);
      seconds = Math.min(seconds, Number(process.hrtime.bigint() - started) / 1e9);
    }
    return seconds;
  };
  try {
    const small = Math.min(batchSize, WARMUP_BATCH);
    const scaled = ((await timed(small, 1)) / small) * batchSize;
    // The run's batch, a second or less: the faster of two steps (one alone swung by 1.4x between runs here, the
    // 96px route printed 8.3x, then 6.0x).
    return small === batchSize || scaled > FULL_BATCH_UP_TO_SECONDS ? scaled : await timed(batchSize, 2);
  } finally {
    model.dispose();
    trainer.optimizer.dispose();
  }
}

function trainingFlops(imageSize: number, architecture: Architecture): number {
  const model = buildNin({ imageSize, seed: 0, architecture });
  try {
    return convFlopsPerImage(model).training;
  } finally {
    model.dispose();
  }
}

/**
 * The estimate line for what is left of a run, or null for a tiny run on the cpu backend. `guard` runs
 * each timed step (signals.ts: a long step stays stoppable).
 */
export async function estimateRun(
  config: TrainConfig,
  backend: BackendInfo,
  work: RunWork,
  guard: <T>(step: () => Promise<T>) => Promise<T>,
): Promise<string | null> {
  if (backend.name === 'cpu') return estimateCpu(config, work, guard);
  const perStep = await guard(() => stepSeconds(config.imageSize, config.batchSize, architectureOf(config)));
  const total = perStep * (work.trainSteps + TEST_BATCH_SHARE * work.testBatches);
  const line = `estimate: ${aboutDuration(total)} here (${perStep < 10 ? perStep.toFixed(2) : Math.round(perStep)} s a batch of ${config.batchSize})`;
  if (total < ROUTES_FROM_SECONDS) return line;
  const routes = await fasterRoutes(config, backend, perStep, guard);
  return routes.length ? `${line}; faster here: ${routes.join(', ')}` : line;
}

/** Each faster route the run does not take yet, with its factor timed on this machine. */
async function fasterRoutes(
  config: TrainConfig,
  backend: BackendInfo,
  perStep: number,
  guard: <T>(step: () => Promise<T>) => Promise<T>,
): Promise<string[]> {
  const routes: string[] = [];
  const factor = (seconds: number) => `${(perStep / seconds).toFixed(1)}x`;
  const batch = config.batchSize;
  const onednn = backend.name === 'onednn';
  try {
    if (onednn && backend.precision === 'fp32' && onednnStatus().nativeBf16) {
      setOnednnConvPrecision('bf16');
      try {
        routes.push(`--precision auto ${factor(await guard(() => stepSeconds(config.imageSize, batch, architectureOf(config))))}`);
      } finally {
        setOnednnConvPrecision(backend.precision);
      }
    }
    if (config.imageSize > 96) {
      const small = factor(await guard(() => stepSeconds(96, batch, architectureOf(config))));
      routes.push(`--image-size 96 ${small}`);
      // --recipe best is 96px too; suggested unless the run already starts as it does.
      if (config.kernelInit !== 'he' || config.classBias === null)
        routes.push(`--recipe best ${small} (96px, ~0.92 test acc in 10 epochs)`);
    }
  } finally {
    // The throwaway steps' primitives (bf16 ones among them) are not the run's: their memory goes back.
    if (onednn) clearOnednnCache();
  }
  return routes;
}

/** The pure-JS backend: one 67px image timed, scaled to the run by the convolutions' arithmetic. */
async function estimateCpu(config: TrainConfig, work: RunWork, guard: <T>(step: () => Promise<T>) => Promise<T>): Promise<string | null> {
  const architecture = architectureOf(config);
  const perImageFlops = trainingFlops(config.imageSize, architecture);
  const warmupFlops = trainingFlops(MIN_IMAGE_SIZE, architecture);
  const runFlops = perImageFlops * (work.trainImages + TEST_BATCH_SHARE * work.testBatches * config.batchSize);
  if (runFlops < CPU_WARMUP_FROM_IMAGES * warmupFlops) return null;
  const model = buildNin({ imageSize: MIN_IMAGE_SIZE, seed: 0, architecture });
  const trainer = makeTrainer(model, tf.train.sgd(0.01));
  const x = new Float32Array(MIN_IMAGE_SIZE * MIN_IMAGE_SIZE).fill(0.5);
  let seconds: number;
  try {
    const started = process.hrtime.bigint();
    await guard(async () => {
      const options = { imageSize: MIN_IMAGE_SIZE, labelSmoothing: 0, weightDecay: 0, dropoutSeed: 0 };
      deferredStep(trainer, x, new Int32Array(1), 1, options).dispose();
    });
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    model.dispose();
    trainer.optimizer.dispose();
  }
  const imagesPerSec = warmupFlops / perImageFlops / seconds;
  const total = runFlops / perImageFlops / imagesPerSec;
  const fix = onednnStatus().available ? '--backend onednn is' : 'the onednn backend (apt-get install libdnnl-dev, then npm rebuild) is';
  return `estimate: ${aboutDuration(total)} here: the cpu backend's pure-JS kernels train ~${imagesPerSec.toPrecision(2)} images/s at ${config.imageSize}px; ${fix} ~${ONEDNN_OVER_CPU.toLocaleString('en-US')}x faster`;
}
