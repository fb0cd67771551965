// A checkpoint's meta.json: what it holds (the format version, the config it was trained with, the epoch and its
// metrics, the backend, the optimizer's step count; last/'s also the run's history and a cut-short epoch), and
// its check when read back.
import * as path from 'node:path';
import { validateConfig } from '../../config/check';
import { CONFIG_RULES } from '../../config/check';
import type { TrainConfig } from '../../config/config';
import { MIN_IMAGE_SIZE } from '../../model/nin';
import { NinError } from '../../sys/errors';
import { FieldChecker, isPlainObject } from '../../sys/field-check';
import { checkpointFile } from '../layout';
import { type EpochMetrics, validateEpochMetrics } from '../metrics';
import { readCheckpointJson, USE_ANOTHER } from './files';
import { readConsistent } from './read';

export const FORMAT_VERSION = 1;

export interface CheckpointMeta {
  formatVersion: number;
  nin: string;
  createdAt: string;
  config: TrainConfig;
  imageSize: number;
  epoch: number; // completed epochs
  metrics: EpochMetrics | null;
  backend: string;
  optimizer: { name: string; iterations: number } | null;
}

const MAX_EPOCHS = CONFIG_RULES.epochs.kind === 'integer' ? CONFIG_RULES.epochs.max : 10000;

/**
 * meta.json, every field checked: the format version, the config (as the CLI checks flags), the
 * epoch and its metrics, the history of last/ (one row per epoch, in order) and a cut-short epoch.
 * Fields nin does not know are ignored.
 */
export function validateMeta(raw: unknown, file: string): CheckpointMeta {
  if (!isPlainObject(raw) || typeof raw.formatVersion !== 'number' || !raw.config || typeof raw.imageSize !== 'number') {
    throw new NinError(`${file} is not a nin checkpoint's meta.json; use a checkpoint written by nin train`);
  }
  if (raw.formatVersion > FORMAT_VERSION) {
    throw new NinError(
      `${path.dirname(file)} was written by a newer nin (checkpoint format ${raw.formatVersion}, this nin reads ${FORMAT_VERSION}); upgrade nin`,
    );
  }
  const c = new FieldChecker(file, USE_ANOTHER);
  c.integer('formatVersion', raw.formatVersion, 1, FORMAT_VERSION);
  const config = validateConfig(raw.config, `${file} (config)`, USE_ANOTHER);
  const epoch = c.integer('epoch', raw.epoch, 0, MAX_EPOCHS);
  const meta: CheckpointMeta & Record<string, unknown> = {
    ...raw,
    formatVersion: raw.formatVersion,
    nin: c.string('nin', raw.nin),
    createdAt: c.string('createdAt', raw.createdAt),
    config,
    imageSize: c.integer('imageSize', raw.imageSize, MIN_IMAGE_SIZE, 1024),
    epoch,
    metrics: raw.metrics === null ? null : validateEpochMetrics(raw.metrics, c, 'metrics'),
    backend: c.string('backend', raw.backend),
    optimizer: null,
  };
  if (meta.metrics && meta.metrics.epoch !== epoch) c.fail('metrics.epoch', meta.metrics.epoch, `the checkpoint's epoch, ${epoch}`);
  if (raw.optimizer !== null) {
    const o = c.object('optimizer', raw.optimizer);
    meta.optimizer = {
      ...o,
      name: c.choice('optimizer.name', o.name, [config.optimizer]),
      iterations: c.integer('optimizer.iterations', o.iterations, 0, Number.MAX_SAFE_INTEGER),
    };
  }
  if (raw.history !== undefined) {
    const history = c.array('history', raw.history, MAX_EPOCHS).map((m, i) => validateEpochMetrics(m, c, `history[${i}]`));
    history.forEach((m, i) => m.epoch === i + 1 || c.fail(`history[${i}].epoch`, m.epoch, `${i + 1} (one row per epoch, in order)`));
    if (history.length !== epoch) c.fail('history', `${history.length} rows`, `one row per completed epoch (${epoch})`);
    meta.history = history;
  }
  if (raw.partial !== undefined && raw.partial !== null) {
    const p = c.object('partial', raw.partial);
    const examples = c.integer('partial.examples', p.examples, 0, 60000);
    meta.partial = {
      batches: c.integer('partial.batches', p.batches, 1, 60000),
      lossSum: c.real('partial.lossSum', p.lossSum, 0, Number.MAX_VALUE),
      correct: c.integer('partial.correct', p.correct, 0, examples),
      examples,
      trainSeconds: c.real('partial.trainSeconds', p.trainSeconds, 0, Number.MAX_VALUE),
    };
  }
  return meta;
}

export function readMeta(dir: string): CheckpointMeta {
  const metaFile = checkpointFile(dir, 'meta');
  return validateMeta(
    readCheckpointJson(metaFile, USE_ANOTHER, `${metaFile} is missing: the checkpoint is incomplete; use another one`),
    metaFile,
  );
}

/** A checkpoint's meta.json alone, checked: what nin serve lists of a checkpoint without reading its weights. */
export function readCheckpointMeta(target: string): CheckpointMeta {
  return readConsistent(target, readMeta).value;
}
