// Which engine runs the math: picks and initialises a TF.js backend, and says why when one is missing.
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice, PrecisionChoice } from '../config/config';
import { NinError, UsageError } from '../sys/errors';
import { type Log, stderrLog } from '../sys/log';
import { capThreads } from '../machine/resources';
import { loadTensorflow, tensorflowLoadError, tensorflowOnGpu } from './tensorflow';
import { onednnStatus, registerOnednnBackend, setOnednnConvPrecision, setOnednnThreads, onednnThreads, type OnednnStatus } from './onednn';
import {
  adapterName,
  largestTensorBytesPerImage,
  planMicroBatches,
  probeAdapters,
  startWebgpu,
  stopWebgpu,
  type MicroBatchPlan,
} from './webgpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'tensorflow', 'onednn', 'cpu'];
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['fp32', 'bf16', 'auto'];
export type Precision = 'fp32' | 'bf16';

export interface BackendInfo {
  name: string; // the TF.js backend name in use: webgpu, tensorflow, onednn or cpu
  detail: string; // e.g. "NVIDIA H200 (nvidia, hopper)", "tfjs-node-gpu", "oneDNN 2.6.3, 2 threads", "pure-JS kernels"
  threads: number | null;
  maxTensorBytes: number | null; // the largest tensor one kernel may bind (webgpu); null: no such limit
  precision: Precision; // what the convolutions compute in (bf16: onednn only)
  isa: string | null; // the instruction set oneDNN dispatches to (onednn), e.g. avx512_core_bf16
}

export interface BackendAvailability {
  name: 'webgpu' | 'tensorflow' | 'onednn' | 'cpu';
  available: boolean;
  detail: string; // what it is, or why not and how to get it
}

export async function backendAvailability(): Promise<BackendAvailability[]> {
  const tfPkg = loadTensorflow();
  const onednn = onednnStatus();
  const webgpu = await probeAdapters();
  const gpu = webgpu.adapters.find((a) => a.type === 'gpu');
  const software = webgpu.adapters.find((a) => a.type === 'software');
  return [
    {
      name: 'webgpu',
      available: webgpu.adapters.length > 0,
      detail: gpu
        ? adapterName(gpu)
        : software
          ? `software adapter only (${adapterName(software)}): used with --backend webgpu, never by auto`
          : (webgpu.problem ?? 'no adapter'),
    },
    {
      name: 'tensorflow',
      available: tfPkg !== null,
      detail:
        tfPkg ??
        'not installed (needs libtensorflow: npm install @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node where its download works)',
    },
    {
      name: 'onednn',
      available: onednn.available,
      detail: onednn.available
        ? `oneDNN ${onednn.version ?? ''} on ${onednn.isa}, ${onednn.nativeBf16 ? 'bf16 native (--precision auto uses it)' : 'no native bf16 (--precision auto stays fp32)'}`
        : (onednn.reason ?? 'unavailable'),
    },
    { name: 'cpu', available: true, detail: 'TF.js pure-JS kernels (slow: for tests and tiny runs)' },
  ];
}

const SLOW_WARNING = 'warning: using TF.js pure-JS kernels, about 2,700x slower than PyTorch';

/**
 * Initialises the chosen backend. `auto` prefers a GPU: webgpu on a hardware adapter (never a
 * software one such as lavapipe), else tfjs-node-gpu on a CUDA device; then onednn if built, else the
 * pure-JS cpu backend with a one-line warning on stderr.
 */
export async function initBackend(
  choice: BackendChoice,
  threads: number | null,
  warn: Log = stderrLog,
  precisionChoice: PrecisionChoice = 'fp32',
): Promise<BackendInfo> {
  // Production mode skips TF.js's debug checks and its "install tfjs-node" banner; we print our own warning.
  tf.enableProdMode();
  threads = capThreads(threads, warn);
  let name: 'webgpu' | 'tensorflow' | 'onednn' | 'cpu';
  if (choice === 'auto') {
    if ((await probeAdapters()).adapters.some((a) => a.type === 'gpu')) {
      resolvePrecision(precisionChoice, 'webgpu', onednnStatus()); // --precision bf16 is a usage error here too
      try {
        return await initWebgpu(true);
      } catch (err) {
        if (!(err instanceof NinError)) throw err;
        warn(`warning: ${err.message}; not using the GPU`);
      }
    }
    if (await tensorflowOnGpu()) name = 'tensorflow';
    else if (onednnStatus().available) name = 'onednn';
    else {
      // The reason names the fix (install libdnnl-dev, then npm rebuild).
      warn(`${SLOW_WARNING}; ${onednnStatus().reason ?? 'the oneDNN addon is not built: apt-get install libdnnl-dev, then npm rebuild'}`);
      name = 'cpu';
    }
  } else name = choice;
  // Checked before any engine starts, so a wrong combination costs nothing.
  const precision = resolvePrecision(precisionChoice, name, onednnStatus());

  if (name === 'webgpu') return initWebgpu(false);
  if (name === 'tensorflow') {
    const pkg = loadTensorflow();
    if (!pkg)
      throw new NinError(
        `--backend tensorflow needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, which did not load (${tensorflowLoadError()}); use --backend onednn or auto`,
      );
    await tf.setBackend('tensorflow');
    return { name, detail: pkg.replace('@tensorflow/', ''), threads: null, maxTensorBytes: null, precision, isa: null };
  }
  if (name === 'onednn') {
    const status = onednnStatus();
    if (!status.available) throw new NinError(`--backend onednn is unavailable: ${status.reason}`);
    registerOnednnBackend();
    if (threads !== null) setOnednnThreads(threads);
    // Process-wide in the addon: set on every start, so a later fp32 start after a bf16 one computes in fp32.
    setOnednnConvPrecision(precision);
    await tf.setBackend('onednn');
    const n = onednnThreads();
    return {
      name,
      detail: `oneDNN ${status.version ?? ''}, ${n} thread${n === 1 ? '' : 's'}, ${precision} on ${status.isa}`.replace(' ,', ','),
      threads: n,
      maxTensorBytes: null,
      precision,
      isa: status.isa ?? null,
    };
  }
  await tf.setBackend('cpu');
  return { name, detail: 'TF.js pure-JS kernels', threads: 1, maxTensorBytes: null, precision, isa: null };
}

/**
 * What the convolutions compute in. bf16 exists on onednn only (TF.js's other kernels have no bf16), and only
 * where the CPU has bf16 instructions (AVX512-BF16 or AMX): oneDNN 2.6 emulates bf16 on plain AVX-512, slower
 * than float32, and rejects it below. `auto` takes bf16 wherever it is native, as the issue that added it asks
 * once bf16 trains as float32 does: one NiN step's loss agrees within 1e-2 and its update points the same way
 * (test/onednn-bf16.test.ts), and bf16 keeps float32's exponent range, so no loss scaling is needed. The default
 * stays fp32 until README's 10-epoch bf16 run of the 0.90 recipe is measured against float32's.
 */
export function resolvePrecision(choice: PrecisionChoice, backend: string, onednn: OnednnStatus): Precision {
  if (choice === 'fp32') return 'fp32';
  const native = backend === 'onednn' && onednn.available && onednn.nativeBf16 === true;
  if (choice === 'auto') return native ? 'bf16' : 'fp32';
  if (backend !== 'onednn') {
    throw new UsageError(`--precision bf16 runs on the onednn backend only, not ${backend}: add --backend onednn, or use --precision fp32`);
  }
  if (!native) {
    throw new UsageError(
      `--precision bf16 needs a CPU with bf16 instructions (AVX512-BF16 or AMX); oneDNN finds ${onednn.isa ?? 'none'} here: use --precision fp32`,
    );
  }
  return 'bf16';
}

/** webgpu on its adapter; `requireGpu` (auto) refuses a software adapter, which the backend line names. */
async function initWebgpu(requireGpu: boolean): Promise<BackendInfo> {
  const adapter = await startWebgpu(requireGpu);
  const detail =
    adapter.type === 'software' ? `${adapterName(adapter)}; software adapter: runs on the CPU, slower than onednn` : adapterName(adapter);
  return {
    name: 'webgpu',
    detail,
    threads: null,
    maxTensorBytes: Math.min(adapter.maxStorageBufferBindingSize, adapter.maxBufferSize),
    precision: 'fp32',
    isa: null,
  };
}

export type { MicroBatchPlan };

/**
 * The micro-batches a training step or an inference pass must use on this backend so that no tensor
 * exceeds what the device binds, or null for whole batches. `note` is the line to print once.
 */
export function microBatchPlan(backend: BackendInfo, model: tf.LayersModel, batchSize: number): MicroBatchPlan | null {
  return planMicroBatches(backend.maxTensorBytes, largestTensorBytesPerImage(model), batchSize);
}

/** Releases what the backend holds outside the JS heap (the GPU device), so the process can exit. */
export function closeBackend(): void {
  stopWebgpu();
}
