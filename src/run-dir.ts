// The run directory <out>/<run>/ and everything in it: its layout, creating it whole, opening it again
// for --resume, the one-writer lock, the logs and curves (written from memory after each epoch) and
// the two checkpoints, saved through checkpoint.ts.
//   config.json                   the resolved config (the recipe is frozen here)
//   metrics.jsonl, metrics.csv    one row per completed epoch, rebuilt from last/'s history
//   curves.svg                    the curves of those rows
//   last/, best/                  checkpoints (see checkpoint.ts)
//   report-best.json, ...         nin serve's cached report of a checkpoint (nin eval's results)
//   .lock                         `pid@host` of the process training the run, while it trains (rewritten
//                                 every minute: on a directory shared by several hosts, its age says it lives)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import {
  type CheckpointMeta,
  type EpochMetrics,
  type NamedTensor,
  loadCheckpoint,
  type LoadedCheckpoint,
  recoverCheckpoint,
  saveCheckpoint,
} from './checkpoint';
import type { TrainConfig } from './config';
import { FieldChecker, readConfigFile, validateEpochMetrics } from './config-check';
import { MissingFileError, parseJson, readRegularFile } from './read-file';
import { NinError, UsageError } from './errors';
import { renderCurves } from './curves';
import { resumeCommand } from './resume-command';
import { describeFsError, makeDirs, TEMPORARY_PATTERN, temporaryName, writeDurable, writeFileAtomic } from './safe-file';

export const RUN_FILES = Object.freeze({
  config: 'config.json',
  metricsJsonl: 'metrics.jsonl',
  metricsCsv: 'metrics.csv',
  curves: 'curves.svg',
  last: 'last',
  best: 'best',
  lock: '.lock',
  reportBest: 'report-best.json',
  reportLast: 'report-last.json',
});

/** The checkpoints of a run, by their directory names. */
export const RUN_CHECKPOINTS = Object.freeze(['best', 'last'] as const);
export type RunCheckpoint = (typeof RUN_CHECKPOINTS)[number];

const CSV_HEADER = 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds';
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * Whether a process has ended but not been reaped (Linux: state Z in /proc/<pid>/stat). A trainer killed
 * with -9 whose parent died too stays a zombie wherever nothing reaps orphans (a container whose pid 1 is
 * not an init), and signal 0 still reaches it; it trains nothing. Elsewhere (no /proc) this says false.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/**
 * How often a training process rewrites its lock, and how long a lock of another host may go without it
 * before it counts as left behind (its host crashed or lost the shared directory). A pid means nothing on
 * another host, so there the lock's age is all there is; the margin covers a step or save that holds the
 * JS thread for minutes (the heartbeat is a timer on it) and clocks a little apart. Ages are measured on
 * the file system's own clock where nin can (a file it has just written), not this host's.
 */
export const LOCK_HEARTBEAT_SECONDS = 60;
export const LOCK_STALE_SECONDS = 600;
/** `pid@host` and a newline: a host name holds at most 255 bytes. */
const MAX_LOCK_BYTES = 300;
/** What a lock holds: the pid, then the host (absent in locks written before hosts were recorded: this host). */
const LOCK_LINE = /^(\d{1,10})(?:@([^\s@]{1,255}))?\s*$/;

/** Who holds a run's lock, read from the file. */
export interface LockOwner {
  pid: number;
  host: string; // os.hostname() of the process holding it
  local: boolean; // on this host, so its pid can be checked; otherwise only the lock's age tells
  ageSeconds: number; // since its holder last wrote it (a heartbeat), as of the read
}

interface LockFile extends LockOwner {
  ino: number; // which file it was: a takeover removes only the lock it judged
}

/** The text of this process's lock. */
function lockText(): string {
  return `${process.pid}@${os.hostname()}\n`;
}

function isOurs(owner: LockOwner): boolean {
  return owner.local && owner.pid === process.pid;
}

/** Whether the lock's holder may still be training: its pid lives (this host), or it wrote the lock lately (another host). */
function isLive(owner: LockOwner): boolean {
  return owner.local ? isAlive(owner.pid) : owner.ageSeconds < LOCK_STALE_SECONDS;
}

/**
 * The lock's owner; null when there is no lock or it names no owner (a crash before its write). A lock nin
 * cannot have written (a FIFO, a directory, a link, a device, a huge file) is a one-line NinError: it is read
 * without blocking, following no link, and never past MAX_LOCK_BYTES. `now` is the time its age is measured
 * against, in ms (by default this host's clock).
 */
function readLock(lock: string, now = Date.now()): LockFile | null {
  let text: string;
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(lock, { throwIfNoEntry: false });
    text = readRegularFile(lock, {
      maxBytes: MAX_LOCK_BYTES,
      what: 'a lock file',
      noFollow: true,
      fix: `nin train writes its pid@host there; remove it if no nin train is running on ${path.dirname(lock)}`,
    }).toString('utf8');
  } catch (err) {
    if (err instanceof MissingFileError) return null;
    throw err;
  }
  const match = LOCK_LINE.exec(text);
  const pid = match ? Number(match[1]) : NaN;
  if (!stat || !Number.isSafeInteger(pid) || pid <= 0) return null;
  const host = match?.[2] ?? os.hostname();
  return { pid, host, local: host === os.hostname(), ageSeconds: Math.max(0, (now - stat.mtimeMs) / 1000), ino: stat.ino };
}

/** Who is training the run now, or null: no lock, its process is gone (or silent too long on another host), or the lock is no lock. */
export function lockHolder(runDir: string): LockOwner | null {
  let owner: LockFile | null;
  try {
    owner = readLock(path.join(runDir, RUN_FILES.lock));
  } catch {
    return null;
  }
  if (owner === null || !isLive(owner)) return null;
  const { pid, host, local, ageSeconds } = owner;
  return { pid, host, local, ageSeconds };
}

/** The pid of the process training the run now, or null (see lockHolder); on another host, a pid of that host. */
export function trainingPid(runDir: string): number | null {
  return lockHolder(runDir)?.pid ?? null;
}

/** A run another live process is training (or taking over right now): `owner` says who, when known. */
export class RunLockedError extends NinError {
  constructor(
    message: string,
    readonly owner: LockOwner | null,
  ) {
    super(message);
    this.name = 'RunLockedError';
  }
}

/** "process 123" on this host, "process 123 on node-7 (its lock written 40 s ago)" on another. */
export function describeLockOwner(owner: LockOwner): string {
  return owner.local
    ? `process ${owner.pid}`
    : `process ${owner.pid} on ${owner.host} (its lock written ${Math.round(owner.ageSeconds)} s ago)`;
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

/** A takeover that has not finished within this long was cut short (its process died): the next may go ahead. */
const BREAK_STALE_SECONDS = 60;

/**
 * Removes the lock `seen` judged left behind, unless it changed since. Takeovers go one at a time through
 * `.lock.break` (a link of the taker's own lock file, so it knows it by its inode): otherwise two processes
 * that both judged the same lock dead could each remove it, the second removing the first one's new lock,
 * and both would train. Taking the lock when none is there needs no turn (the link into place is atomic).
 */
function breakLock(lock: string, seen: LockFile | null, tmp: string, now: number): void {
  const breaker = `${lock}.break`;
  try {
    fs.linkSync(tmp, breaker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process is taking over now; unless its takeover was cut short, it wins and we look again.
    const other = readLock(breaker, now);
    if (other === null || (other.local ? !isAlive(other.pid) : other.ageSeconds >= BREAK_STALE_SECONDS))
      fs.rmSync(breaker, { force: true });
    return;
  }
  const ours = fs.statSync(tmp).ino;
  try {
    const current = readLock(lock, now);
    const same = seen === null ? current === null : current !== null && current.ino === seen.ino;
    if (same) fs.rmSync(lock, { force: true });
  } finally {
    if (fs.lstatSync(breaker, { throwIfNoEntry: false })?.ino === ours) fs.rmSync(breaker, { force: true });
  }
}

/**
 * Takes the run's lock: a file holding our pid@host, linked into place so two processes can never both
 * hold it. A lock whose process is gone (kill -9, a crash), or on another host that stopped writing it
 * LOCK_STALE_SECONDS ago, is taken over.
 */
function acquireLock(runDir: string): void {
  const lock = path.join(runDir, RUN_FILES.lock);
  const tmp = temporaryName(lock);
  try {
    writeDurable(tmp, lockText());
    // The file system's clock, which also stamped the other hosts' heartbeats.
    const now = fs.statSync(tmp).mtimeMs;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(tmp, lock);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readLock(lock, now); // a lock that is no regular file is refused here, in one line
      if (owner !== null && !isOurs(owner) && isLive(owner)) {
        const stop = owner.local
          ? `wait for it to finish or stop it (kill ${owner.pid}), then ${resumeCommand(runDir)}`
          : `wait for it to finish or stop it there; if that host is gone, nin takes the run over once the lock is ${LOCK_STALE_SECONDS / 60} minutes old`;
        throw new RunLockedError(`${runDir} is being trained by ${describeLockOwner(owner)}; ${stop}`, owner);
      }
      breakLock(lock, owner, tmp, now); // its process is gone
    }
    throw new RunLockedError(`${runDir} is being taken over by another process; try again`, null);
  } catch (err) {
    throw describeFsError(err, `locking ${runDir}`, 'free some space, or pass a run directory you can write to');
  } finally {
    // Also after a failed write (a full disk): no `.lock.tmp-PID` is left behind.
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Rewrites our lock in place (same bytes, so its time is the file system's now), through one descriptor
 * opened without following a link: only while it still names us. Failures are ignored: the next beat tries again.
 */
function refreshLock(lock: string): void {
  let fd: number;
  try {
    fd = fs.openSync(lock, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const stat = fs.fstatSync(fd);
    const ours = lockText();
    if (!stat.isFile() || stat.size !== Buffer.byteLength(ours)) return;
    const buffer = Buffer.alloc(stat.size);
    if (fs.readSync(fd, buffer, 0, stat.size, 0) !== stat.size || buffer.toString('utf8') !== ours) return;
    fs.writeSync(fd, buffer, 0, buffer.length, 0);
  } catch {
    // A full disk or a vanished file: the lock ages, and that is all.
  } finally {
    fs.closeSync(fd);
  }
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
    if (!this.closed) refreshLock(this.file('lock'));
  }

  file(name: keyof typeof RUN_FILES): string {
    return path.join(this.dir, RUN_FILES[name]);
  }

  /** The logs and curves are derived from last/'s history, so after any crash they match the checkpoint exactly. */
  writeLogs(history: EpochMetrics[]): void {
    writeFileAtomic(this.file('metricsJsonl'), history.map((m) => JSON.stringify(m) + '\n').join(''));
    // A run with --val-split has its two columns on every row; one without has neither.
    const validation = history.some((m) => m.valAcc !== undefined);
    const header = validation ? `${CSV_HEADER},valLoss,valAcc` : CSV_HEADER;
    writeFileAtomic(this.file('metricsCsv'), [header, ...history.map((m) => csvRow(m, validation))].join('\n') + '\n');
  }

  writeCurves(history: EpochMetrics[]): void {
    writeFileAtomic(this.file('curves'), renderCurves([{ name: path.basename(this.dir), history }], { epochs: this.config.epochs }));
  }

  async saveLast(model: tf.LayersModel, meta: RunMeta, optimizerWeights: NamedTensor[]): Promise<void> {
    await saveCheckpoint(this.file('last'), model, meta, { optimizerWeights });
  }

  async saveBest(model: tf.LayersModel, meta: RunMeta): Promise<void> {
    await saveCheckpoint(this.file('best'), model, meta);
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
    const lock = this.file('lock');
    try {
      const owner = readLock(lock);
      if (owner !== null && isOurs(owner)) fs.rmSync(lock, { force: true });
    } catch {
      // Not our lock any more (someone replaced it): it is not ours to remove.
    }
  }
}

const MAX_LOG_BYTES = 16e6; // a 10000-epoch log is about 1.5 MB

/** The per-epoch metrics of a run (its metrics.jsonl, or that file itself), each line checked. */
export function readHistory(runDirOrFile: string): EpochMetrics[] {
  const file = runDirOrFile.endsWith('.jsonl') ? runDirOrFile : path.join(runDirOrFile, RUN_FILES.metricsJsonl);
  if (!fs.existsSync(runDirOrFile)) throw new NinError(`${runDirOrFile} does not exist; pass a run directory written by nin train`);
  const fix = 'nin train rewrites it from last/ on --resume';
  const text = readRegularFile(file, {
    maxBytes: MAX_LOG_BYTES,
    fix,
    what: 'a training log',
    missing: `${file} is missing; pass a run directory written by nin train (it holds metrics.jsonl)`,
  }).toString('utf8');
  const history: EpochMetrics[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = parseJson(line, `${file}:${i + 1}`, fix, 'is not JSON (corrupt log)');
    const c = new FieldChecker(`${file}:${i + 1}`, fix);
    const metrics = validateEpochMetrics(m, c, '');
    if (metrics.epoch !== history.length + 1) c.fail('epoch', metrics.epoch, `${history.length + 1} (one row per epoch, in order)`);
    history.push(metrics);
  });
  return history;
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

function csvRow(m: EpochMetrics, validation: boolean): string {
  const row = [m.epoch, m.loss, m.trainAcc, m.testAcc, m.examplesPerSec, m.seconds];
  return (validation ? [...row, m.valLoss ?? '', m.valAcc ?? ''] : row).join(',');
}

/**
 * Creates the run directory whole, locked, config.json inside, by renaming a temporary one: a crash
 * leaves no run or a run --resume can continue (from scratch while it has no last/ yet). A default
 * name another process took meanwhile moves on to the next free one.
 */
export function createRun(plan: RunPlan, config: TrainConfig, log: (line: string) => void): RunDirectory {
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
function isFreshLockAttempt(file: string): boolean {
  if (!path.basename(file).startsWith(`.${RUN_FILES.lock}.tmp-`)) return false;
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  return stat !== undefined && Math.abs(Date.now() - stat.mtimeMs) < BREAK_STALE_SECONDS * 1000;
}

export function openRun(dir: string): RunDirectory {
  const configFile = path.join(dir, RUN_FILES.config);
  if (!fs.existsSync(configFile)) throw new UsageError(`--resume ${dir} is not a nin run directory (no config.json); pass <out>/<run>`);
  const config = readConfigFile(configFile);
  acquireLock(dir);
  const run = new RunDirectory(dir, config);
  try {
    recoverCheckpoint(run.file('last'));
    recoverCheckpoint(run.file('best'));
    // Leftovers of a killed save (.last.tmp-PID, .metrics.jsonl.tmp-PID); we hold the lock, so no one else writes here.
    // A fresh `.lock.tmp-PID` is another process trying the lock right now (it removes its own; one killed while
    // trying leaves it, and it is old by the next open).
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
