// Early stopping of poor trials: the median rule (Optuna's MedianPruner, Vizier's median stopping rule).
// At the end of epoch k, a trial whose monitored accuracy is below the median of the other trials'
// accuracy at epoch k is stopped, once at least `minTrials` others reached epoch k and k >= afterEpoch.
// "The others" are whatever the sweep directory holds at that moment, read from their metrics.jsonl:
// no coordinator, so trials on other nodes count as soon as their logs are on the shared directory.
import type { EpochMetrics } from '../run/metrics';
import type { PruneRule } from './space';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Why the trial should stop after its last epoch of `history` (one line), or null to go on. `others` are the
 * other trials' histories; `key` the accuracy judged (valAcc with a validation split, else testAcc).
 */
export function medianVerdict(
  rule: PruneRule,
  history: readonly EpochMetrics[],
  others: readonly (readonly EpochMetrics[])[],
  key: 'valAcc' | 'testAcc',
): string | null {
  const epoch = history.length;
  if (epoch < rule.afterEpoch) return null;
  const ours = history[epoch - 1][key];
  if (ours === undefined) return null;
  const theirs = others.map((h) => h[epoch - 1]?.[key]).filter((v): v is number => v !== undefined);
  if (theirs.length < rule.minTrials) return null;
  const m = median(theirs);
  if (!(ours < m)) return null;
  return `pruned by the median rule: ${key} ${ours.toFixed(4)} at epoch ${epoch} is below the median ${m.toFixed(4)} of ${theirs.length} other trials`;
}
