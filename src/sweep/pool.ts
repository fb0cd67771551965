// `nin sweep start`: every trial not ended, run by N worker processes on this machine sharing its cores.
// Each worker is `nin sweep run DIR --trial i` (the same command a Slurm array task runs), so a worker
// killed mid-trial loses nothing that train's --resume does not restore, and the driver holds no state
// that the directory does not: a killed sweep continues with the same command.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Runtime } from '../config/config';
import { InterruptedError, NinError } from '../sys/errors';
import type { StopSignal } from '../sys/signals';
import { availableCores } from '../machine/resources';
import { ENDED_STATES, logFile, type Sweep, type TrialStatus, trialStatus, allStatuses } from './sweep-dir';
import { monitoredKey } from './config-keys';
import { describeValues, trialConfigAt } from './space';

export interface StartOptions {
  workers: number;
  runtime: Partial<Runtime>; // engine flags of this start, over the space's
  saveEvery?: number;
  log: (line: string) => void; // progress lines (stderr)
  bin?: string; // the nin executable the workers run (default: this one)
}

export interface StartResult {
  dir: string;
  trials: number;
  counts: Record<TrialStatus['state'], number>;
  ranNow: number;
}

/** Threads per worker: the cores split evenly, at least one each. */
export function threadsPerWorker(workers: number, cores = availableCores()): number {
  return Math.max(1, Math.floor(cores / workers));
}

/** A trial's time: 42.5 s, or 9 min 0 s (rounded to the second first: 539.6 s is not "8 min 60 s"). */
export function formatSeconds(s: number): string {
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** The last error line (`nin: ...`) a worker wrote to its log, read from the log's last 4 kB; null when none. */
function lastErrorLine(file: string): string | null {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(4096, size));
      fs.readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      const lines = buffer
        .toString('utf8')
        .split('\n')
        .filter((l) => l.startsWith('nin: '));
      return lines.length ? lines[lines.length - 1].slice(5, 305) : null;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** The progress line of a trial that ended (or stopped) under this start. */
export function describeEnd(sweep: Sweep, status: TrialStatus, seconds: number, code: number | null, signal: string | null): string {
  const head = `trial ${status.index} (${describeValues(status.values)})`;
  const config = trialConfigAt(sweep.space, status.index);
  const planned = config.epochs;
  const key = monitoredKey(config);
  const last = status.history[status.history.length - 1];
  const acc = last?.[key] === undefined ? '' : `, ${key} ${last[key]!.toFixed(4)}`;
  const epochs = `epoch ${status.history.length}/${planned}`;
  switch (status.state) {
    case 'done':
      return `${head} done: ${epochs}${acc}, ${formatSeconds(seconds)}`;
    case 'pruned':
      return `${head} pruned at epoch ${status.record?.epoch}${acc}: ${status.record?.reason}`;
    case 'failed':
      return `${head} failed: ${status.record?.reason} (log: ${logFile(sweep, status.index)})`;
    case 'running':
      return `${head} is run by another process; not waited for`;
    default: {
      const why = lastErrorLine(logFile(sweep, status.index));
      return `${head} stopped at ${epochs} (${signal ?? `exit ${code}`}${why ? `: ${why}` : ''}); the next start resumes it (log: ${logFile(sweep, status.index)})`;
    }
  }
}

/** What the workers of one start share: the sweep, the command they run, and the children running now. */
interface Launch {
  sweep: Sweep;
  options: StartOptions;
  bin: string;
  threads: number;
  running: Map<number, ChildProcess>;
}

/**
 * Runs trial `i` as `nin sweep run DIR --trial i` in its own process, its output appended to the trial's log,
 * and resolves when it exits (however it ends: its line says how).
 */
function runWorker(launch: Launch, i: number, worker: number): Promise<void> {
  const { sweep, options, bin, threads, running } = launch;
  return new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const status = trialStatus(sweep, i);
    options.log(
      `trial ${i} (${describeValues(status.values)}): ${status.state === 'partial' ? 'resuming' : 'starting'} on worker ${worker}`,
    );
    let fd: number;
    try {
      fd = fs.openSync(logFile(sweep, i), 'a');
    } catch (err) {
      reject(err);
      return;
    }
    // --no-wait: a trial another host took meanwhile is its business; this worker moves on to the next.
    const args = [bin, 'sweep', 'run', sweep.dir, '--trial', String(i), '--threads', String(threads), '--no-wait'];
    for (const [flag, value] of [
      ['--backend', options.runtime.backend],
      ['--precision', options.runtime.precision],
      ['--data-dir', options.runtime.dataDir],
      ['--save-every', options.saveEvery],
    ] as const)
      if (value !== undefined && value !== null) args.push(flag, String(value));
    // Its own process group: a Ctrl-C reaches the driver alone, which passes it on once (a second one would stop a trial at once).
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', fd, fd],
      detached: true,
      env: { ...process.env, SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '' },
    });
    fs.closeSync(fd);
    running.set(i, child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running.delete(i);
      options.log(describeEnd(sweep, trialStatus(sweep, i), (Date.now() - started) / 1000, code, signal));
      resolve();
    });
  });
}

/** Runs every trial of the sweep that has not ended, `workers` at a time; resolves when all are done or a signal stopped them. */
export async function startSweep(sweep: Sweep, options: StartOptions): Promise<StartResult> {
  const { log } = options;
  const bin = options.bin ?? path.resolve(__dirname, '..', '..', '..', 'bin', 'nin.js');
  const before = allStatuses(sweep);
  const todo = before.filter((s) => !ENDED_STATES.includes(s.state) && s.state !== 'running').map((s) => s.index);
  const elsewhere = before.filter((s) => s.state === 'running').length;
  const ended = before.length - todo.length - elsewhere;
  const workers = Math.max(1, Math.min(options.workers, todo.length || 1));
  const threads = options.runtime.threads ?? sweep.space.engine.threads ?? threadsPerWorker(workers);
  log(
    `sweep ${sweep.dir}: ${sweep.space.trials} trials, ${ended} ended, ${todo.length} to run${elsewhere ? `, ${elsewhere} run by other processes` : ''}; ${workers} worker${workers === 1 ? '' : 's'} x ${threads} thread${threads === 1 ? '' : 's'}`,
  );

  const launch: Launch = { sweep, options, bin, threads, running: new Map() };
  // The first stop signal is passed on to every worker once (each finishes its batch and saves its trial's last/)
  // and no trial starts after it; the driver then waits for them. A second signal ends the driver at once, as
  // nin train (signals.ts); the workers, in their own process groups, still save.
  const { takeOverSignals } = await import('../sys/signals');
  const stop = takeOverSignals(
    {
      acknowledge: "stopping: each worker saves its trial's last/",
      kept: `the workers save their trials' last/; continue with nin sweep start --dir ${sweep.dir}`,
    },
    log,
  );
  let stopSignal: StopSignal | null = null;
  void stop.stopped.then((signal) => {
    stopSignal = signal;
    for (const child of launch.running.values()) child.kill(signal);
  });
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        while (!stopSignal && next < todo.length) await runWorker(launch, todo[next++], w + 1);
      }),
    );
  } finally {
    stop.quiet();
    stop.release();
  }
  return endOfStart(sweep, stopSignal, todo.length, log);
}

/** The closing line of a start, and its verdict: a stop signal, or trials left unfinished or failed, are one error line. */
function endOfStart(sweep: Sweep, stopSignal: StopSignal | null, ranNow: number, log: (line: string) => void): StartResult {
  const counts = { pending: 0, running: 0, partial: 0, done: 0, pruned: 0, failed: 0 };
  for (const s of allStatuses(sweep)) counts[s.state]++;
  const finished = counts.done + counts.pruned + counts.failed;
  const unfinished = counts.partial + counts.pending;
  log(
    `sweep ${sweep.dir}: ${finished} of ${sweep.space.trials} trials ended (${counts.done} done, ${counts.pruned} pruned, ${counts.failed} failed)` +
      (unfinished ? `, ${unfinished} to run` : '') +
      (counts.running ? `, ${counts.running} run by other processes` : '') +
      `; table: nin sweep report ${sweep.dir}`,
  );
  if (stopSignal) throw new InterruptedError(stopSignal, `continue with nin sweep start --dir ${sweep.dir}`);
  if (unfinished)
    throw new NinError(
      `${unfinished} trial${unfinished === 1 ? '' : 's'} did not finish (see the lines above and ${path.join(sweep.dir, 'logs')}); fix the cause, then nin sweep start --dir ${sweep.dir} continues`,
    );
  if (counts.failed)
    throw new NinError(
      `${counts.failed} trial${counts.failed === 1 ? '' : 's'} failed; see their logs in ${path.join(sweep.dir, 'logs')} (remove a trial's trial.json to run it again)`,
    );
  return { dir: sweep.dir, trials: sweep.space.trials, counts, ranNow };
}
