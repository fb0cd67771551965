// Learning-rate schedules over training steps: d2l's constant rate by default, plus linear warm-up,
// cosine decay and a one-cycle policy (as PyTorch's OneCycleLR: up from lr/25, down to lr/25e4).

export type ScheduleName = 'constant' | 'cosine' | 'onecycle';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'cosine', 'onecycle'];

export interface ScheduleSpec {
  schedule: ScheduleName;
  learningRate: number; // the peak rate
  warmupEpochs: number;
  epochs: number;
}

const ONECYCLE_START_DIV = 25;
const ONECYCLE_FINAL_DIV = 25e4;
const ONECYCLE_DEFAULT_WARMUP = 0.3; // share of the steps spent rising when --warmup-epochs is 0

function cosineBetween(from: number, to: number, progress: number): number {
  return to + ((from - to) * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, progress))))) / 2;
}

/** The learning rate for 0-based global step `step` of a run with `stepsPerEpoch` steps per epoch. */
export function learningRateAt(spec: ScheduleSpec, step: number, stepsPerEpoch: number): number {
  const total = spec.epochs * stepsPerEpoch;
  const warmup = Math.min(total, Math.round(spec.warmupEpochs * stepsPerEpoch));
  const lr = spec.learningRate;
  if (spec.schedule === 'onecycle') {
    const rise = warmup > 0 ? warmup : Math.round(ONECYCLE_DEFAULT_WARMUP * total);
    if (step < rise) return cosineBetween(lr / ONECYCLE_START_DIV, lr, step / rise);
    return cosineBetween(lr, lr / ONECYCLE_FINAL_DIV, (step - rise) / Math.max(1, total - rise - 1));
  }
  if (step < warmup) return (lr * (step + 1)) / warmup;
  if (spec.schedule === 'cosine') return cosineBetween(lr, 0, (step - warmup) / Math.max(1, total - warmup));
  return lr;
}
