// The 'tensorflow' engine: @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, when one is installed
// (they download libtensorflow at install and need CUDA 11.2 + cuDNN 8.1 for the GPU). Loading either
// registers the backend with TF.js.
import * as tf from '@tensorflow/tfjs';
import { supplyOldUtilChecks } from './node-util';

let tensorflowPackage: string | null | undefined;
let loadError = '';

/** Tries tfjs-node-gpu, then tfjs-node: either registers the 'tensorflow' backend on load. */
export function loadTensorflow(): string | null {
  if (tensorflowPackage !== undefined) return tensorflowPackage;
  tensorflowPackage = null;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg); // throws when not installed: util stays untouched
      supplyOldUtilChecks(); // Node 23+ removed a util function its kernels call
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional packages, loaded only when installed
      require(pkg);
      tensorflowPackage = pkg;
      break;
    } catch (err) {
      loadError ||= `${pkg}: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return tensorflowPackage;
}

/** Why neither package loaded: the first one's error line. */
export function tensorflowLoadError(): string {
  return loadError;
}

/** Whether tfjs-node-gpu loaded and libtensorflow found a CUDA device (CUDA 11.2 + cuDNN 8.1 exactly). */
export async function tensorflowOnGpu(): Promise<boolean> {
  if (loadTensorflow() !== '@tensorflow/tfjs-node-gpu') return false;
  if (!(await tf.setBackend('tensorflow'))) return false;
  // Public on tfjs-node's NodeJSBackend: false when CUDA is missing and libtensorflow fell back to the CPU.
  return (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
}
