// Which engine runs the math: picks and initialises a TF.js backend, and says why when one is missing.
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../config';
import { NinError } from '../errors';
import { onednnStatus, registerOnednnBackend, setOnednnThreads, onednnThreads } from './onednn';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'onednn', 'cpu'];

export interface BackendInfo {
  name: string; // the TF.js backend name in use: tensorflow, onednn or cpu
  detail: string; // e.g. "tfjs-node-gpu", "oneDNN 2.6.3, 2 threads", "pure-JS kernels"
  threads: number | null;
}

export interface BackendAvailability {
  name: 'tensorflow' | 'onednn' | 'cpu';
  available: boolean;
  detail: string; // what it is, or why not and how to get it
}

let tensorflowPackage: string | null | undefined;
let tensorflowError = '';

/** Tries tfjs-node-gpu, then tfjs-node: either registers the 'tensorflow' backend on load. */
function loadTensorflow(): string | null {
  if (tensorflowPackage !== undefined) return tensorflowPackage;
  tensorflowPackage = null;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(pkg);
      tensorflowPackage = pkg;
      break;
    } catch (err) {
      tensorflowError ||= `${pkg}: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return tensorflowPackage;
}

export function backendAvailability(): BackendAvailability[] {
  const tfPkg = loadTensorflow();
  const onednn = onednnStatus();
  return [
    {
      name: 'tensorflow',
      available: tfPkg !== null,
      detail: tfPkg ?? 'not installed (needs libtensorflow: npm install @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node where its download works)',
    },
    {
      name: 'onednn',
      available: onednn.available,
      detail: onednn.available ? `oneDNN ${onednn.version ?? ''}`.trim() : onednn.reason ?? 'unavailable',
    },
    { name: 'cpu', available: true, detail: 'TF.js pure-JS kernels (slow: for tests and tiny runs)' },
  ];
}

const SLOW_WARNING = 'warning: using TF.js pure-JS kernels, about 2,700x slower than PyTorch';

/**
 * Initialises the chosen backend. `auto`: tfjs-node(-gpu) if it loads, else onednn if built, else
 * the pure-JS cpu backend with a one-line warning on stderr.
 */
export async function initBackend(choice: BackendChoice, threads: number | null, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<BackendInfo> {
  // Production mode skips TF.js's debug checks and its "install tfjs-node" banner; we print our own warning.
  tf.enableProdMode();
  let name: 'tensorflow' | 'onednn' | 'cpu';
  if (choice === 'auto') {
    if (loadTensorflow()) name = 'tensorflow';
    else if (onednnStatus().available) name = 'onednn';
    else {
      // The reason names the fix (install libdnnl-dev, then npm rebuild).
      warn(`${SLOW_WARNING}; ${onednnStatus().reason ?? 'the oneDNN addon is not built: apt-get install libdnnl-dev, then npm rebuild'}`);
      name = 'cpu';
    }
  } else name = choice;

  if (name === 'tensorflow') {
    const pkg = loadTensorflow();
    if (!pkg) throw new NinError(`--backend tensorflow needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, which did not load (${tensorflowError}); use --backend onednn or auto`);
    await tf.setBackend('tensorflow');
    return { name, detail: pkg.replace('@tensorflow/', ''), threads: null };
  }
  if (name === 'onednn') {
    const status = onednnStatus();
    if (!status.available) throw new NinError(`--backend onednn is unavailable: ${status.reason}`);
    registerOnednnBackend();
    if (threads !== null) setOnednnThreads(threads);
    await tf.setBackend('onednn');
    const n = onednnThreads();
    return { name, detail: `oneDNN ${status.version ?? ''}, ${n} thread${n === 1 ? '' : 's'}`.replace(' ,', ','), threads: n };
  }
  await tf.setBackend('cpu');
  return { name, detail: 'TF.js pure-JS kernels', threads: 1 };
}
