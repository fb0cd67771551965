// `nin sweep best DIR`: the sweep's best configuration, the one a tuning workflow confirms next by training it
// longer on several seeds (space.ts's seedsSpaceFile writes that space). Only done trials compete: a pruned
// trial's accuracy is of fewer epochs, a failed one has none, and a running or partial one's is not final.
import { NinError } from '../sys/errors';
import { monitoredKey, SEED_KEY } from './config-keys';
import { type SweepReport, shownValue, sweepReport } from './report';
import { trialConfigAt } from './space';
import type { Sweep } from './sweep-dir';

export interface BestConfiguration {
  values: Record<string, unknown>; // its varied values, the seed left out
  trials: number[]; // its done trials: one, or one per seed when the seed varies
  seeds: unknown[] | null; // those trials' seeds when the seed varies, else null
  key: 'valAcc' | 'testAcc'; // the accuracy compared (the report's: val when the trials validate)
  accuracy: number; // the final epoch's, or its mean over `seeds`
  sd: number | null; // sample standard deviation over the seeds; null under two
  ended: number; // the sweep's ended trials (done, pruned, failed)
  done: number;
}

interface Candidate {
  values: Record<string, unknown>;
  trials: number[];
  key: 'valAcc' | 'testAcc';
  accuracy: number;
  sd: number | null;
}

/**
 * The best configuration of the sweep's done trials by final accuracy (of the key the report summarises);
 * when the seed varies, configurations are compared by their mean over the seeds that are done (the
 * report's groups). Ties go to the lower trial index. One NinError line when no trial is done, or when the
 * trials do not report one accuracy (a varied valSplit: val for some, test for others).
 */
export function bestConfiguration(sweep: Sweep, report: SweepReport = sweepReport(sweep)): BestConfiguration {
  const { done, pruned, failed } = report.counts;
  const ended = done + pruned + failed;
  const dir = sweep.dir;
  const candidates: Candidate[] = [];
  if (report.varied.includes(SEED_KEY)) {
    for (const g of report.groups) {
      if (g.mean === null) continue;
      const trials = g.trials.filter((i) => report.trials[i].state === 'done' && report.trials[i][g.key] !== null);
      candidates.push({ values: g.values, trials, key: g.key, accuracy: g.mean, sd: g.sd });
    }
  } else {
    for (const t of report.trials) {
      if (t.state !== 'done') continue;
      const key = monitoredKey(trialConfigAt(sweep.space, t.trial));
      const accuracy = t[key];
      if (accuracy !== null) candidates.push({ values: t.values, trials: [t.trial], key, accuracy, sd: null });
    }
  }
  if (!candidates.length) {
    if (!ended) throw new NinError(`no trial of ${dir} has ended yet; run its trials first: nin sweep start --dir ${dir}`);
    throw new NinError(
      `none of the ${ended} ended trials of ${dir} is done (${pruned} pruned, ${failed} failed), so none has a final accuracy to compare; run the rest first: nin sweep start --dir ${dir}`,
    );
  }
  if (new Set(candidates.map((c) => c.key)).size > 1)
    throw new NinError(
      `the trials of ${dir} do not report one accuracy (valSplit varies: val acc for some, test acc for others), so none is best; compare them in nin sweep report ${dir}`,
    );
  // Candidates come in trial order (a group by its first trial), so the first of the best is the lower index.
  const winner = candidates.reduce((best, c) => (c.accuracy > best.accuracy ? c : best));
  return {
    ...winner,
    values: Object.fromEntries(Object.entries(winner.values).filter(([k]) => k !== SEED_KEY)),
    seeds: report.varied.includes(SEED_KEY) ? winner.trials.map((i) => report.trials[i].values[SEED_KEY]) : null,
    ended,
    done,
  };
}

/** "best of 17 ended trials (12 done): trial 6 (learningRate=0.0412, ...): test acc 0.8831", values as the report shows them. */
export function describeBest(best: BestConfiguration): string {
  const values = Object.entries(best.values)
    .map(([k, v]) => `${k}=${shownValue(v)}`)
    .join(', ');
  const which = best.key === 'valAcc' ? 'val acc' : 'test acc';
  const head = `best of ${best.ended} ended trials (${best.done} done)`;
  if (!best.seeds) return `${head}: trial ${best.trials[0]} (${values}): ${which} ${best.accuracy.toFixed(4)}`;
  const spread = best.sd === null ? '' : ` ± ${best.sd.toFixed(4)}`;
  const seeds = best.seeds.map(shownValue).join(', ');
  return `${head}: trials ${best.trials.join(', ')} (${values || 'the fixed keys'}; seeds ${seeds}): mean ${which} ${best.accuracy.toFixed(4)}${spread} over ${best.trials.length} seed${best.trials.length === 1 ? '' : 's'}`;
}
