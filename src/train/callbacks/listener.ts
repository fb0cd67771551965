// The one interface between the epoch loop (train/epoch-loop.ts) and its policies, as Lightning's callbacks
// are to its loops: choosing best/, stopping early, the dead-class guard, saving on a timer, TensorBoard and
// the metrics logs each listen to the loop through it, and a library user (branch sweep's pruning) adds its own.
import type { DeadClass } from '../../report/eval';
import type { EpochMetrics } from '../../run/metrics';
import type { Log } from '../../sys/log';

/** An epoch the loop has finished: its row, the run's history with it, the classes dead in it, the steps so far. */
export interface EpochEnd {
  epoch: number;
  metrics: EpochMetrics;
  history: readonly EpochMetrics[]; // every completed epoch, this one last
  dead: DeadClass[];
  steps: number; // training steps of the run so far
}

/** Why a listener ends the run normally (not an error): the loop logs it and train() returns it. */
export interface StopRequest {
  reason: string;
}

/** The values of one training step as they are read back (see the loop's settle). */
export interface StepValues {
  step: number; // 1-based over the run
  loss: number;
  trainAcc: number;
  learningRate: number;
  imagesPerSec: number;
}

/** What a policy may hear from the loop; each hook is optional. Listeners are called in their list's order. */
export interface EpochListener {
  /** Before epoch `epoch` trains (also right after --resume): a StopRequest ends the run there. */
  beforeEpoch?(epoch: number, history: readonly EpochMetrics[]): StopRequest | null;
  /** After each step's values are read back. */
  onStep?(values: StepValues): void;
  /** After each batch: whether last/ should be saved mid-epoch now. */
  saveDue?(): boolean;
  /** After a save of last/, with its seconds. */
  onSaved?(seconds: number): void;
  /** The epoch is done and its row known; a StopRequest ends the run after it, normally. */
  onEpochEnd?(end: EpochEnd): Promise<StopRequest | void> | StopRequest | void;
  /** The loop ends, however it ends. */
  close?(): void;
}

/** The listeners of a loop, made once it can say where their lines go and what it has timed. */
export type ListenerFactory = (loop: LoopHandle) => EpochListener[];

/** What a listener's maker may use of the loop. */
export interface LoopHandle {
  log: Log; // a line below the progress line
  stepSeconds(): number; // the latest step's seconds (a GPU's: the latest read's seconds per step)
  steps(): number; // training steps taken in this process
  saveBest(epoch: number): Promise<void>;
  lastCheckpoint: EpochListener; // the loop's own part of an epoch's end: last/ saved (list it after best/)
}
