// --early-stop: the run ends before an epoch once the monitored accuracy (val acc with --val-split, else test
// acc) has not improved for that many epochs. Also which accuracy best/ is chosen on (best-checkpoint.ts).
import type { TrainConfig } from '../../config/config';
import type { EpochMetrics } from '../../run/metrics';
import type { EpochListener, StopRequest } from './listener';

/** The accuracy that chooses best/ and drives --early-stop: never the test set's when there is a validation split. */
export function monitored(config: TrainConfig): 'valAcc' | 'testAcc' {
  return config.valSplit ? 'valAcc' : 'testAcc';
}

/** Epochs since the monitored accuracy last improved, and its best value (-1 before any epoch). */
export function sinceBest(history: readonly EpochMetrics[], key: 'valAcc' | 'testAcc'): { best: number; epochs: number } {
  let best = -1;
  let epochs = 0;
  for (const m of history) {
    const value = m[key] ?? -1;
    if (value > best) {
      best = value;
      epochs = 0;
    } else epochs++;
  }
  return { best, epochs };
}

export class EarlyStopping implements EpochListener {
  constructor(private readonly config: TrainConfig) {}

  beforeEpoch(epoch: number, history: readonly EpochMetrics[]): StopRequest | null {
    const patience = this.config.earlyStop;
    if (!patience) return null;
    const key = monitored(this.config);
    const { best, epochs } = sinceBest(history, key);
    if (epochs < patience) return null;
    return {
      reason: `early stop: ${key} has not improved on ${best.toFixed(3)} for ${epochs} epoch${epochs === 1 ? '' : 's'} (--early-stop ${patience}); ending before epoch ${epoch} of ${this.config.epochs}`,
    };
  }
}
