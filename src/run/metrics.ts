// One row per completed epoch: what a row holds, its check when read back (a checkpoint's history, a run's
// metrics.jsonl), and the two logs a run directory keeps of them (metrics.jsonl, metrics.csv).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_RULES } from '../config/check';
import { CLASS_NAMES } from '../data/fashion-mnist';
import { NinError } from '../sys/errors';
import { FieldChecker } from '../sys/field-check';
import { parseJson, readRegularFile } from '../sys/read-file';
import { RUN_FILES } from './layout';

export interface EpochMetrics {
  epoch: number; // 1-based
  loss: number; // mean training loss over the epoch's minibatches
  trainAcc: number;
  testAcc: number;
  examplesPerSec: number; // training steps only, as d2l's timer
  seconds: number; // wall time of the epoch, evaluation included
  valLoss?: number; // on the --val-split examples (absent: no validation split)
  valAcc?: number;
  deadClasses?: string[]; // classes the dead-class guard named after this epoch (absent: none)
}

/**
 * Training steps before dead classes and a loss at chance mean something: a fresh NiN often starts with dead
 * class channels and at ln 10, and its first steps bring them back (README, "Dead classes").
 */
export const JUDGED_FROM_STEPS = 50;

/**
 * Dead classes from which a run has collapsed: with nine of the ten dead the network gives (nearly) every image
 * the same class, test accuracy 0.100. In nin's runs this was always a whole 10-channel ReLU layer of the last
 * block at 0 on every image (checkpoints of each collapsed exercise run), so nothing reaches the layers below
 * it and the run never came back (README, "Dead classes").
 */
export const COLLAPSED_AT = 9;

/**
 * Whether a run whose epoch ended with these dead classes (a metrics row's deadClasses, or the guard's list)
 * after `steps` training steps has collapsed: not before JUDGED_FROM_STEPS, where one answer for every image
 * is where any network starts.
 */
export function isCollapsed(dead: readonly unknown[] | undefined, steps: number): boolean {
  return steps >= JUDGED_FROM_STEPS && (dead?.length ?? 0) >= COLLAPSED_AT;
}

/** One epoch's metrics as nin writes them (a checkpoint's history, a run's metrics.jsonl). */
export function validateEpochMetrics(value: unknown, c: FieldChecker, key: string): EpochMetrics {
  const m = c.object(key || 'the row', value);
  const k = (field: string) => (key ? `${key}.${field}` : field);
  const maxEpochs = CONFIG_RULES.epochs.kind === 'integer' ? CONFIG_RULES.epochs.max : Number.MAX_SAFE_INTEGER;
  const metrics: EpochMetrics = {
    epoch: c.integer(k('epoch'), m.epoch, 1, maxEpochs),
    loss: c.real(k('loss'), m.loss, 0, Number.MAX_VALUE),
    trainAcc: c.real(k('trainAcc'), m.trainAcc, 0, 1),
    testAcc: c.real(k('testAcc'), m.testAcc, 0, 1),
    examplesPerSec: c.real(k('examplesPerSec'), m.examplesPerSec, 0, Number.MAX_VALUE),
    seconds: c.real(k('seconds'), m.seconds, 0, Number.MAX_VALUE),
  };
  // --val-split's pass: both or neither.
  if (m.valLoss !== undefined || m.valAcc !== undefined) {
    metrics.valLoss = c.real(k('valLoss'), m.valLoss, 0, Number.MAX_VALUE);
    metrics.valAcc = c.real(k('valAcc'), m.valAcc, 0, 1);
  }
  // The dead-class guard's record (train.ts) survives a resume, which rewrites the logs from last/.
  if (m.deadClasses !== undefined) {
    metrics.deadClasses = c
      .array(k('deadClasses'), m.deadClasses, CLASS_NAMES.length)
      .map((name, i) => c.choice(`${k('deadClasses')}[${i}]`, name, CLASS_NAMES));
  }
  return metrics;
}

const CSV_HEADER = 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds';

/** metrics.jsonl: one JSON object per epoch. */
export function metricsJsonl(history: EpochMetrics[]): string {
  return history.map((m) => JSON.stringify(m) + '\n').join('');
}

/** metrics.csv: a run with --val-split has its two columns on every row; one without has neither. */
export function metricsCsv(history: EpochMetrics[]): string {
  const validation = history.some((m) => m.valAcc !== undefined);
  const header = validation ? `${CSV_HEADER},valLoss,valAcc` : CSV_HEADER;
  return [header, ...history.map((m) => csvRow(m, validation))].join('\n') + '\n';
}

function csvRow(m: EpochMetrics, validation: boolean): string {
  const row = [m.epoch, m.loss, m.trainAcc, m.testAcc, m.examplesPerSec, m.seconds];
  return (validation ? [...row, m.valLoss ?? '', m.valAcc ?? ''] : row).join(',');
}

const MAX_LOG_BYTES = 16e6; // a 10000-epoch log is about 1.5 MB

/**
 * The per-epoch metrics of a run (its metrics.jsonl, or that file itself), each line checked. `noFollow`: a
 * metrics.jsonl that is a symbolic link is refused, not read (nin serve: nothing outside the served runs).
 */
export function readHistory(runDirOrFile: string, options: { noFollow?: boolean } = {}): EpochMetrics[] {
  const file = runDirOrFile.endsWith('.jsonl') ? runDirOrFile : path.join(runDirOrFile, RUN_FILES.metricsJsonl);
  if (!fs.existsSync(runDirOrFile)) throw new NinError(`${runDirOrFile} does not exist; pass a run directory written by nin train`);
  const fix = 'nin train rewrites it from last/ on --resume';
  const text = readRegularFile(file, {
    maxBytes: MAX_LOG_BYTES,
    fix,
    what: 'a training log',
    missing: `${file} is missing; pass a run directory written by nin train (it holds metrics.jsonl)`,
    noFollow: options.noFollow,
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
