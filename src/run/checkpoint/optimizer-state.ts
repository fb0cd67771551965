// A checkpoint's optimizer state (optimizer.json + optimizer.bin, in last/ only), checked against the run's
// optimizer and NiN's trainable weights before --resume hands it to TF.js.
import type * as tf from '@tensorflow/tfjs';
import { OPTIMIZER_SLOTS } from '../../config/config';
import { architectureOf } from '../../model/architecture';
import { TRAIN_EXAMPLES } from '../../data/fashion-mnist';
import { FieldChecker } from '../../sys/field-check';
import { MissingFileError } from '../../sys/read-file';
import { CHECKPOINT_FILES, checkpointFile } from '../layout';
import { checkSpecs, manifestBytes, readBin, readCheckpointJson, refuseNonFinite } from './files';
import type { CheckpointMeta } from './meta';
import { ninReference } from './model-files';

/** optimizer.json + optimizer.bin, checked: the specs and the bytes they describe. */
export interface OptimizerFiles {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

/**
 * optimizer.json + optimizer.bin: TF.js's optimizer.getWeights() for the run's optimizer: `iter`
 * (the step count, an int32 scalar), then for each kind of slot one tensor per trainable weight,
 * in the model's order and with its shape (as setWeights applies them). Null when there is none.
 */
export function readOptimizerFiles(dir: string, meta: CheckpointMeta): OptimizerFiles | null {
  const file = checkpointFile(dir, 'optimizer');
  const fix = 'resume from another checkpoint, or start a new run from these weights with --init-weights';
  let json: unknown;
  try {
    json = readCheckpointJson(file, fix);
  } catch (err) {
    if (err instanceof MissingFileError) return null; // best/ keeps no optimizer state
    throw err;
  }
  const c = new FieldChecker(file, fix);
  const raw = c.object('the file', json);
  const groups = c.array('weightsManifest', raw.weightsManifest, 1);
  if (groups.length !== 1) c.fail('weightsManifest', groups, 'one group (optimizer.bin)');
  const group = c.object('weightsManifest[0]', groups[0]);
  const paths = c.array('weightsManifest[0].paths', group.paths, 1);
  if (paths[0] !== CHECKPOINT_FILES.optimizerWeights)
    c.fail('weightsManifest[0].paths', paths, JSON.stringify([CHECKPOINT_FILES.optimizerWeights]));
  const key = 'weightsManifest[0].weights';
  const specs = checkSpecs(group.weights, c, key, ['float32', 'int32']);
  const iter = specs[0];
  if (!iter || iter.name !== 'iter' || iter.shape.length !== 0 || iter.dtype !== 'int32')
    c.fail(`${key}[0]`, iter, 'the step count: {"name":"iter","shape":[],"dtype":"int32"}');
  const { trainable } = ninReference(meta.imageSize, architectureOf(meta.config));
  const perWeight = OPTIMIZER_SLOTS[meta.config.optimizer];
  const slots = specs.slice(1);
  // Before the first step TF.js has no slots yet; after it, every weight has its own.
  if (slots.length !== 0 && slots.length !== perWeight * trainable.length) {
    c.fail(
      key,
      `${slots.length} slots after iter`,
      `${perWeight * trainable.length} (${perWeight} per weight of NiN for ${meta.config.optimizer})`,
    );
  }
  slots.forEach((s, i) => {
    const shape = trainable[i % trainable.length];
    if (s.dtype !== 'float32' || s.shape.join('x') !== shape.join('x'))
      c.fail(`${key}[${i + 1}]`, s, `a float32 tensor of shape ${shape.join('x')}, as NiN's weight ${i % trainable.length}`);
  });
  const binFile = checkpointFile(dir, 'optimizerWeights');
  const data = readBin(binFile, manifestBytes(specs), fix);
  refuseNonFinite(binFile, data, specs, fix);
  const steps = new Int32Array(data, 0, 1)[0];
  const perEpoch = Math.ceil((meta.config.trainLimit ?? TRAIN_EXAMPLES) / meta.config.batchSize);
  const binChecker = new FieldChecker(binFile, fix);
  binChecker.integer('iter', steps, 0, (meta.epoch + 1) * perEpoch);
  if (meta.optimizer && meta.optimizer.iterations !== steps)
    binChecker.fail('iter', steps, `meta.json's optimizer.iterations, ${meta.optimizer.iterations}`);
  return { specs, data };
}
