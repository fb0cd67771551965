// Running one trial: `nin sweep run DIR --trial i`. Trial i's config comes from the space and i alone;
// it trains as an ordinary run in <dir>/trials/<NNNN> (resumed with train's --resume when it was cut
// short), and its end (done, pruned, failed) is recorded in trial.json. Two processes given the same i
// never both train it: the run lock decides, and the one that does not get it skips.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EpochMetrics } from '../run/metrics';
import type { Runtime } from '../config/config';
import { InterruptedError, NinError, UsageError } from '../sys/errors';
import { describeLockOwner, LOCK_STALE_SECONDS, type LockOwner, RunLockedError } from '../run/lock';
import { readHistory } from '../run/metrics';
import type { EpochEnd, EpochListener, StopRequest } from '../train/callbacks/listener';
import { monitoredKey } from './config-keys';
import { medianVerdict } from './prune';
import { describeValues, type PruneRule, trialConfigAt, trialName } from './space';
import { checkRecipeUnchanged, ENDED_STATES, type Sweep, TRIALS_DIR, trialDir, trialStatus, writeRecord } from './sweep-dir';

export type TrialOutcome =
  { kind: 'ended'; state: 'done' | 'pruned' | 'failed'; message: string } | { kind: 'skipped'; message: string; owner?: LockOwner }; // ended before, or another live process (`owner`) runs it

export interface RunTrialOptions {
  runtime: Partial<Runtime>; // this start's engine settings, over the space's
  log: (line: string) => void; // stderr: train's banner and epoch lines, the pruning line
  saveEvery?: number;
  handleSignals?: boolean;
  // A trial another host's process holds: wait until it ends, or take it over once its lock is stale, rather than
  // skip it. A scheduler's retry of a task whose node died lands here (nothing else would ever resume the trial).
  waitForOtherHost?: boolean;
}

/** How often a trial held by another host is looked at again while waiting for it. */
const WAIT_POLL_SECONDS = 30;

/** The index a scheduler gives this process: Slurm's array task id, else a Kubernetes Indexed Job's completion index. */
export function scheduledIndex(env: NodeJS.ProcessEnv = process.env): { index: number; from: string } | null {
  for (const name of ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX']) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (!/^\d{1,9}$/.test(value))
      throw new UsageError(`$${name} is ${JSON.stringify(value).slice(0, 40)}, not a trial index; pass --trial i`);
    return { index: Number(value), from: `$${name}` };
  }
  return null;
}

/** Checks a trial index against the sweep: one line, exit 2, when it is out of range. */
export function checkTrialIndex(sweep: Sweep, index: number, from: string): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= sweep.space.trials)
    throw new UsageError(`${from} ${index} is out of range: ${sweep.dir} holds trials 0 to ${sweep.space.trials - 1}`);
}

/** The other trials' histories, for the pruner: whatever is readable now (a trial being written or damaged is left out). */
function otherHistories(sweep: Sweep, own: number): EpochMetrics[][] {
  const root = path.join(sweep.dir, TRIALS_DIR);
  const histories: EpochMetrics[][] = [];
  for (const name of fs.readdirSync(root)) {
    if (!/^\d+$/.test(name) || Number(name) === own) continue;
    try {
      histories.push(readHistory(path.join(root, name)));
    } catch {
      // No metrics yet, or a file mid-replace: this trial does not count at this moment.
    }
  }
  return histories;
}

/**
 * The median rule as one of train's listeners: after each epoch but the last (its checkpoints and logs
 * written), a verdict against the other trials' logs ends the run there, normally; `pruned` keeps it for
 * trial.json.
 */
class MedianPruner implements EpochListener {
  pruned: { epoch: number; reason: string } | null = null;

  constructor(
    private readonly sweep: Sweep,
    private readonly trial: number,
    private readonly rule: PruneRule,
    private readonly key: 'valAcc' | 'testAcc',
    private readonly epochs: number,
  ) {}

  onEpochEnd({ epoch, history }: EpochEnd): StopRequest | void {
    if (epoch >= this.epochs) return;
    const reason = medianVerdict(this.rule, history, otherHistories(this.sweep, this.trial), this.key);
    if (!reason) return;
    this.pruned = { epoch, reason };
    return { reason: `stopping after epoch ${epoch} of ${this.epochs}: ${reason}` };
  }
}

function skippedByLock(sweep: Sweep, i: number, err: unknown): TrialOutcome | null {
  if (err instanceof RunLockedError) {
    const owner = err.owner ? describeLockOwner(err.owner) : 'another process';
    return { kind: 'skipped', message: `trial ${i} is being run by ${owner}; skipped`, owner: err.owner ?? undefined };
  }
  // Created by another process between our look and our create: it holds the lock now.
  if (err instanceof UsageError && /was just created by another process|already exists/.test(err.message)) {
    const status = trialStatus(sweep, i);
    if (status.state === 'running' && status.owner)
      return { kind: 'skipped', message: `trial ${i} is being run by ${describeLockOwner(status.owner)}; skipped`, owner: status.owner };
    if (ENDED_STATES.includes(status.state)) return { kind: 'skipped', message: `trial ${i} has ended (${status.state}); nothing to do` };
  }
  return null;
}

/**
 * Runs (or resumes) trial `i` to its end; a stop signal ends it with InterruptedError, its last/ kept for the
 * next start. A trial that has ended, or that a live process of this host runs, is skipped; one held by
 * another host is waited for (see waitForOtherHost), since on a cluster that is usually a retry of a task
 * whose node died, and the lock's age is the only way to tell.
 */
export async function runTrial(sweep: Sweep, i: number, options: RunTrialOptions): Promise<TrialOutcome> {
  let told = false;
  for (;;) {
    const outcome = await runTrialOnce(sweep, i, options);
    const owner = outcome.kind === 'skipped' ? outcome.owner : undefined;
    if (!owner || owner.local || !options.waitForOtherHost) return outcome;
    if (!told)
      options.log(
        `trial ${i} is being run by ${describeLockOwner(owner)}; waiting until it ends, or until its lock is ${LOCK_STALE_SECONDS / 60} minutes old to take it over (--no-wait skips it)`,
      );
    told = true;
    const untilStale = LOCK_STALE_SECONDS - owner.ageSeconds + 1;
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(WAIT_POLL_SECONDS, untilStale)) * 1000));
  }
}

async function runTrialOnce(sweep: Sweep, i: number, options: RunTrialOptions): Promise<TrialOutcome> {
  const status = trialStatus(sweep, i);
  if (ENDED_STATES.includes(status.state))
    return {
      kind: 'skipped',
      message: `trial ${i} has ended (${status.state}${status.record?.reason ? `: ${status.record.reason}` : ''}); nothing to do`,
    };
  if (status.state === 'running' && status.owner)
    return { kind: 'skipped', message: `trial ${i} is being run by ${describeLockOwner(status.owner)}; skipped`, owner: status.owner };

  // A new trial resolves the base recipe now: it must still be the one the sweep began with (a resumed trial trains
  // its own config.json, and may finish).
  if (status.state !== 'partial') checkRecipeUnchanged(sweep);
  const config = trialConfigAt(sweep.space, i, options.runtime);
  const key = monitoredKey(config);
  const rule = sweep.space.prune;
  const pruner = rule ? new MedianPruner(sweep, i, rule, key, config.epochs) : null;
  const dir = trialDir(sweep, i);
  const resume = status.state === 'partial';
  // Killed between the pruner's verdict and trial.json: judged again on the epochs it has, not trained on.
  const judged = rule && resume && status.history.length ? medianVerdict(rule, status.history, otherHistories(sweep, i), key) : null;
  if (judged && status.history.length < config.epochs) {
    writeRecord(sweep, i, { state: 'pruned', epoch: status.history.length, reason: judged });
    return { kind: 'ended', state: 'pruned', message: `trial ${i} pruned at epoch ${status.history.length}: ${judged}` };
  }
  options.log(`trial ${i} (${describeValues(status.values)}): ${resume ? 'resuming' : 'starting'} ${dir}`);
  const sources = Object.fromEntries(Object.keys(status.values).map((k) => [k, 'sweep']));
  const { train } = await import('../train/train');
  let history: EpochMetrics[];
  try {
    ({ history } = await train({
      config,
      sources,
      out: path.join(sweep.dir, TRIALS_DIR),
      run: resume ? undefined : trialName(i),
      resume: resume ? dir : undefined,
      log: options.log,
      print: options.log,
      saveEvery: options.saveEvery,
      handleSignals: options.handleSignals,
      listeners: pruner ? [pruner] : [],
    }));
  } catch (err) {
    const skipped = skippedByLock(sweep, i, err);
    if (skipped) return skipped;
    // A trial that trained and then failed (diverged, a damaged checkpoint) is recorded as failed, so the
    // sweep goes on without it; one that never got its directory (a missing data set) stays pending.
    if (err instanceof NinError && !(err instanceof InterruptedError) && fs.existsSync(dir)) {
      let epoch = 0;
      try {
        epoch = readHistory(dir).length;
      } catch {
        // No epoch logged.
      }
      writeRecord(sweep, i, { state: 'failed', epoch, reason: err.message });
    }
    throw err;
  }
  const last = history[history.length - 1];
  const acc = last ? `, ${key} ${(last[key] ?? NaN).toFixed(4)}` : '';
  const p = pruner?.pruned;
  if (p) {
    writeRecord(sweep, i, { state: 'pruned', epoch: p.epoch, reason: p.reason });
    return { kind: 'ended', state: 'pruned', message: `trial ${i} pruned at epoch ${p.epoch}: ${p.reason}` };
  }
  writeRecord(sweep, i, { state: 'done', epoch: history.length, reason: null });
  return { kind: 'ended', state: 'done', message: `trial ${i} done: ${history.length} epochs${acc}` };
}
