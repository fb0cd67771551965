// Saving last/ mid-epoch: every --save-every, as a stop would save it, so a kill -9 loses at most that long; and
// after every batch once batches are slow enough that a stop might have to end nin with one still running.
import { formatDuration } from '../progress';
import { GRACE_SECONDS } from '../../sys/signals';
import type { Log } from '../../sys/log';
import type { EpochListener } from './listener';

/** What the policy reads of the loop's timing. */
export interface StepTiming {
  backend: string; // the backend's name: the pure-JS 'cpu' one saves from its first batch
  steps: () => number; // training steps taken so far in this process
  stepSeconds: () => number; // the latest step's seconds (a GPU's steps: the latest read's seconds per step)
  stopHasDeadline: boolean; // a stop ends nin GRACE_SECONDS after its signal
}

export class PeriodicSave implements EpochListener {
  private lastSave = Date.now();
  private saveSeconds = 0; // the latest save of last/
  private told = false;

  constructor(
    private readonly saveEvery: number | undefined,
    private readonly timing: StepTiming,
    private readonly log: Log,
  ) {}

  onSaved(seconds: number): void {
    this.lastSave = Date.now();
    this.saveSeconds = seconds;
  }

  /**
   * Whether to save last/ after this batch. --save-every: that often. And when a batch and a save take more
   * than half the grace a stop has (GRACE_SECONDS), so that a stop may have to end nin with the batch still
   * running: after every batch while a save costs under a tenth of the time since the last one, so a stop at
   * once loses only the batch in flight and training runs at most ~10% slower (a pure-JS batch takes minutes,
   * a save under a second).
   */
  saveDue(): boolean {
    const unsaved = (Date.now() - this.lastSave) / 1000;
    if (this.saveEvery && unsaved >= this.saveEvery) return true;
    // Not from the first step alone (it also sets up kernels), except on the pure-JS backend, whose first batch takes minutes.
    if (this.timing.steps() < 2 && this.timing.backend !== 'cpu') return false;
    const stepSeconds = this.timing.stepSeconds();
    if (stepSeconds + this.saveSeconds <= GRACE_SECONDS / 2 || unsaved < 10 * this.saveSeconds) return false;
    if (!this.told) {
      this.told = true;
      const stopAtOnce = this.timing.stopHasDeadline ? `${GRACE_SECONDS} s after a stop signal` : 'at a stop signal';
      this.log(
        `note: a batch takes ${formatDuration(stepSeconds)} here, so last/ is saved after each one; a batch still running ${stopAtOnce} is lost, nothing before it`,
      );
    }
    return true;
  }
}
