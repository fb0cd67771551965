// Saving a checkpoint atomically: its files are written (and flushed) into a temporary directory that is then
// renamed into place, so a crash leaves the old checkpoint or the new one, never a mix; a crash between the two
// renames is finished or undone by recoverCheckpoint. Weights a diverged step left non-finite are never saved.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NinError } from '../../sys/errors';
import { describeFsError, fsyncDir, temporaryName, writeDurable } from '../../sys/safe-file';
import { CHECKPOINT_FILES, checkpointFile, oldName } from '../layout';
import { type NamedTensor, nonFinite } from './files';
import type { CheckpointMeta } from './meta';

export interface SaveOptions {
  optimizerWeights?: NamedTensor[];
  /** Called the moment the new checkpoint is in place (before the directory sync and the old copy's removal). */
  onInPlace?: () => void;
  /** What the user does when the files cannot be written (a full disk): `nin train` names the command that continues the run. */
  fix?: string;
}

interface ModelJson {
  format: string;
  generatedBy: string;
  convertedBy: null;
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

function joinWeightData(data: tf.io.WeightData): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  return new Uint8Array(tf.io.concatenateArrayBuffers(data));
}

/**
 * Finishes or undoes a swap that a crash interrupted: if `dir` is missing but its `.old` twin
 * exists, the new checkpoint never landed, so the old one goes back in place.
 */
export function recoverCheckpoint(dir: string): void {
  const old = oldName(dir);
  if (!fs.existsSync(dir) && fs.existsSync(old)) fs.renameSync(old, dir);
  else if (fs.existsSync(old)) fs.rmSync(old, { recursive: true, force: true });
}

export async function saveCheckpoint(dir: string, model: tf.LayersModel, meta: CheckpointMeta, options: SaveOptions = {}): Promise<void> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new Error('model.save produced no weights (this is a bug)');
  const modelJson: ModelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [CHECKPOINT_FILES.weights], weights: artifacts.weightSpecs }],
  };
  const weights = joinWeightData(artifacts.weightData);
  // Never written: weights a diverged step left non-finite (the loss guard stops such runs first).
  const bad = nonFinite(
    weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    artifacts.weightSpecs,
  );
  if (bad)
    throw new NinError(
      `not saving ${dir}: ${bad.count} weight value${bad.count === 1 ? ' is' : 's are'} NaN or infinite (first in ${bad.name}): training diverged; lower the learning rate`,
    );

  let optimizerFiles: { json: string; bin: Uint8Array } | null = null;
  if (options.optimizerWeights && options.optimizerWeights.length > 0) {
    const encoded = await tf.io.encodeWeights(options.optimizerWeights);
    optimizerFiles = {
      json: JSON.stringify({ weightsManifest: [{ paths: [CHECKPOINT_FILES.optimizerWeights], weights: encoded.specs }] }),
      bin: joinWeightData(encoded.data),
    };
  }

  const tmp = temporaryName(dir);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    writeDurable(checkpointFile(tmp, 'weights'), weights);
    writeDurable(checkpointFile(tmp, 'model'), JSON.stringify(modelJson));
    if (optimizerFiles) {
      writeDurable(checkpointFile(tmp, 'optimizerWeights'), optimizerFiles.bin);
      writeDurable(checkpointFile(tmp, 'optimizer'), optimizerFiles.json);
    }
    // meta.json last: its presence marks a complete checkpoint.
    writeDurable(checkpointFile(tmp, 'meta'), JSON.stringify(meta, null, 2) + '\n');
    fsyncDir(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw describeFsError(err, `saving ${dir}`, `the previous checkpoint is intact: ${options.fix ?? 'free some space, then save again'}`);
  }
  // Swap: dir -> .dir.old, tmp -> dir, drop .old. A crash between the renames is undone by recoverCheckpoint.
  recoverCheckpoint(dir);
  const old = oldName(dir);
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  options.onInPlace?.();
  fsyncDir(path.dirname(dir));
  fs.rmSync(old, { recursive: true, force: true });
}
