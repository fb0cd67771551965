// The runs nin serve shows: which they are (the directories given, or every run under --out, found
// again as runs appear), what each holds (config, history, checkpoints, whether it is training), and
// noticing within a second or two that one changed: fs.watch on each run directory, with a slow stat
// timer behind it for file systems where watching is unreliable (network mounts, some containers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CheckpointMeta, readCheckpointMeta } from '../run/checkpoint/meta';
import type { EpochMetrics } from '../run/metrics';
import type { CheckpointSummary, RunSummary } from './api';
import type { TrainConfig } from '../config/config';
import { readConfigFile } from '../config/check';
import { NinError } from '../sys/errors';
import { findRuns, type PartialEpoch } from '../run/run-dir';
import { readHistory } from '../run/metrics';
import { RUN_CHECKPOINTS, RUN_FILES } from '../run/layout';
import { trainingPid } from '../run/lock';

export interface RunSource {
  dirs: string[]; // run directories given on the command line (then only those)
  out: string; // else every run in this directory
}

const POLL_MS = 2000; // the stat timer behind fs.watch
const SETTLE_MS = 100; // events of one save (several renames) are read once

/** What changes when nin train writes: each file's identity, size and time. */
function signature(dir: string): string {
  return ['', RUN_FILES.config, RUN_FILES.metricsJsonl, RUN_FILES.lock, ...RUN_CHECKPOINTS]
    .map((name) => {
      try {
        const s = fs.statSync(path.join(dir, name));
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}

function message(err: unknown): string {
  return err instanceof NinError ? err.message : `could not be read (${(err as Error)?.message ?? String(err)})`;
}

/**
 * A run's id in URLs: its directory name, with a backslash or a control character as `_`. The
 * request path parser refuses backslashes (raw or %5c) in every segment, so a run named `a\b` would
 * be listed yet unreachable; the page shows the name itself.
 */
export function runId(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\\\x00-\x1f\x7f]/g, '_') || 'run';
}

/**
 * Reads a run's files into its summary; a part that cannot be read is named in `error`, the rest still shows.
 * A link is refused, not followed, as for checkpoints (readSnapshot): a link planted in a run reads nothing outside it.
 */
export function readRun(id: string, dir: string): RunSummary {
  const errors: string[] = [];
  let config: TrainConfig | null = null;
  try {
    config = readConfigFile(path.join(dir, RUN_FILES.config), 'restore it from a copy', { noFollow: true });
  } catch (err) {
    errors.push(message(err));
  }
  let history: EpochMetrics[] = [];
  try {
    // lstat: a dangling link is reported too, not taken for a run without a log yet.
    if (fs.lstatSync(path.join(dir, RUN_FILES.metricsJsonl), { throwIfNoEntry: false })) history = readHistory(dir, { noFollow: true });
  } catch (err) {
    errors.push(message(err));
  }
  const checkpoints: CheckpointSummary[] = [];
  let partial: PartialEpoch | null = null;
  for (const name of RUN_CHECKPOINTS) {
    const ckpt = path.join(dir, name);
    if (!fs.existsSync(ckpt) && !fs.existsSync(path.join(dir, `.${name}.old`))) continue;
    try {
      const meta = readCheckpointMeta(ckpt) as CheckpointMeta & { bestBy?: string; partial?: PartialEpoch | null };
      checkpoints.push({
        name,
        epoch: meta.epoch,
        createdAt: meta.createdAt,
        imageSize: meta.imageSize,
        metrics: meta.metrics,
        bestBy: name === 'best' ? (meta.bestBy ?? 'testAcc') : null,
      });
      if (name === 'last') partial = meta.partial ?? null;
    } catch (err) {
      // A run stopped inside its first epoch has no checkpoint yet; anything else is worth saying.
      if (fs.existsSync(ckpt)) errors.push(message(err));
    }
  }
  return {
    id,
    name: path.basename(dir),
    config,
    history,
    training: trainingPid(dir) !== null,
    partial,
    checkpoints,
    error: errors.length ? errors.join('; ') : null,
  };
}

interface WatchedRun {
  id: string;
  dir: string; // as given or found
  real: string; // its real path: what served files must stay inside
  signature: string;
  summary: RunSummary;
  watcher: fs.FSWatcher | null;
  settle: NodeJS.Timeout | null;
}

/** The runs being served, kept current; `onChange` gets a run's new summary (or its id and null when it went away). */
export class RunStore {
  private readonly runs = new Map<string, WatchedRun>();
  private readonly timer: NodeJS.Timeout;
  private outWatcher: fs.FSWatcher | null = null;
  private closed = false;

  constructor(
    private readonly source: RunSource,
    private readonly onChange: (id: string, summary: RunSummary | null) => void,
  ) {
    this.rescan();
    if (source.dirs.length === 0) {
      try {
        this.outWatcher = fs.watch(source.out, () => this.rescan());
        this.outWatcher.on('error', () => this.outWatcher?.close());
      } catch {
        // --out may not exist yet; the timer finds runs once it does.
      }
    }
    this.timer = setInterval(() => {
      if (source.dirs.length === 0) this.rescan();
      for (const run of this.runs.values()) this.refresh(run);
    }, POLL_MS);
    this.timer.unref();
  }

  list(): RunSummary[] {
    return [...this.runs.values()].map((r) => r.summary);
  }

  /** A served run by its id; undefined for anything else, so no other directory is reachable. */
  get(id: string): { dir: string; real: string; summary: RunSummary } | undefined {
    const run = this.runs.get(id);
    return run && { dir: run.dir, real: run.real, summary: run.summary };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.outWatcher?.close();
    for (const run of this.runs.values()) this.forget(run);
    this.runs.clear();
  }

  /** The run directories to serve now, each with a unique id (its name as runId spells it, with -2, -3... for repeats). */
  private rescan(): void {
    if (this.closed) return;
    const dirs = this.source.dirs.length ? this.source.dirs : findRuns(this.source.out);
    const seen = new Set<string>();
    for (const dir of dirs) {
      const known = [...this.runs.values()].find((r) => r.dir === dir);
      if (known) {
        seen.add(known.id);
        continue;
      }
      const base = runId(path.basename(dir));
      let id = base;
      for (let i = 2; this.runs.has(id) || seen.has(id); i++) id = `${base}-${i}`;
      seen.add(id);
      this.add(id, dir);
    }
    for (const run of [...this.runs.values()]) {
      if (seen.has(run.id)) continue;
      this.forget(run);
      this.runs.delete(run.id);
      this.onChange(run.id, null);
    }
  }

  private add(id: string, dir: string): void {
    let real: string;
    try {
      real = fs.realpathSync(dir);
    } catch {
      return; // gone again
    }
    const run: WatchedRun = { id, dir, real, signature: signature(dir), summary: readRun(id, dir), watcher: null, settle: null };
    try {
      run.watcher = fs.watch(dir, () => {
        if (run.settle) return;
        run.settle = setTimeout(() => {
          run.settle = null;
          this.refresh(run);
        }, SETTLE_MS);
      });
      run.watcher.on('error', () => run.watcher?.close());
    } catch {
      // Watching is not possible here: the stat timer alone keeps the run current.
    }
    this.runs.set(id, run);
    this.onChange(id, run.summary);
  }

  private refresh(run: WatchedRun): void {
    if (this.closed || !this.runs.has(run.id)) return;
    const now = signature(run.dir);
    // The lock's process may die without touching a file.
    const training = trainingPid(run.dir) !== null;
    if (now === run.signature && training === run.summary.training) return;
    run.signature = now;
    const summary = readRun(run.id, run.dir);
    if (JSON.stringify(summary) === JSON.stringify(run.summary)) return;
    run.summary = summary;
    this.onChange(run.id, summary);
  }

  private forget(run: WatchedRun): void {
    run.watcher?.close();
    if (run.settle) clearTimeout(run.settle);
  }
}
