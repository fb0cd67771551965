// What stderr says after an epoch that learned little: the chance-level hint (a loss still near ln 10) and the
// dead-class guard (classes no test image is given), each once the run has taken enough steps to judge.
import type { TrainConfig } from '../../config/config';
import type { DeadClass } from '../../report/eval';
import { isCollapsed, JUDGED_FROM_STEPS } from '../../run/metrics';
import type { Log } from '../../sys/log';
import {
  formatChanceHint,
  formatCollapse,
  formatDeadClasses,
  formatDeadClassesAgain,
  formatEarlyDeadClasses,
  type RemedyContext,
} from '../../cli/format';
import type { EpochEnd, EpochListener } from './listener';

/**
 * An epoch's mean training loss above this learned nothing yet: ln 10 = 2.303 is the cross-entropy of a uniform
 * guess over Fashion-MNIST's 10 classes, and an epoch that ends within ~0.02 of it (2.28, rounded down) is
 * still guessing, while any learning at all pulls the mean clearly below.
 */
export const CHANCE_LOSS_ABOVE = 2.28;

/**
 * What the dead-class guard says on stderr after each epoch (metrics.jsonl names the classes every epoch):
 * the full line once per run, then a short one only when the set of dead classes changes, and one line of its own
 * when the run collapses (nine or more dead); before the run has taken JUDGED_FROM_STEPS steps, one short note,
 * since a fresh NiN often starts with dead channels.
 */
export class DeadClassGuard {
  private named: string | null = null; // the classes the last line named
  private noted = false; // the early note was printed
  private collapsed = false; // the collapse line was printed

  constructor(private readonly run: RemedyContext) {}

  line(dead: DeadClass[], epoch: number, steps: number): string | null {
    if (!dead.length) return null;
    if (steps < JUDGED_FROM_STEPS) {
      if (this.noted) return null;
      this.noted = true;
      return formatEarlyDeadClasses(dead, steps);
    }
    // A collapse is said once, whatever the dead classes do after it (it has not come back).
    if (this.collapsed) return null;
    if (isCollapsed(dead, steps)) {
      this.collapsed = true;
      return formatCollapse(dead, epoch, this.run);
    }
    const names = dead.map((d) => d.name).join(', ');
    if (names === this.named) return null;
    const first = this.named === null;
    this.named = names;
    return first ? formatDeadClasses(dead, epoch, this.run) : formatDeadClassesAgain(dead, epoch);
  }
}

/** The hint and the guard's line after an epoch, in that order. */
export class LearningHints implements EpochListener {
  private readonly guard: DeadClassGuard;

  constructor(
    private readonly config: TrainConfig,
    private readonly log: Log,
  ) {
    this.guard = new DeadClassGuard(config);
  }

  onEpochEnd({ epoch, metrics, dead, steps }: EpochEnd): void {
    // After a handful of steps both are the usual start, not a finding: at most a short note.
    if (metrics.loss > CHANCE_LOSS_ABOVE && steps >= JUDGED_FROM_STEPS) this.log(formatChanceHint(metrics.loss, epoch, this.config));
    const line = this.guard.line(dead, epoch, steps);
    if (line) this.log(line);
  }
}
