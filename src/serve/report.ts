// A checkpoint's report: nin eval's results (test accuracy, per-class accuracy, confusion matrix) plus
// the misclassified test examples for the gallery, computed once and cached in the run as
// report-<checkpoint>.json (written atomically), or in memory when the run is not writable. A cached
// report whose checkpoint has since been replaced by a newer save is computed again. The evaluation
// runs in a child process (report-worker.ts), one at a time, so that the server answers every other
// request meanwhile and stops at once on Ctrl-C (the child is killed).
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpointMeta } from '../run/checkpoint/meta';
import type { BackendChoice, PrecisionChoice } from '../config/config';
import { isPlainObject } from '../sys/field-check';
import { NUM_CLASSES } from '../model/nin';
import type { EvalResult, Misclassified } from '../report/eval';
import { NinError } from '../sys/errors';
import { LinkRefusedError, readJsonFile } from '../sys/read-file';
import { RUN_FILES, type RunCheckpoint } from '../run/layout';
import { writeFileAtomic } from '../sys/safe-file';
import { isStopSignal } from '../sys/signals';
import type { Log } from '../sys/log';
import { HttpError } from './http';

/** Which save of a checkpoint, on how many test images, a report is of. */
export interface ReportKey {
  createdAt: string;
  epoch: number;
  testLimit: number | null; // null: the whole test set
  precision: PrecisionChoice; // the server's --precision (absent in reports cached before it counted: fp32)
}

export interface CheckpointReport extends EvalResult {
  misclassified: Misclassified[];
  key: ReportKey;
}

export interface ReportOptions {
  dataDir?: string;
  testLimit?: number; // instead of the run's own --test-limit
  backend: BackendChoice;
  threads: number | null;
  precision: PrecisionChoice;
  log: Log;
  workerScript?: string; // the child's entry (default: report-worker.js beside this file)
}

/** What the server asks its child for: one evaluation. */
export interface ReportJob {
  checkpointDir: string;
  testLimit: number | null;
  dataDir?: string;
  backend: BackendChoice;
  threads: number | null;
  precision: PrecisionChoice;
}

/** The child's one answer: the result, or the one line its error said. */
export type ReportWorkerAnswer =
  { ok: true; result: EvalResult } | { ok: false; userError: boolean; linkRefused?: boolean; message: string }; // linkRefused: a LinkRefusedError, answered 403

export const REPORT_WORKER = path.join(__dirname, 'report-worker.js');
const STDERR_KEPT = 2000; // characters of a crashed child's stderr kept for the server's log

const REPORT_FILE: Record<RunCheckpoint, keyof typeof RUN_FILES> = { best: 'reportBest', last: 'reportLast' };
const MAX_REPORT_BYTES = 16e6; // 10,000 misclassified examples are about 500 kB

function sameKey(a: ReportKey, b: ReportKey): boolean {
  return a.createdAt === b.createdAt && a.epoch === b.epoch && a.testLimit === b.testLimit && (a.precision ?? 'fp32') === b.precision;
}

/** The cached report if it is a well-formed one of this very save; anything else is computed again. */
function readCached(file: string, key: ReportKey): CheckpointReport | null {
  if (!fs.existsSync(file)) return null;
  try {
    // A link is refused (then computed again and replaced by the file itself): nothing outside the run is served.
    const raw = readJsonFile(file, { maxBytes: MAX_REPORT_BYTES, fix: 'it is computed again', what: 'a report', noFollow: true });
    if (!isPlainObject(raw) || !isPlainObject(raw.key) || !isPlainObject(raw.report)) return null;
    if (!sameKey(raw.key as unknown as ReportKey, key)) return null;
    const report = raw.report as unknown as CheckpointReport;
    const counts = (row: unknown) =>
      Array.isArray(row) && row.length === NUM_CLASSES && row.every((n) => Number.isSafeInteger(n) && n >= 0);
    const wellFormed =
      Number.isFinite(report.accuracy) &&
      Number.isFinite(report.loss) &&
      Array.isArray(report.confusion) &&
      report.confusion.length === NUM_CLASSES &&
      report.confusion.every(counts) &&
      Array.isArray(report.perClass) &&
      report.perClass.length === NUM_CLASSES &&
      Array.isArray(report.misclassified) &&
      report.misclassified.every(
        (m) => isPlainObject(m) && Number.isSafeInteger(m.index) && Number.isSafeInteger(m.label) && Number.isSafeInteger(m.predicted),
      );
    return wellFormed ? { ...report, key } : null;
  } catch {
    return null;
  }
}

/** Computes reports one at a time (each holds a model and the test set), each in a child process, and caches them. */
export class Reports {
  private readonly memory = new Map<string, CheckpointReport>();
  private readonly pending = new Map<string, Promise<CheckpointReport>>();
  private readonly children = new Set<ChildProcess>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ReportOptions) {}

  /** The key a report of `runDir`'s checkpoint `name` has now (its current save). */
  private keyOf(checkpointDir: string): ReportKey {
    const meta = readCheckpointMeta(checkpointDir);
    return {
      createdAt: meta.createdAt,
      epoch: meta.epoch,
      testLimit: this.options.testLimit ?? meta.config.testLimit ?? null,
      precision: this.options.precision,
    };
  }

  /** The report of `runDir`'s checkpoint `name`, from the cache when it is of the checkpoint's current save, else computed and cached. */
  get(runDir: string, name: RunCheckpoint): Promise<CheckpointReport> {
    if (this.closed) return Promise.reject(new HttpError(503, 'nin serve is stopping'));
    const checkpointDir = path.join(runDir, name);
    // As the checkpoint's own files answer (snapshot.ts): none yet is 404; its twin of a save half-done is read.
    if (!fs.existsSync(checkpointDir) && !fs.existsSync(path.join(runDir, `.${name}.old`)))
      return Promise.reject(new HttpError(404, `no ${name}/ checkpoint in this run yet`));
    const key = this.keyOf(checkpointDir);
    const file = path.join(runDir, RUN_FILES[REPORT_FILE[name]]);
    const held = this.memory.get(file);
    if (held && sameKey(held.key, key)) return Promise.resolve(held);
    const cached = readCached(file, key);
    if (cached) return Promise.resolve(cached);
    const id = `${file}\n${JSON.stringify(key)}`;
    let promise = this.pending.get(id);
    if (!promise) {
      promise = this.compute(checkpointDir, file, key).finally(() => this.pending.delete(id));
      this.pending.set(id, promise);
    }
    return promise;
  }

  /** Stops: the child computing a report is killed (resolves once it is gone), and reports asked for from now on are refused. */
  close(): Promise<void> {
    this.closed = true;
    const gone = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('close', () => resolve()),
        ),
    );
    for (const child of this.children) child.kill('SIGKILL');
    return Promise.all(gone).then(() => undefined);
  }

  private compute(checkpointDir: string, file: string, key: ReportKey): Promise<CheckpointReport> {
    const run = async (): Promise<CheckpointReport> => {
      if (this.closed) throw new HttpError(503, 'nin serve is stopping');
      const { log } = this.options;
      const result = await this.evaluateInChild(`epoch ${key.epoch}`, {
        checkpointDir,
        testLimit: key.testLimit,
        dataDir: this.options.dataDir,
        backend: this.options.backend,
        threads: this.options.threads,
        precision: this.options.precision,
      });
      const report: CheckpointReport = { ...result, misclassified: result.misclassified ?? [], key };
      // A save that landed while this ran may have been read instead: the report then stands for now, uncached.
      const now = readCheckpointMeta(checkpointDir);
      if (now.createdAt !== key.createdAt || this.closed) return report;
      this.memory.set(file, report);
      try {
        writeFileAtomic(file, JSON.stringify({ key, report }) + '\n');
      } catch (err) {
        log(`report: kept in memory only: ${err instanceof NinError ? err.message : String(err)}`);
      }
      return report;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Runs one evaluation in a child process: its result, its error line as a NinError, or why the child ended without one. */
  private evaluateInChild(what: string, job: ReportJob): Promise<EvalResult> {
    const { log } = this.options;
    return new Promise((resolve, reject) => {
      // No inherited flags (a test runner's --test...); stdout unused, stderr kept for a crash's log line.
      const child = fork(this.options.workerScript ?? REPORT_WORKER, [], {
        execArgv: [],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced', // structured clone: a NaN loss stays NaN, and 10,000 misclassified examples go fast
      });
      this.children.add(child);
      log(`report: evaluating ${job.checkpointDir} (${what}) on ${job.testLimit ?? 'all'} test images in process ${child.pid ?? '?'}`);
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_KEPT)));
      let answer: ReportWorkerAnswer | null = null;
      child.on('message', (message: ReportWorkerAnswer) => (answer ??= message));
      child.on('error', (err) => {
        this.children.delete(child);
        reject(new Error(`could not start the report process: ${err.message}`));
      });
      // 'close', not 'exit': it comes after the IPC channel closed, so the answer has arrived if it was sent.
      child.on('close', (code, signal) => {
        this.children.delete(child);
        if (answer?.ok) return resolve(answer.result);
        if (answer) {
          const error = answer.linkRefused ? LinkRefusedError : answer.userError ? NinError : Error;
          return reject(new error(answer.message));
        }
        // Stopped with the server (Ctrl-C reaches the whole process group): no report, nothing wrong.
        if (this.closed || isStopSignal(signal))
          return reject(new HttpError(503, `the report was not computed: nin serve is stopping (${signal ?? 'closed'})`));
        const tail = stderr.trim().split('\n').slice(-3).join(' | ');
        reject(new Error(`the report process ended with ${signal ?? `exit code ${code}`} and no report${tail ? `: ${tail}` : ''}`));
      });
      child.send(job);
    });
  }
}
