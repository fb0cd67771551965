// Checkpoint format, atomic save and checked load. A checkpoint is a directory:
//   model.json + weights.bin  a TF.js LayersModel (tf.loadLayersModel reads it, in a browser too)
//   meta.json                 format version, config, epoch, metrics, backend
//   optimizer.json + optimizer.bin  the optimizer's state, for --resume
// It is written under a temporary name and renamed, so a crash leaves the old one or the new one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from './config';
import { NinError, UsageError } from './errors';
import { sameArchitecture } from './model';

/** A tensor with its name, as tf.Optimizer.getWeights() returns them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export const FORMAT_VERSION = 1;

export interface EpochMetrics {
  epoch: number; // 1-based
  loss: number; // mean training loss over the epoch's minibatches
  trainAcc: number;
  testAcc: number;
  examplesPerSec: number; // training steps only, as d2l's timer
  seconds: number; // wall time of the epoch, evaluation included
}

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

export interface SaveOptions {
  optimizerWeights?: NamedTensor[];
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

/** Writes a file and flushes it to disk, so a rename after it never exposes a half-written file. */
function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data as Uint8Array);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

function oldName(dir: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.old`);
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

function describeWriteError(err: unknown, dir: string): NinError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return new NinError(`no space left on device while saving ${dir}; the previous checkpoint is intact: free some space or pass another --out, then --resume`);
  if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS') return new NinError(`cannot write ${dir} (${e.code}); choose a writable --out`);
  return new NinError(`could not save checkpoint ${dir}: ${e.message}`);
}

export async function saveCheckpoint(dir: string, model: tf.LayersModel, meta: CheckpointMeta, options: SaveOptions = {}): Promise<void> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new Error('model.save produced no weights (this is a bug)');
  const modelJson: ModelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
  };
  const weights = joinWeightData(artifacts.weightData);

  let optimizerFiles: { json: string; bin: Uint8Array } | null = null;
  if (options.optimizerWeights && options.optimizerWeights.length > 0) {
    const encoded = await tf.io.encodeWeights(options.optimizerWeights);
    optimizerFiles = {
      json: JSON.stringify({ weightsManifest: [{ paths: ['optimizer.bin'], weights: encoded.specs }] }),
      bin: joinWeightData(encoded.data),
    };
  }

  const tmp = path.join(path.dirname(dir), `.${path.basename(dir)}.tmp-${process.pid}`);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    writeDurable(path.join(tmp, 'weights.bin'), weights);
    writeDurable(path.join(tmp, 'model.json'), JSON.stringify(modelJson));
    if (optimizerFiles) {
      writeDurable(path.join(tmp, 'optimizer.bin'), optimizerFiles.bin);
      writeDurable(path.join(tmp, 'optimizer.json'), optimizerFiles.json);
    }
    // meta.json last: its presence marks a complete checkpoint.
    writeDurable(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    fsyncDir(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw describeWriteError(err, dir);
  }
  // Swap: dir -> .dir.old, tmp -> dir, drop .old. A crash between the renames is undone by recoverCheckpoint.
  recoverCheckpoint(dir);
  const old = oldName(dir);
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fsyncDir(path.dirname(dir));
  fs.rmSync(old, { recursive: true, force: true });
}

export interface LoadedCheckpoint {
  dir: string;
  model: tf.LayersModel;
  meta: CheckpointMeta;
  optimizerWeights: NamedTensor[] | null;
}

function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new NinError(`${file} is missing: ${what}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new NinError(`${file} is not valid JSON (corrupt or truncated); use another checkpoint, e.g. best/ or last/ of the run`);
  }
}

function readBin(file: string, expectedBytes: number): ArrayBuffer {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new NinError(`${file} is missing; the checkpoint is incomplete, use another one`);
  }
  if (buf.byteLength !== expectedBytes) {
    throw new NinError(`${file} has ${buf.byteLength} bytes, its manifest says ${expectedBytes}: the file is truncated or corrupt; use another checkpoint`);
  }
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1 };

function manifestBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[s.dtype] ?? 4), 0);
}

/** `dir` if it holds a model, else its `.old` twin when a save was cut between its two renames. */
function landedCheckpoint(dir: string): string | null {
  if (fs.existsSync(path.join(dir, 'model.json'))) return dir;
  if (!fs.existsSync(dir) && fs.existsSync(path.join(oldName(dir), 'model.json'))) return oldName(dir);
  return null;
}

/**
 * A checkpoint directory, or a run directory (then its best/, else last/). Read-only: a swap a
 * crash interrupted is read from its `.old` side, never repaired here, so evaluating a run while it
 * trains cannot disturb its saves (training repairs its own directories on --resume).
 */
export function resolveCheckpointDir(target: string): string {
  const landed = landedCheckpoint(target);
  if (landed) return landed;
  if (!fs.existsSync(target)) throw new NinError(`${target} does not exist; pass a checkpoint directory (with model.json) or a run directory`);
  if (!fs.statSync(target).isDirectory()) throw new NinError(`${target} is not a directory; pass a checkpoint directory (with model.json) or a run directory`);
  for (const sub of ['best', 'last']) {
    const dir = landedCheckpoint(path.join(target, sub));
    if (dir) return dir;
  }
  throw new NinError(`${target} has no model.json (and no best/ or last/ checkpoint); pass a checkpoint directory written by nin train`);
}

export async function loadCheckpoint(target: string): Promise<LoadedCheckpoint> {
  const dir = resolveCheckpointDir(target);
  const meta = readJson<CheckpointMeta>(path.join(dir, 'meta.json'), 'the checkpoint is incomplete; use another one');
  if (typeof meta.formatVersion !== 'number' || !meta.config || typeof meta.imageSize !== 'number') {
    throw new NinError(`${path.join(dir, 'meta.json')} is not a nin checkpoint's meta.json; use a checkpoint written by nin train`);
  }
  if (meta.formatVersion > FORMAT_VERSION) {
    throw new NinError(`${dir} was written by a newer nin (checkpoint format ${meta.formatVersion}, this nin reads ${FORMAT_VERSION}); upgrade nin`);
  }
  const modelJson = readJson<ModelJson>(path.join(dir, 'model.json'), 'the checkpoint is incomplete');
  const specs = modelJson.weightsManifest?.[0]?.weights;
  if (!modelJson.modelTopology || !Array.isArray(specs)) {
    throw new NinError(`${path.join(dir, 'model.json')} is not a TF.js LayersModel; use a checkpoint written by nin train`);
  }
  const weightData = readBin(path.join(dir, 'weights.bin'), manifestBytes(specs));
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology as object, weightSpecs: specs, weightData }));
  } catch (err) {
    throw new NinError(`${path.join(dir, 'model.json')} could not be loaded as a model (${(err as Error).message.split('\n')[0]}); use a checkpoint written by nin train`);
  }
  // The layers' weights do not depend on the image size, so the input shape is checked on its own.
  const inputShape = model.inputs[0]?.shape ?? [];
  const mismatch =
    inputShape[1] !== meta.imageSize || inputShape[2] !== meta.imageSize
      ? `its input is ${inputShape.slice(1).join('x')}, meta.json says ${meta.imageSize}px`
      : sameArchitecture(model, meta.imageSize);
  if (mismatch) {
    model.dispose();
    throw new NinError(`${dir} holds another architecture than d2l's NiN at ${meta.imageSize}px (${mismatch}); use a checkpoint written by nin train`);
  }

  let optimizerWeights: NamedTensor[] | null = null;
  const optJsonPath = path.join(dir, 'optimizer.json');
  if (fs.existsSync(optJsonPath)) {
    const optJson = readJson<{ weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] }>(optJsonPath, '');
    const optSpecs = optJson.weightsManifest?.[0]?.weights;
    if (!Array.isArray(optSpecs)) throw new NinError(`${optJsonPath} is corrupt; resume from another checkpoint`);
    const data = readBin(path.join(dir, 'optimizer.bin'), manifestBytes(optSpecs));
    const decoded = tf.io.decodeWeights(data, optSpecs);
    optimizerWeights = optSpecs.map((s) => ({ name: s.name, tensor: decoded[s.name] }));
  }
  return { dir, model, meta, optimizerWeights };
}

/**
 * Starting weights for a new run, instead of the seeded initialisation: from a nin checkpoint or run
 * directory, or from a weights manifest (a JSON file with TF.js's `weightsManifest` and the .bin files
 * it names, such as scripts/torch-init-weights.py writes from PyTorch's initialisation of d2l's NiN).
 * Every kernel and bias must be there with NiN's shape, or nothing is loaded.
 */
export function loadInitialWeights(target: string, model: tf.LayersModel): void {
  let manifestFile: string;
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) manifestFile = path.join(resolveCheckpointDir(target), 'model.json');
  else if (fs.existsSync(target)) manifestFile = target;
  else throw new UsageError(`--init-weights ${target} does not exist; pass a checkpoint directory or a weights manifest (.json)`);
  const manifest = readJson<{ weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] }>(manifestFile, '');
  const groups = manifest.weightsManifest;
  if (!Array.isArray(groups) || groups.some((g) => !Array.isArray(g.paths) || !Array.isArray(g.weights))) {
    throw new NinError(`${manifestFile} has no weightsManifest; pass a checkpoint directory or a TF.js weights manifest`);
  }
  const decoded: Record<string, tf.Tensor> = {};
  try {
    for (const group of groups) {
      // A group's weights are laid out across its files in order, as TF.js shards them.
      const joined = tf.io.concatenateArrayBuffers(group.paths.map((p) => readBinAny(path.join(path.dirname(manifestFile), p))));
      const want = manifestBytes(group.weights);
      if (joined.byteLength !== want) {
        throw new NinError(`${group.paths.join(', ')} next to ${manifestFile} hold ${joined.byteLength} bytes, the manifest says ${want}: truncated or corrupt`);
      }
      Object.assign(decoded, tf.io.decodeWeights(joined, group.weights));
    }
    const values = model.weights.map((w) => {
      const name = (w as unknown as { originalName: string }).originalName;
      const t = decoded[name];
      if (!t) throw new NinError(`${manifestFile} has no weight ${name}; it must hold all of NiN's kernels and biases`);
      if (t.shape.join('x') !== w.shape.join('x')) {
        throw new NinError(`${manifestFile}: ${name} is ${t.shape.join('x')}, NiN's is ${w.shape.join('x')} (kernels are height x width x in x out)`);
      }
      return t;
    });
    model.setWeights(values);
  } finally {
    for (const t of Object.values(decoded)) t.dispose();
  }
}

function readBinAny(file: string): ArrayBuffer {
  try {
    const buf = fs.readFileSync(file);
    return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  } catch {
    throw new NinError(`${file} is missing; a weights manifest needs the .bin files it names beside it`);
  }
}
