// The run directory <out>/<run>/ (its files: layout.ts): choosing its name, creating it whole, opening it
// again for --resume (lock.ts), and what a training run writes into it after each epoch: the logs and curves
// (from memory) and the two checkpoints (through checkpoint/save.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from './checkpoint/meta';
import type { NamedTensor } from './checkpoint/files';
import { loadCheckpoint, type LoadedCheckpoint } from './checkpoint/load';
import { recoverCheckpoint, saveCheckpoint } from './checkpoint/save';
import type { TrainConfig } from '../config/config';
import { readConfigFile } from '../config/check';
import { UsageError } from '../sys/errors';
import { renderCurves } from '../report/curves';
import { resumeCommand } from './resume-command';
import type { Log } from '../sys/log';
import { describeFsError, makeDirs, TEMPORARY_PATTERN, temporaryName, writeDurable, writeFileAtomic } from '../sys/safe-file';
import { RUN_FILES } from './layout';
import { acquireLock, isFreshLockAttempt, LOCK_HEARTBEAT_SECONDS, lockText, refreshLock, releaseLock } from './lock';
import { type EpochMetrics, metricsCsv, metricsJsonl } from './metrics';

const RUN_NAME = /^[A-Za-z0-9._-]+$/;
/** Longest --run: a file name holds 255 bytes, and the run is created under `.<name>.tmp-<pid>` first. */
export const MAX_RUN_NAME = 200;

/** State of an epoch cut short by a signal, so --resume continues mid-epoch with the same numbers. */
export interface PartialEpoch {
  batches: number;
  lossSum: number;
  correct: number;
  examples: number;
  trainSeconds: number;
}

/** What last/'s meta.json holds beyond a checkpoint's: the run's history so far and a cut-short epoch. */
export interface RunMeta extends CheckpointMeta {
  history: EpochMetrics[];
  partial: PartialEpoch | null;
  bestBy?: 'valAcc' | 'testAcc'; // the accuracy best/ is chosen on (absent: written before --val-split, testAcc)
}

/** Where a new run will go, checked before any work starts; created by `createRun` once the model is ready. */
export interface RunPlan {
  dir: string;
  named: boolean; // the user chose the name with --run
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Checks --out and --run and picks the run's directory; creates --out, nothing else. */
export function planRun(out: string, run: string | undefined): RunPlan {
  // The name first: a refused --run creates nothing, not even --out.
  if (run !== undefined) {
    if (!RUN_NAME.test(run) || run === '.' || run === '..')
      throw new UsageError(`--run ${JSON.stringify(run)}: use letters, digits, '.', '_' and '-' only`);
    if (run.length > MAX_RUN_NAME)
      throw new UsageError(`--run is ${run.length} characters long; use at most ${MAX_RUN_NAME} (a file name holds 255)`);
  }
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory())
    throw new UsageError(`--out ${out} is a file; pass a directory for checkpoints`);
  try {
    makeDirs(out);
    fs.accessSync(out, fs.constants.W_OK);
  } catch {
    throw new UsageError(`--out ${out} is not writable; pass a directory you can write to`);
  }
  if (run !== undefined) {
    const dir = path.join(out, run);
    if (fs.existsSync(dir))
      throw new UsageError(`--run ${run}: ${dir} already exists; pick another name or continue it with ${resumeCommand(dir)}`);
    return { dir, named: true };
  }
  return { dir: freeName(out, timestamp()), named: false };
}

/** `base`, else `base-2`, `base-3`, ...: the first name not taken in `out`. */
function freeName(out: string, base: string): string {
  for (let i = 1; ; i++) {
    const dir = path.join(out, i === 1 ? base : `${base}-${i}`);
    if (!fs.existsSync(dir)) return dir;
  }
}

/**
 * The runs in `out`, sorted by name: its directories holding a config.json, hidden ones (`--run
 * .name`) included, without the temporary ones (a run being created is `.<name>.tmp-<pid>` until it
 * is renamed into place).
 */
export function findRuns(out: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw describeFsError(err, `listing the runs in ${out}`, 'pass the --out directory nin train wrote to');
  }
  return names
    .filter((name) => !TEMPORARY_PATTERN.test(name) && fs.existsSync(path.join(out, name, RUN_FILES.config)))
    .sort()
    .map((name) => path.join(out, name));
}

/** The directory of a run being trained by this process: holds the lock until `close`. */
export class RunDirectory {
  private closed = false;
  private readonly releaseOnExit = () => this.close();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    readonly dir: string,
    readonly config: TrainConfig,
  ) {
    process.once('exit', this.releaseOnExit);
    // Other hosts know the lock lives by its age; unref'd: it never keeps the process alive.
    this.heartbeat = setInterval(() => this.refreshLock(), LOCK_HEARTBEAT_SECONDS * 1000).unref();
  }

  /** The heartbeat: rewrites the lock while it is ours, so other hosts see the run is trained. */
  refreshLock(): void {
    if (!this.closed) refreshLock(this.dir);
  }

  file(name: keyof typeof RUN_FILES): string {
    return path.join(this.dir, RUN_FILES[name]);
  }

  /** The end of a line for a file this run could not write (a full disk), with the command that continues it, as a stop's line ends. */
  private get writeFix(): string {
    return `free some space or move the run to a disk with room, then continue with ${resumeCommand(this.dir)}`;
  }

  /** The logs and curves are derived from last/'s history, so after any crash they match the checkpoint exactly. */
  writeLogs(history: EpochMetrics[]): void {
    writeFileAtomic(this.file('metricsJsonl'), metricsJsonl(history), this.writeFix);
    writeFileAtomic(this.file('metricsCsv'), metricsCsv(history), this.writeFix);
  }

  writeCurves(history: EpochMetrics[]): void {
    writeFileAtomic(this.file('curves'), renderCurves([{ name: path.basename(this.dir), history }], { epochs: this.config.epochs }));
  }

  async saveLast(model: tf.LayersModel, meta: RunMeta, optimizerWeights: NamedTensor[], onInPlace?: () => void): Promise<void> {
    await saveCheckpoint(this.file('last'), model, meta, { optimizerWeights, onInPlace, fix: this.writeFix });
  }

  async saveBest(model: tf.LayersModel, meta: RunMeta): Promise<void> {
    await saveCheckpoint(this.file('best'), model, meta, { fix: this.writeFix });
  }

  /** last/, or null when the run stopped inside its first epoch (it then starts again from its initialisation). */
  async loadLast(): Promise<(LoadedCheckpoint & { meta: RunMeta }) | null> {
    // Nothing at all there (not even a link or an empty directory, which loadCheckpoint refuses in one line).
    if (!fs.lstatSync(this.file('last'), { throwIfNoEntry: false })) return null;
    return (await loadCheckpoint(this.file('last'))) as LoadedCheckpoint & { meta: RunMeta };
  }

  /** Releases the lock (also on process exit). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    process.off('exit', this.releaseOnExit);
    releaseLock(this.dir);
  }
}

/**
 * The planned epoch count from the run's config.json, so a run in progress keeps d2l's fixed x
 * range; undefined without one (a copied metrics.jsonl alone still plots). A config.json that is
 * there is checked as --resume checks it.
 */
export function plannedEpochs(runDir: string): number | undefined {
  const file = path.join(runDir, RUN_FILES.config);
  if (!fs.existsSync(file)) return undefined;
  return readConfigFile(file, 'restore it from a copy, or plot the metrics.jsonl file itself').epochs;
}

/**
 * Creates the run directory whole, locked, config.json inside, by renaming a temporary one: a crash
 * leaves no run or a run --resume can continue (from scratch while it has no last/ yet). A default
 * name another process took meanwhile moves on to the next free one.
 */
export function createRun(plan: RunPlan, config: TrainConfig, log: Log): RunDirectory {
  let dir = plan.dir;
  const tmp = temporaryName(dir);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    writeFileAtomic(path.join(tmp, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
    writeDurable(path.join(tmp, RUN_FILES.lock), lockText());
    for (;;) {
      try {
        fs.renameSync(tmp, dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        if (plan.named) throw new UsageError(`--run ${path.basename(dir)}: ${dir} was just created by another process; pick another name`);
        const next = freeName(path.dirname(dir), path.basename(plan.dir));
        log(`run name ${path.basename(dir)} was just taken by another run; using ${path.basename(next)}`);
        dir = next;
      }
    }
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw describeFsError(err, `creating ${dir}`, 'choose a writable --out');
  }
  return new RunDirectory(dir, config);
}

/**
 * Opens a run for --resume: takes its lock, finishes or undoes a checkpoint swap a crash cut short,
 * and removes leftovers of killed saves.
 */
export function openRun(dir: string): RunDirectory {
  const configFile = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(configFile)) throw new UsageError(`--resume ${dir} is not a nin run directory (no config.json); pass <out>/<run>`);
  const config = readConfigFile(configFile);
  acquireLock(dir);
  const run = new RunDirectory(dir, config);
  try {
    recoverCheckpoint(run.file('last'));
    recoverCheckpoint(run.file('best'));
    // Leftovers of a killed save (.last.tmp-PID, .metrics.jsonl.tmp-PID); we hold the lock, so no one else writes here
    // (but another process may be trying the lock right now: its fresh .lock.tmp-PID stays).
    for (const f of fs.readdirSync(dir)) {
      if (!TEMPORARY_PATTERN.test(f) || isFreshLockAttempt(path.join(dir, f))) continue;
      fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    }
  } catch (err) {
    run.close();
    throw describeFsError(err, `opening ${dir}`, 'pass a run directory you can write to');
  }
  return run;
}
