// Every read or write of a TF.js private field lives here, each with why it is needed, so moving off
// @tensorflow/tfjs 4.22 means reading this one file.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/**
 * A layers model's trainable weights as the core Variables that tf.variableGrads differentiates.
 * LayerVariable keeps its Variable in the protected `val`; `read()` returns the same object but is
 * typed as a plain Tensor.
 */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
}

/**
 * A layer weight's name as a checkpoint stores it (`block1_conv1/kernel`). TF.js makes each LayerVariable's
 * `name` unique in the process (a second model built gets `block1_conv1/kernel_1`) and keeps the name the
 * layer gave it in the protected `originalName`, which is what model.save writes and loadLayersModel matches.
 */
export function weightName(weight: tf.LayerVariable): string {
  return (weight as unknown as { originalName: string }).originalName;
}

/**
 * Sets the rate an optimizer applies next. SGD and momentum keep it as a tensor rebuilt by their
 * public setLearningRate; Adam has only the protected `learningRate` field, read at each update.
 */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === rate) return;
  if (o.setLearningRate) o.setLearningRate(rate);
  else o.learningRate = rate;
}

/** What a one-pass SGD or momentum update needs of TF.js's optimizer: its settings and its state. */
export interface SgdInternals {
  learningRate: number;
  momentum: number | null; // null: plain SGD
  nesterov: boolean;
  /** The momentum accumulator of the i-th variable applyGradients is given, made (zeros) as TF.js makes it when new. */
  accumulation(i: number, value: tf.Variable): tf.Variable;
  /** What applyGradients does after the updates: the step count checkpoints save (the optimizer's `iter`). */
  incrementIterations(): void;
}

/**
 * The settings and state of TF.js's SGD or Momentum optimizer, null for any other. They are protected or private
 * fields (learningRate, momentum, useNesterov, accumulations, incrementIterations): a fused update (step.ts) must
 * keep the very state applyGradients keeps, under its names (`<variable>/momentum`, in the order of the
 * variables), so getWeights, setWeights and checkpoints see no difference, and either path can continue a run.
 */
export function sgdInternals(optimizer: tf.Optimizer): SgdInternals | null {
  type Slot = { originalName: string; variable: tf.Variable };
  const o = optimizer as unknown as {
    learningRate: number;
    momentum?: number;
    useNesterov?: boolean;
    accumulations?: Slot[];
    incrementIterations(): void;
  };
  // By class name: TF.js's optimizer classes answer instanceof by duck typing (an SGDOptimizer is an instanceof
  // MomentumOptimizer), and the name is what its serialization uses too.
  const kind = optimizer.getClassName();
  const isMomentum = kind === 'Momentum';
  if (!isMomentum && kind !== 'SGD') return null;
  if (isMomentum && (o.accumulations === undefined || typeof o.momentum !== 'number')) return null;
  return {
    learningRate: o.learningRate,
    momentum: isMomentum ? (o.momentum as number) : null,
    nesterov: isMomentum && o.useNesterov === true,
    accumulation: (i, value) => {
      const slots = o.accumulations as Slot[];
      slots[i] ??= { originalName: `${value.name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      return slots[i].variable;
    },
    incrementIterations: () => o.incrementIterations(),
  };
}

/**
 * Restores an optimizer's state from its getWeights() output. Adam keeps beta1^t and beta2^t in the
 * private variables accBeta1/accBeta2, updated by one float32 multiplication per step; its setWeights
 * recomputes them with pow(), which rounds differently, so a resumed run would drift from an
 * uninterrupted one in the last digits. They are rebuilt here by the same float32 multiplications.
 */
export async function restoreOptimizerState(optimizer: tf.Optimizer, weights: { name: string; tensor: tf.Tensor }[]): Promise<void> {
  await optimizer.setWeights(weights);
  const adam = optimizer as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable; beta1: number; beta2: number };
  if (!adam.accBeta1 || !adam.accBeta2) return;
  const steps = optimizer.iterations;
  const power = (beta: number) => {
    const b = Math.fround(beta);
    let acc = b;
    for (let i = 0; i < steps; i++) acc = Math.fround(acc * b);
    return acc;
  };
  const [beta1, beta2] = [power(adam.beta1), power(adam.beta2)];
  tf.tidy(() => {
    adam.accBeta1?.assign(tf.scalar(beta1));
    adam.accBeta2?.assign(tf.scalar(beta2));
  });
}

// ---- the onednn backend (src/backend/onednn/) ----------------------------------------------------

/**
 * The array behind a tensor on a MathBackendCPU (or onednn's subclass of it), undefined when the backend holds
 * none. `data` is the CPU backend's own storage: native kernels read their inputs from it and write outputs
 * the backend then owns, and TF.js has no public way to borrow a backend's array without copying it.
 */
export function cpuBackendValues(backend: MathBackendCPU, dataId: object): tf.backend_util.BackendValues | undefined {
  return backend.data.has(dataId) ? backend.data.get(dataId).values : undefined;
}

/**
 * Sets the array behind a tensor on a MathBackendCPU: onednn keeps a tensor only in a native layout until JavaScript
 * reads it, then fills in TF.js's float32 values here, where every CPU kernel and read looks for them.
 */
export function setCpuBackendValues(backend: MathBackendCPU, dataId: object, values: tf.backend_util.BackendValues): void {
  backend.data.get(dataId).values = values;
}

/**
 * Whether a gradient tape is recording now. The engine keeps this in the private `state.gradientDepth`; onednn
 * reads it to replace tf.fused.conv2d's slow gradient-mode fallback (unfused Conv2D, Add, Relu) with its own op.
 */
export function isRecordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

type FusedConv2dOp = typeof tf.fused.conv2d;
type Replaced = { ninReplaced?: boolean };

/**
 * Replaces tf.fused.conv2d, the op tf.layers.conv2d calls, in TF.js's `fused` namespace object (a plain object
 * in the CommonJS build). Only this decides which kernel a layer's conv records under a gradient tape, so
 * onednn wraps it; `make` gets the original to call for everything it does not handle. Replaces once.
 */
export function replaceFusedConv2d(make: (original: FusedConv2dOp) => FusedConv2dOp): void {
  const ops = tf.fused as unknown as { conv2d: FusedConv2dOp & Replaced };
  if (ops.conv2d.ninReplaced) return;
  const replacement: FusedConv2dOp & Replaced = make(ops.conv2d);
  replacement.ninReplaced = true;
  ops.conv2d = replacement;
}

type DropoutOp = typeof tf.dropout;

/**
 * Replaces tf.dropout, which draws its mask in JavaScript (randomUniform is a loop over seedrandom's generator, not a
 * kernel) and builds it with four more kernels. tf.dropout is a getter over @tensorflow/tfjs-core's exports, whose
 * `dropout` property is a plain writable one in the CommonJS build; `make` gets the original for what it does not
 * handle. Replaces once.
 */
export function replaceDropout(make: (original: DropoutOp) => DropoutOp): void {
  // The tfjs-core that @tensorflow/tfjs itself loads (a dependency of it, not of nin): its module object, to write one
  // export.
  const corePath = require.resolve('@tensorflow/tfjs-core', { paths: [path.dirname(require.resolve('@tensorflow/tfjs'))] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module object is only reachable through require
  const core = require(corePath) as { dropout: DropoutOp & Replaced };
  if (core.dropout.ninReplaced) return;
  const replacement: DropoutOp & Replaced = make(core.dropout);
  replacement.ninReplaced = true;
  core.dropout = replacement;
  if (tf.dropout !== replacement) throw new Error('tf.dropout is not read from @tensorflow/tfjs-core (TF.js changed)');
}

/**
 * Replaces TF.js's own gradient of a kernel for every backend (the registry has one gradient per kernel name,
 * not one per backend), so `make` gets the original to fall back on for other backends. Replaces once.
 */
export function replaceGradient(kernelName: string, make: (original: tf.GradConfig) => tf.GradConfig): void {
  const original = tf.getGradient(kernelName) as (tf.GradConfig & Replaced) | undefined;
  if (original === undefined) throw new Error(`TF.js has no gradient for ${kernelName}`);
  if (original.ninReplaced) return;
  tf.registerGradient({ ...make(original), kernelName, ninReplaced: true } as tf.GradConfig);
}
