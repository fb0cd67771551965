// What this machine can give a run, checked before work starts: CPU threads and memory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { UsageError } from '../sys/errors';
import * as tf from '@tensorflow/tfjs';
import { activationsPerImage } from '../model/nin';

/** Cores this process may use (the affinity mask, as OpenMP sees it). */
export function availableCores(): number {
  return os.availableParallelism();
}

/**
 * --threads beyond the cores only makes threads wait for each other (a tiny run with 999 threads did
 * not finish in minutes): capped to the cores, with a warning.
 */
export function capThreads(threads: number | null, warn: (line: string) => void): number | null {
  const cores = availableCores();
  if (threads === null || threads <= cores) return threads;
  warn(`warning: --threads ${threads} is more than the ${cores} core${cores === 1 ? '' : 's'} this process may use; using ${cores}`);
  return cores;
}

/** The memory this process may use: the machine's, or its cgroup's limit when lower. */
export function availableMemoryBytes(): number {
  let limit = os.totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const value = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value) && value > 0) limit = Math.min(limit, value);
    } catch {
      // No such cgroup file: no limit from there.
    }
  }
  return limit;
}

/**
 * Peak memory of training on a CPU backend, from NiN's activations: measured 2.6 GB at 224px, batch
 * 128 (0.84 GB of activations), i.e. about three times the activations (forward values, their
 * gradients, workspace) over a fixed ~0.5 GB (TF.js, the data set, weights and optimizer state).
 */
export const FIXED_BYTES = 0.5e9;
export const BYTES_PER_ACTIVATION = 3 * 4;

export function trainingBytes(imageSize: number, batchSize: number): number {
  return FIXED_BYTES + BYTES_PER_ACTIVATION * activationsPerImage(imageSize) * batchSize;
}

/** Refuses a run that cannot fit in memory, naming the largest batch size that does. */
export function checkTrainingMemory(imageSize: number, batchSize: number, available = availableMemoryBytes()): void {
  const needed = trainingBytes(imageSize, batchSize);
  if (needed <= available) return;
  const fits = Math.floor((available - FIXED_BYTES) / (BYTES_PER_ACTIVATION * activationsPerImage(imageSize)));
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
  const fix = fits >= 1 ? `pass --batch-size ${fits} or less` : 'pass a smaller --image-size';
  throw new UsageError(
    `--image-size ${imageSize} at --batch-size ${batchSize} needs about ${gb(needed)} of memory, this machine has ${gb(available)}; ${fix}`,
  );
}

/** What the backend can say about the device memory it allocated. */
export function gpuMemory(backend: string): { gpuBytesAllocated: number | null; gpuBytesAllocatedNote?: string } {
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

/** A benchmark's memory: the most this process held, beside nin shapes' estimate of the step's tensors. */
export interface BenchMemory {
  peakRssBytes: number; // getrusage's maxrss: the whole process (Node, TF.js, oneDNN's caches, the data)
  estimateBytes: number; // benchMemoryEstimate (model/shapes.ts): weights, gradients and activations of one SGD step
}

export function benchMemory(estimateBytes: number): BenchMemory {
  return { peakRssBytes: process.resourceUsage().maxRSS * 1024, estimateBytes };
}
