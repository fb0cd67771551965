// The SGD / momentum update of one variable, weight decay included, as one kernel (nin::sgd_update in one native
// pass): in place of the 2 to 8 TF.js ops per variable that weight decay and TF.js's SGD or Momentum optimizer run
// (190 kernels a step for --recipe best, each a pass over the weights), with the same float32 arithmetic.
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Addon } from './addon';
import { floats, KernelArgs, OnednnBackend, output } from './backend';

export const SGD_UPDATE = 'NinSgdUpdate';

/** The kernel's attributes; momentum null: plain SGD (then no accumulation input or output). */
export interface SgdUpdateAttrs {
  learningRate: number;
  momentum: number | null;
  nesterov: boolean;
  weightDecay: number; // 0: none
}

interface UpdateInputs {
  value: tf.TensorInfo;
  gradient: tf.TensorInfo;
  accumulation?: tf.TensorInfo;
}

function parts(args: KernelArgs) {
  const { value, gradient, accumulation } = args.inputs as unknown as UpdateInputs;
  const attrs = args.attrs as unknown as SgdUpdateAttrs;
  const backend = args.backend as MathBackendCPU;
  return { value, gradient, accumulation, attrs, backend };
}

/** The kernel's outputs: the new values, and the new accumulation when there is one (momentum). */
function outputs(backend: MathBackendCPU, shape: number[], newW: Float32Array, newAcc: Float32Array | null): tf.TensorInfo[] {
  const out = [backend.makeTensorInfo(shape, 'float32', newW)];
  if (newAcc !== null) out.push(backend.makeTensorInfo(shape, 'float32', newAcc));
  return out;
}

/** JS path (inputs the native one does not take): the same float32 operations, each rounded by Math.fround. */
export function sgdUpdateKernel(args: KernelArgs): tf.TensorInfo[] {
  const { value, gradient, accumulation, attrs, backend } = parts(args);
  const w = backend.readSync(value.dataId) as Float32Array;
  const g = backend.readSync(gradient.dataId) as Float32Array;
  const acc = accumulation === undefined ? null : (backend.readSync(accumulation.dataId) as Float32Array);
  const f = Math.fround;
  const [c, m, decay] = [f(-attrs.learningRate), f(attrs.momentum ?? 0), f(attrs.weightDecay)];
  const newW = new Float32Array(w.length);
  const newAcc = acc === null ? null : new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const grad = decay !== 0 ? f(g[i] + f(w[i] * decay)) : g[i];
    if (acc === null || newAcc === null) {
      newW[i] = f(c * grad) + w[i];
      continue;
    }
    const a = f(f(m * acc[i]) + grad);
    newAcc[i] = a;
    newW[i] = f(c * (attrs.nesterov ? f(grad + f(a * m)) : a)) + w[i];
  }
  return outputs(backend, value.shape, newW, newAcc);
}

/**
 * Native path: one pass over flat float32 arrays in the gradient's layout (elementwise, so any layout serves as long as
 * the three agree; a blocked layout's padding is zeros and stays zeros). The weights and the accumulation move into
 * that layout at the first step and stay there: the next forward reads the new weights without converting them back,
 * and only a checkpoint (JavaScript reading them) converts them to TF.js's layout.
 */
export function sgdUpdateNative(args: KernelArgs, native: Addon, backend: OnednnBackend): tf.TensorInfo[] | undefined {
  const { value, gradient, accumulation, attrs } = parts(args);
  if ((attrs.momentum === null) !== (accumulation === undefined)) return undefined;
  const tensors = accumulation === undefined ? [value, gradient] : [value, gradient, accumulation];
  if (tensors.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, value.shape))) return undefined;
  const copy = backend.producedCopy(gradient.dataId);
  const layout = copy === undefined ? undefined : backend.layout(copy.layout);
  if (
    copy === undefined ||
    layout === undefined ||
    layout.bf16 ||
    tf.util.sizeFromShape(layout.dims) !== tf.util.sizeFromShape(value.shape)
  ) {
    const w = floats(backend, value);
    const g = floats(backend, gradient);
    const acc = accumulation === undefined ? null : floats(backend, accumulation);
    if (w === undefined || g === undefined || acc === undefined || g.length !== w.length || (acc !== null && acc.length !== w.length)) {
      return undefined;
    }
    const newW = output(backend, w.length);
    const newAcc = acc === null ? null : output(backend, w.length);
    native.sgdUpdate(w, g, acc, newW, newAcc, Math.fround(-attrs.learningRate), attrs.momentum ?? 0, attrs.nesterov, attrs.weightDecay);
    return outputs(backend, value.shape, newW, newAcc);
  }
  const w = backend.acquire(value, copy.layout) as Float32Array;
  const acc = accumulation === undefined ? null : (backend.acquire(accumulation, copy.layout) as Float32Array);
  const newW = backend.allocate(copy.layout) as Float32Array;
  const newAcc = acc === null ? null : (backend.allocate(copy.layout) as Float32Array);
  const g = copy.data as Float32Array;
  native.sgdUpdate(w, g, acc, newW, newAcc, Math.fround(-attrs.learningRate), attrs.momentum ?? 0, attrs.nesterov, attrs.weightDecay);
  const out = [backend.output(value.shape, copy.layout, newW)];
  if (newAcc !== null) out.push(backend.output(value.shape, copy.layout, newAcc));
  return out;
}
