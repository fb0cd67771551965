// The onednn backend object: TF.js's pure-JS CPU backend (its storage and every kernel not replaced) whose
// native kernels' outputs come from a buffer pool; and what a native kernel needs from it (arrays in and out).
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { cpuBackendValues } from '../../sys/tfjs-internals';
import type { Addon } from './addon';
import { BufferPool } from './pool';

export class OnednnBackend extends MathBackendCPU {
  readonly pool = new BufferPool();

  override disposeData(dataId: object, force = false): boolean {
    const values = cpuBackendValues(this, dataId);
    const released = super.disposeData(dataId, force);
    if (released && this.pool.lentOut(values)) this.pool.give(values);
    return released;
  }

  // dataSync()/data() hand the backend's array to the caller, who may keep it: give them a copy of pooled ones.
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.pool.lentOut(values) ? values.slice() : values;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type Tensor4Shape = [number, number, number, number];

/** A native kernel returns undefined for inputs it does not handle; the JS 'cpu' kernel then runs. */
export type NativeKernel = (args: KernelArgs, native: Addon, backend: MathBackendCPU) => tf.TensorInfo | undefined;

/** The Float32Array behind a tensor, or undefined when the kernel must leave it to the JS fallback. */
export function floats(backend: MathBackendCPU, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (t === undefined || t.dtype !== 'float32') return undefined;
  const values = cpuBackendValues(backend, t.dataId);
  return values instanceof Float32Array ? values : undefined;
}

/** An output array for a native kernel: pooled when the backend is ours. */
export function output(backend: MathBackendCPU, length: number): Float32Array {
  return backend instanceof OnednnBackend ? backend.pool.take(length) : new Float32Array(length);
}

/** After a JS kernel: an output that shares memory with a pooled input (Slice returns views) pins that input. */
export function pinAliasedInputs(backend: MathBackendCPU, inputs: tf.NamedTensorInfoMap, result: tf.TensorInfo | tf.TensorInfo[]): void {
  if (!(backend instanceof OnednnBackend)) return;
  const outputs = Array.isArray(result) ? result : [result];
  for (const input of Object.values(inputs)) {
    if (input == null) continue;
    const values = cpuBackendValues(backend, input.dataId);
    if (!backend.pool.lentOut(values)) continue;
    for (const out of outputs) {
      if (out.dataId === input.dataId) continue;
      const outValues = cpuBackendValues(backend, out.dataId);
      if (outValues !== undefined && ArrayBuffer.isView(outValues) && outValues.buffer === values.buffer) backend.pool.pin(values);
    }
  }
}
