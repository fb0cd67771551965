// A checkpoint's report: nin eval's results (test accuracy, per-class accuracy, confusion matrix) plus
// the misclassified test examples for the gallery, computed once and cached in the run as
// report-<checkpoint>.json (written atomically), or in memory when the run is not writable. A cached
// report whose checkpoint has since been replaced by a newer save is computed again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpointMeta } from '../checkpoint';
import type { BackendChoice } from '../config';
import { isPlainObject } from '../config-check';
import { NUM_CLASSES } from '../model';
import { evaluate, type EvalResult, type Misclassified } from '../eval';
import { NinError } from '../errors';
import { readRegularFile } from '../read-file';
import { RUN_FILES, type RunCheckpoint } from '../run-dir';
import { writeFileAtomic } from '../safe-file';

/** Which save of a checkpoint, on how many test images, a report is of. */
export interface ReportKey {
  createdAt: string;
  epoch: number;
  testLimit: number | null; // null: the whole test set
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
  log: (line: string) => void;
}

const REPORT_FILE: Record<RunCheckpoint, keyof typeof RUN_FILES> = { best: 'reportBest', last: 'reportLast' };
const MAX_REPORT_BYTES = 16e6; // 10,000 misclassified examples are about 500 kB

function sameKey(a: ReportKey, b: ReportKey): boolean {
  return a.createdAt === b.createdAt && a.epoch === b.epoch && a.testLimit === b.testLimit;
}

/** The cached report if it is a well-formed one of this very save; anything else is computed again. */
function readCached(file: string, key: ReportKey): CheckpointReport | null {
  if (!fs.existsSync(file)) return null;
  try {
    const raw: unknown = JSON.parse(
      readRegularFile(file, { maxBytes: MAX_REPORT_BYTES, fix: 'it is computed again', what: 'a report' }).toString('utf8'),
    );
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

/** Computes reports one at a time (each holds a model and the test set) and caches them. */
export class Reports {
  private readonly memory = new Map<string, CheckpointReport>();
  private readonly pending = new Map<string, Promise<CheckpointReport>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ReportOptions) {}

  /** The report of `runDir`'s checkpoint `name`, from the cache when it is of the checkpoint's current save. */
  get(runDir: string, name: RunCheckpoint): Promise<CheckpointReport> {
    const checkpointDir = path.join(runDir, name);
    const meta = readCheckpointMeta(checkpointDir);
    const key: ReportKey = {
      createdAt: meta.createdAt,
      epoch: meta.epoch,
      testLimit: this.options.testLimit ?? meta.config.testLimit ?? null,
    };
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

  private compute(checkpointDir: string, file: string, key: ReportKey): Promise<CheckpointReport> {
    const run = async (): Promise<CheckpointReport> => {
      const { log } = this.options;
      log(`report: evaluating ${checkpointDir} (epoch ${key.epoch}) on ${key.testLimit ?? 'all'} test images`);
      const result = await evaluate(
        checkpointDir,
        {
          testLimit: key.testLimit ?? undefined,
          dataDir: this.options.dataDir,
          backend: this.options.backend,
          threads: this.options.threads,
          misclassified: true,
        },
        () => {}, // its note about the run's --test-limit is answered by the key: the report uses the run's
      );
      const report: CheckpointReport = { ...result, misclassified: result.misclassified ?? [], key };
      // A save that landed while this ran may have been read instead: the report then stands for now, uncached.
      const now = readCheckpointMeta(checkpointDir);
      if (now.createdAt !== key.createdAt) return report;
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
}
