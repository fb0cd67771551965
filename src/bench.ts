// `nin bench`: training and inference images/s on synthetic input, measured as
// scripts/reference/torch_bench.py measures PyTorch (one warm-up step, then forward + backward + update only),
// and on a GPU backend the device memory TF.js allocated for it.
import * as tf from '@tensorflow/tfjs';
import { initBackend, microBatchPlan } from './backend';
import { type BackendChoice, DEFAULT_RECIPE } from './config';
import { buildNin, forward } from './model';
import { DeferredReads } from './deferred-reads';
import { deferredStep, makeTrainer } from './step';
import { mulberry32 } from './random';

export interface BenchOptions {
  imageSize: number;
  batchSize: number;
  steps: number;
  backend: BackendChoice;
  threads: number | null;
}

export interface BenchResult {
  backend: string;
  detail: string;
  imageSize: number;
  batchSize: number;
  threads: number | null;
  steps: number;
  trainImagesPerSec: number;
  inferImagesPerSec: number;
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

export async function bench(
  options: BenchOptions,
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Promise<BenchResult> {
  const backend = await initBackend(options.backend, options.threads, log);
  log(
    `bench: ${backend.name} (${backend.detail}), ${options.imageSize}px, batch ${options.batchSize}, ${options.steps} steps after a warm-up`,
  );
  const model = buildNin({ imageSize: options.imageSize, seed: 0 });
  const trainer = makeTrainer(model, tf.train.sgd(DEFAULT_RECIPE.learningRate));
  const random = mulberry32(0);
  const pixels = options.batchSize * options.imageSize * options.imageSize;
  const x = new Float32Array(pixels).map(() => random());
  const labels = new Int32Array(options.batchSize).map(() => Math.floor(random() * 10));
  try {
    // The step `nin train` takes, dropout on: the benchmark times exactly what training runs.
    const plan = microBatchPlan(backend, model, options.batchSize);
    if (plan) log(plan.note);
    // Steps are queued and their losses read back every READ_EVERY_STEPS steps, as training does:
    // on a GPU a read per step would time a drained queue per step.
    const pending = new DeferredReads(READ_EVERY_STEPS);
    const step = async (i: number) => {
      pending.push(
        deferredStep(trainer, x, labels, options.batchSize, {
          imageSize: options.imageSize,
          labelSmoothing: 0,
          weightDecay: 0,
          dropoutSeed: i,
          microBatchSize: plan?.size,
        }),
      );
      if (pending.full) await pending.take();
    };
    let t: bigint;
    try {
      await step(0); // warm-up: primitive creation, allocations
      await pending.take();
      t = process.hrtime.bigint();
      for (let i = 1; i <= options.steps; i++) await step(i);
      await pending.take();
    } finally {
      pending.dispose();
    }
    const trainSeconds = Number(process.hrtime.bigint() - t) / 1e9;

    const input = tf.tensor4d(x, [options.batchSize, options.imageSize, options.imageSize, 1]);
    const infer = async () => {
      const y = tf.tidy(() => forward(model, input, false));
      await y.data();
      y.dispose();
    };
    await infer();
    t = process.hrtime.bigint();
    for (let i = 0; i < options.steps; i++) await infer();
    const inferSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    input.dispose();
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      backend: backend.name,
      detail: backend.detail,
      imageSize: options.imageSize,
      batchSize: options.batchSize,
      threads: backend.threads,
      steps: options.steps,
      trainImagesPerSec: round((options.batchSize * options.steps) / trainSeconds),
      inferImagesPerSec: round((options.batchSize * options.steps) / inferSeconds),
      ...gpuMemory(backend.name),
    };
  } finally {
    model.dispose();
    trainer.optimizer.dispose();
  }
}
