// Starting weights from elsewhere (--init-weights): another run's checkpoint, or a TF.js weights manifest (a
// JSON file naming .bin files, as scripts/torch-init-weights.py writes PyTorch's initialisation), each weight
// checked, then set on a fresh NiN by name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NinError, UsageError } from '../../sys/errors';
import { FieldChecker, isPlainObject } from '../../sys/field-check';
import { readRegularFile, regularFileSize } from '../../sys/read-file';
import { weightName } from '../../sys/tfjs-internals';
import { checkpointFile } from '../layout';
import { type Architecture, architectureOf, DEFAULT_ARCHITECTURE, describeArchitecture, sameArchitecture } from '../../model/architecture';
import { checkSpecs, manifestBytes, MAX_WEIGHT_BYTES, readCheckpointJson, refuseNonFinite } from './files';
import { readCheckpointFiles } from './load';
import { followUserPath, resolveCheckpointDir } from './read';

/**
 * Starting weights for a new run, instead of the seeded initialisation: from a nin checkpoint or run
 * directory, or from a weights manifest (a JSON file with TF.js's `weightsManifest` and the .bin files
 * it names, such as scripts/torch-init-weights.py writes from PyTorch's initialisation of d2l's NiN).
 * Every kernel and bias must be there with NiN's shape and finite values, or nothing is loaded.
 */
export function loadInitialWeights(typed: string, model: tf.LayersModel, architecture: Architecture = DEFAULT_ARCHITECTURE): void {
  // The user named this path (a flag or their config file): links in it are theirs, followed here.
  const target = followUserPath(typed);
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`--init-weights ${typed} does not exist; pass a checkpoint directory or a weights manifest (.json)`);
  const fix = 'pass another checkpoint directory or TF.js weights manifest';
  const decoded: Record<string, tf.Tensor> = {};
  try {
    let source: string;
    const dir = stat.isDirectory() ? resolveCheckpointDir(target) : null;
    if (dir !== null && fs.lstatSync(checkpointFile(dir, 'meta'), { throwIfNoEntry: false })) {
      // A nin checkpoint: the weights of one save, checked as nin eval checks them.
      const files = readCheckpointFiles(target);
      source = checkpointFile(files.dir, 'model');
      // By name alone a variant's weights would half fit another NiN (its extra layers ignored): refused whole.
      const theirs = architectureOf(files.meta.config);
      if (!sameArchitecture(theirs, architecture))
        throw new NinError(
          `--init-weights ${typed} holds ${describeArchitecture(theirs)}, this run trains ${describeArchitecture(architecture)}: give the run its architecture's flags, or pass another checkpoint`,
        );
      Object.assign(decoded, tf.io.decodeWeights(files.weightData, files.specs));
    } else {
      // A weights manifest: the file named, or the model.json of a TF.js model directory.
      source = dir === null ? target : checkpointFile(dir, 'model');
      readManifestWeights(source, fix, dir === null, decoded);
    }
    const values = model.weights.map((w) => {
      const name = weightName(w);
      const t = decoded[name];
      if (!t) throw new NinError(`${source} has no weight ${name}; it must hold all of NiN's kernels and biases`);
      if (t.shape.join('x') !== w.shape.join('x')) {
        throw new NinError(
          `${source}: ${name} is ${t.shape.join('x')}, NiN's is ${w.shape.join('x')} (kernels are height x width x in x out)`,
        );
      }
      return t;
    });
    model.setWeights(values);
  } finally {
    for (const t of Object.values(decoded)) t.dispose();
  }
}

/**
 * The weights a TF.js weights manifest names, each checked, decoded into `decoded`. `follow`: the
 * manifest is the user's own file (a link to it is followed); one found in a directory is not.
 */
function readManifestWeights(manifestFile: string, fix: string, follow: boolean, decoded: Record<string, tf.Tensor>): void {
  const manifest = readCheckpointJson(manifestFile, fix, undefined, follow);
  if (!isPlainObject(manifest) || !Array.isArray(manifest.weightsManifest)) {
    throw new NinError(`${manifestFile} has no weightsManifest; pass a checkpoint directory or a TF.js weights manifest`);
  }
  const c = new FieldChecker(manifestFile, fix);
  const names = new Set<string>();
  let total = 0;
  const groups = c.array('weightsManifest', manifest.weightsManifest, 64).map((g, i) => {
    const group = c.object(`weightsManifest[${i}]`, g);
    const paths = c.array(`weightsManifest[${i}].paths`, group.paths, 10_000).map((p, j) => {
      if (typeof p !== 'string' || p === '' || p.includes('\0')) c.fail(`weightsManifest[${i}].paths[${j}]`, p, 'a file name');
      return p as string;
    });
    if (paths.length === 0) c.fail(`weightsManifest[${i}].paths`, paths, 'at least one file name');
    const weights = checkSpecs(group.weights, c, `weightsManifest[${i}].weights`, ['float32'], names);
    total += manifestBytes(weights);
    if (total > MAX_WEIGHT_BYTES)
      c.fail(
        'weightsManifest',
        `${(total / 1e6).toFixed(0)} MB of weights`,
        `at most ${MAX_WEIGHT_BYTES / 1e6} MB (NiN's weights are 8 MB)`,
      );
    return { paths, weights };
  });
  for (const group of groups) {
    // A group's weights are laid out across its files in order, as TF.js shards them.
    const files = group.paths.map((p) => path.join(path.dirname(manifestFile), p));
    const limits = (file: string) => ({
      fix,
      what: 'a weights file',
      missing: `${file} is missing; a weights manifest needs the .bin files it names beside it`,
    });
    const sizes = files.map((file) => regularFileSize(file, limits(file)));
    const have = sizes.reduce((a, b) => a + b, 0);
    const want = manifestBytes(group.weights);
    if (have !== want) {
      throw new NinError(
        `${group.paths.join(', ')} next to ${manifestFile} hold ${have} bytes, the manifest says ${want}: truncated or corrupt`,
      );
    }
    const joined = tf.io.concatenateArrayBuffers(
      files.map((file, k) => {
        const buf = readRegularFile(file, { ...limits(file), maxBytes: sizes[k] });
        return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      }),
    );
    if (joined.byteLength !== want)
      throw new NinError(`${group.paths.join(', ')} next to ${manifestFile} changed while being read; ${fix}`);
    refuseNonFinite(group.paths.length === 1 ? files[0] : `${manifestFile}'s weight files`, joined, group.weights, fix);
    Object.assign(decoded, tf.io.decodeWeights(joined, group.weights));
  }
}
