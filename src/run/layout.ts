// The names of everything nin writes into a run directory and a checkpoint, once: run-dir.ts and checkpoint/
// write them; plot, serve, the CLI and output-path.ts find or guard them through this room.
//   <out>/<run>/config.json          the resolved config (the recipe is frozen here)
//   <out>/<run>/metrics.jsonl, .csv  one row per completed epoch, rebuilt from last/'s history (metrics.ts)
//   <out>/<run>/curves.svg           the curves of those rows
//   <out>/<run>/last/, best/         checkpoints: model.json + weights.bin (a TF.js LayersModel), meta.json,
//                                    and in last/ optimizer.json + optimizer.bin (the optimizer's state)
//   <out>/<run>/report-best.json ... nin serve's cached report of a checkpoint (nin eval's results)
//   <out>/<run>/tensorboard/         --tensorboard's event files, by default
//   <out>/<run>/.lock                `pid@host` of the process training the run, while it trains (rewritten
//                                    every minute: on a directory shared by several hosts, its age says it lives)
import * as fs from 'node:fs';
import * as path from 'node:path';

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

/** Where --tensorboard alone writes, inside the run. */
export const TENSORBOARD_DIR = 'tensorboard';

/** The files of one checkpoint directory. */
export const CHECKPOINT_FILES = Object.freeze({
  model: 'model.json',
  weights: 'weights.bin',
  meta: 'meta.json', // written last: its presence marks a complete checkpoint
  optimizer: 'optimizer.json',
  optimizerWeights: 'optimizer.bin',
});

/** A run's file or checkpoint directory by its role: runFile(dir, 'curves') is <dir>/curves.svg. */
export function runFile(runDir: string, name: keyof typeof RUN_FILES): string {
  return path.join(runDir, RUN_FILES[name]);
}

/** A checkpoint's file by its role: checkpointFile(dir, 'meta') is <dir>/meta.json. */
export function checkpointFile(dir: string, name: keyof typeof CHECKPOINT_FILES): string {
  return path.join(dir, CHECKPOINT_FILES[name]);
}

/** Whether `dir` is a run directory nin train made: it holds a config.json (followed if a link: the caller's to decide). */
export function isRunDirectory(dir: string): boolean {
  return fs.existsSync(runFile(dir, 'config'));
}

/** The name a checkpoint has between the two renames of a save: `.best.old` for `best`. */
export function oldName(dir: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.old`);
}
