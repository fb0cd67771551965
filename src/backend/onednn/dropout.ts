// Dropout with its mask drawn natively. TF.js's tf.dropout(x, rate, undefined, seed) draws uniform values in a
// JavaScript loop over seedrandom's Alea generator, then runs Add, Floor and RealDiv over them (a fifth of a bf16
// step's JavaScript time at 96px). On the onednn backend one kernel (DROPOUT_MASK) computes the same multiplier, bit
// for bit: the generator is seeded here exactly as seedrandom seeds it, and the addon runs its stream with the same
// double-precision operations and TF.js's float32 rounding at each op. Runs therefore take the same steps as before,
// on this backend and on cpu. The mask is then applied by TF.js's Multiply, as tf.dropout does (its gradient too).
import * as tf from '@tensorflow/tfjs';
import { replaceDropout } from '../../sys/tfjs-internals';
import type { Addon } from './addon';
import { KernelArgs, OnednnBackend, output } from './backend';

export const DROPOUT_MASK = 'NinDropoutMask';

interface DropoutMaskAttrs {
  shape: number[];
  rate: number;
  seed: string; // as TF.js's UniformRandom turns a number seed into a string
}

/** The state of Baagoe's Alea generator: three fractions and a carry. */
interface AleaState {
  s0: number;
  s1: number;
  s2: number;
  c: number;
}

// 2^-32 and 2^32 as Baagoe's Mash hash uses them.
const TWO_TO_MINUS_32 = 2.3283064365386963e-10;
const TWO_TO_32 = 0x100000000;

/** Baagoe's Mash: a string hash whose running state carries over from one call to the next. */
function mash(): (data: string) => number {
  let n = 0xefc8249d;
  return (data) => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * TWO_TO_32;
    }
    return (n >>> 0) * TWO_TO_MINUS_32;
  };
}

/** Alea's state after seeding with `seed`, as seedrandom's alea(seed) leaves it. */
export function aleaState(seed: string): AleaState {
  const hash = mash();
  const state = { s0: hash(' '), s1: hash(' '), s2: hash(' '), c: 1 };
  state.s0 -= hash(seed);
  if (state.s0 < 0) state.s0 += 1;
  state.s1 -= hash(seed);
  if (state.s1 < 0) state.s1 += 1;
  state.s2 -= hash(seed);
  if (state.s2 < 0) state.s2 += 1;
  return state;
}

function attrsOf(args: KernelArgs): DropoutMaskAttrs {
  return args.attrs as unknown as DropoutMaskAttrs;
}

/** JS path of DROPOUT_MASK: the same stream and rounding in JavaScript (the native path's reference). */
export function dropoutMaskKernel(args: KernelArgs): tf.TensorInfo {
  const { shape, rate, seed } = attrsOf(args);
  const state = aleaState(seed);
  const keep = Math.fround(1 - rate);
  const mask = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < mask.length; i++) {
    const t = 2091639 * state.s0 + state.c * TWO_TO_MINUS_32;
    state.s0 = state.s1;
    state.s1 = state.s2;
    state.c = t | 0;
    state.s2 = t - state.c;
    mask[i] = Math.floor(Math.fround(Math.fround(state.s2) + keep)) / keep;
  }
  return (args.backend as OnednnBackend).makeTensorInfo(shape, 'float32', mask);
}

export function dropoutMaskNative(args: KernelArgs, native: Addon, backend: OnednnBackend): tf.TensorInfo | undefined {
  const { shape, rate, seed } = attrsOf(args);
  const { s0, s1, s2, c } = aleaState(seed);
  const mask = output(backend, tf.util.sizeFromShape(shape));
  const keep = Math.fround(1 - rate);
  native.dropoutMask(s0, s1, s2, c, keep, mask);
  const out = backend.makeTensorInfo(shape, 'float32', mask);
  backend.setBound(out.dataId, 1 / keep + 1e-6); // the mask holds 0 and (rounded) 1 / keep
  return out;
}

type DropoutOp = typeof tf.dropout;
type DropoutArgs = Parameters<DropoutOp>;

/** Routes tf.dropout with a seed, on the backend named `backendName`, through DROPOUT_MASK. */
export function registerDropout(backendName: string): void {
  replaceDropout((original) => {
    const replacement = (...args: DropoutArgs) => {
      const [x, rate, noiseShape, seed] = args;
      const handled =
        tf.getBackend() === backendName &&
        x instanceof tf.Tensor &&
        x.dtype === 'float32' &&
        typeof rate === 'number' &&
        rate > 0 &&
        rate < 1 &&
        (typeof seed === 'number' || typeof seed === 'string') &&
        (noiseShape == null || tf.util.arraysEqual(noiseShape, x.shape));
      if (!handled) return original(...args);
      const attrs: DropoutMaskAttrs = { shape: x.shape, rate, seed: String(seed) };
      return tf.tidy(() => {
        const mask = tf.engine().runKernel(DROPOUT_MASK, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        return tf.mul(x, mask);
      });
    };
    return replacement as DropoutOp;
  });
}
