// Loading a checkpoint (nin eval, predict, serve, --resume): its files of ONE save (read.ts), each checked before
// anything is built (meta.ts, model-files.ts, optimizer-state.ts), then the model and the optimizer's tensors.
import * as tf from '@tensorflow/tfjs';
import { architectureOf } from '../../model/architecture';
import { FieldChecker } from '../../sys/field-check';
import { checkpointFile } from '../layout';
import { type NamedTensor, USE_ANOTHER } from './files';
import { type CheckpointMeta, readMeta } from './meta';
import { buildModel, type ModelFiles, readModelFiles } from './model-files';
import { type OptimizerFiles, readOptimizerFiles } from './optimizer-state';
import { readConsistent } from './read';

export interface LoadedCheckpoint {
  dir: string;
  model: tf.LayersModel;
  meta: CheckpointMeta;
  optimizerWeights: NamedTensor[] | null;
}

/** A checkpoint's files of one save, read and checked, before any model is built. */
export interface CheckpointFiles extends ModelFiles {
  dir: string;
  identity: string; // the directory's identity while it was read (read.ts)
  meta: CheckpointMeta;
  optimizer: OptimizerFiles | null; // null when not asked for, or when the checkpoint keeps none (best/)
}

export interface ReadOptions {
  optimizer?: boolean; // also optimizer.json and optimizer.bin (--resume; nin eval checks them too)
  reuse?: (dir: string, identity: string) => CheckpointFiles | undefined; // a cache of reads by identity (nin serve)
}

/** The files of the one checkpoint directory `dir`, as they are now. */
function readDirectoryFiles(dir: string, withOptimizer: boolean): Omit<CheckpointFiles, 'identity'> {
  const metaFile = checkpointFile(dir, 'meta');
  const meta = readMeta(dir);
  const modelFiles = readModelFiles(dir, meta.imageSize, architectureOf(meta.config));
  if (meta.config.imageSize !== meta.imageSize)
    new FieldChecker(metaFile, USE_ANOTHER).fail('config.imageSize', meta.config.imageSize, `its imageSize, ${meta.imageSize}`);
  return { dir, meta, ...modelFiles, optimizer: withOptimizer ? readOptimizerFiles(dir, meta) : null };
}

/**
 * Reads and checks a checkpoint's meta.json, model.json and weights.bin (and its optimizer state,
 * when asked), all of ONE save even while nin train swaps a new one into place (read.ts),
 * without building the model (nin serve hands them to a browser as they are). No link inside is
 * followed. Any problem is one NinError line.
 */
export function readCheckpointFiles(target: string, options: ReadOptions = {}): CheckpointFiles {
  const { identity, value } = readConsistent<Omit<CheckpointFiles, 'identity'>>(
    target,
    (dir) => readDirectoryFiles(dir, Boolean(options.optimizer)),
    options.reuse,
  );
  return { ...value, identity };
}

/**
 * Loads a checkpoint after checking each of its files, all of one save and all before TF.js builds
 * anything; any problem is one NinError line.
 */
export async function loadCheckpoint(target: string): Promise<LoadedCheckpoint> {
  const { dir, meta, optimizer: optimizerFiles, ...modelFiles } = readCheckpointFiles(target, { optimizer: true });
  const model = await buildModel(modelFiles, checkpointFile(dir, 'model'));
  let optimizerWeights: NamedTensor[] | null = null;
  if (optimizerFiles) {
    const decoded = tf.io.decodeWeights(optimizerFiles.data, optimizerFiles.specs);
    optimizerWeights = optimizerFiles.specs.map((s) => ({ name: s.name, tensor: decoded[s.name] }));
  }
  return { dir, model, meta, optimizerWeights };
}
