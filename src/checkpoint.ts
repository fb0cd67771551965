// Checkpoint format, atomic save and checked load. A checkpoint is a directory:
//   model.json + weights.bin  a TF.js LayersModel (tf.loadLayersModel reads it, in a browser too)
//   meta.json                 format version, config, epoch, metrics, backend
//   optimizer.json + optimizer.bin  the optimizer's state, for --resume
// It is written under a temporary name and renamed, so a crash leaves the old one or the new one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Architecture, architectureOf, architectureProblem, describeArchitecture } from './architecture';
import { OPTIMIZER_SLOTS, type TrainConfig } from './config';
import { CONFIG_RULES, FieldChecker, isPlainObject, shown, validateConfig, validateEpochMetrics } from './config-check';
import { NinError, UsageError } from './errors';
import { describeFsError, fsyncDir, temporaryName, writeDurable } from './safe-file';
import { buildNin, MIN_IMAGE_SIZE } from './model';
import { MissingFileError, readJsonFile, readRegularFile, regularFileSize } from './read-file';
import { followUserPath, oldName, readConsistent, resolveCheckpointDir } from './checkpoint-read';

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
  valLoss?: number; // on the --val-split examples (absent: no validation split)
  valAcc?: number;
  deadClasses?: string[]; // classes the dead-class guard named after this epoch (absent: none)
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
  /** Called the moment the new checkpoint is in place (before the directory sync and the old copy's removal). */
  onInPlace?: () => void;
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
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
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
      json: JSON.stringify({ weightsManifest: [{ paths: ['optimizer.bin'], weights: encoded.specs }] }),
      bin: joinWeightData(encoded.data),
    };
  }

  const tmp = temporaryName(dir);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
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
    throw describeFsError(err, `saving ${dir}`, 'the previous checkpoint is intact: free some space or pass another --out, then --resume');
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

export interface LoadedCheckpoint {
  dir: string;
  model: tf.LayersModel;
  meta: CheckpointMeta;
  optimizerWeights: NamedTensor[] | null;
}

// ---------------------------------------------------------------------------------------------
// Loading: every file is checked before it is used, as strictly as the CLI checks flags. Sizes are
// checked before bytes are read, the topology before TF.js builds it (a layer of a billion filters
// would be allocated first), and no NaN or infinity gets past: a bad checkpoint is one line, exit 1.

const USE_ANOTHER = 'use another checkpoint, e.g. best/ or last/ of the run';
const MAX_JSON_BYTES = 16e6; // model.json and meta.json are kilobytes
const MAX_WEIGHT_BYTES = 256e6; // NiN's weights are 8 MB, Adam's state twice that
const MAX_WEIGHT_ENTRIES = 10_000;
const MAX_EPOCHS = CONFIG_RULES.epochs.kind === 'integer' ? CONFIG_RULES.epochs.max : 10000;

/** A checkpoint's JSON file (a link refused: nin writes none), or a weights manifest the user named (`follow`). */
function readJson(file: string, fix: string, missing?: string, follow = false): unknown {
  return readJsonFile(file, { maxBytes: MAX_JSON_BYTES, fix, missing, noFollow: !follow });
}

/** A checkpoint's .bin file of exactly `expectedBytes` bytes: the size is compared before anything is read. */
function readBin(file: string, expectedBytes: number, fix: string = USE_ANOTHER): ArrayBuffer {
  const buf = readRegularFile(file, {
    fix,
    what: 'a weights file',
    missing: `${file} is missing; the checkpoint is incomplete, ${fix}`,
    noFollow: true,
    maxBytes: expectedBytes,
    checkSize: (size) => {
      if (size !== expectedBytes)
        throw new NinError(`${file} has ${size} bytes, its manifest says ${expectedBytes}: the file is truncated or corrupt; ${fix}`);
    },
  });
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4 };

function manifestBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[s.dtype], 0);
}

/**
 * A weights manifest's entries, each checked: a unique name, a shape of whole numbers, a dtype nin
 * writes, no quantization, and all of them together within MAX_WEIGHT_BYTES.
 */
function checkSpecs(
  value: unknown,
  c: FieldChecker,
  key: string,
  dtypes: readonly ('float32' | 'int32')[],
  names = new Set<string>(),
): tf.io.WeightsManifestEntry[] {
  const list = c.array(key, value, MAX_WEIGHT_ENTRIES);
  let bytes = 0;
  return list.map((entry, i) => {
    const k = `${key}[${i}]`;
    const e = c.object(k, entry);
    const name = c.string(`${k}.name`, e.name);
    if (names.has(name)) c.fail(`${k}.name`, name, 'a name no other weight has');
    names.add(name);
    const shape = c.array(`${k}.shape`, e.shape, 8).map((d, j) => c.integer(`${k}.shape[${j}]`, d, 0, 2 ** 31 - 1));
    const dtype = c.choice(`${k}.dtype`, e.dtype, dtypes);
    if (e.quantization !== undefined) c.fail(`${k}.quantization`, e.quantization, 'absent (nin reads unquantized weights only)');
    bytes += shape.reduce((a, b) => a * b, DTYPE_BYTES[dtype]);
    if (bytes > MAX_WEIGHT_BYTES)
      c.fail(key, `${(bytes / 1e6).toFixed(0)} MB of weights`, `at most ${MAX_WEIGHT_BYTES / 1e6} MB (NiN's weights are 8 MB)`);
    return { name, shape, dtype };
  });
}

/** The first weight holding NaN or an infinity, and how many such values there are in all. */
function nonFinite(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): { name: string; count: number } | null {
  let offset = 0;
  let first: string | null = null;
  let count = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.dtype === 'float32') {
      const values = new Float32Array(data, offset, n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(values[i])) {
          count++;
          first ??= s.name;
        }
      }
    }
    offset += n * DTYPE_BYTES[s.dtype];
  }
  return first === null ? null : { name: first, count };
}

function refuseNonFinite(file: string, data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], fix: string): void {
  const bad = nonFinite(data, specs);
  if (bad) {
    throw new NinError(
      `${file} holds ${bad.count} NaN or infinite value${bad.count === 1 ? '' : 's'} (first in ${bad.name}): its run diverged or the file is damaged; ${fix}`,
    );
  }
}

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

/** model.json: a TF.js LayersModel whose one weight group is weights.bin, in float32. */
function validateModelJson(raw: unknown, file: string): { topology: Record<string, unknown>; specs: tf.io.WeightsManifestEntry[] } {
  if (!isPlainObject(raw) || !isPlainObject(raw.modelTopology) || !Array.isArray(raw.weightsManifest)) {
    throw new NinError(`${file} is not a TF.js LayersModel; use a checkpoint written by nin train`);
  }
  const c = new FieldChecker(file, USE_ANOTHER);
  if (raw.format !== undefined) c.choice('format', raw.format, ['layers-model']);
  if (raw.weightsManifest.length !== 1) c.fail('weightsManifest', `${raw.weightsManifest.length} groups`, 'one group (weights.bin)');
  const group = c.object('weightsManifest[0]', raw.weightsManifest[0]);
  const paths = c.array('weightsManifest[0].paths', group.paths, 1);
  if (paths[0] !== 'weights.bin') c.fail('weightsManifest[0].paths', paths, '["weights.bin"]');
  return { topology: raw.modelTopology, specs: checkSpecs(group.weights, c, 'weightsManifest[0].weights', ['float32']) };
}

/** Initialisers TF.js may build a layer with before its weights are loaded: all cheap. */
const INITIALIZERS = new Set([
  'VarianceScaling',
  'GlorotUniform',
  'GlorotNormal',
  'HeUniform',
  'HeNormal',
  'LeCunUniform',
  'LeCunNormal',
  'Zeros',
  'Ones',
  'Constant',
  'RandomUniform',
  'RandomNormal',
  'TruncatedNormal',
]);
const INITIALIZER_KEYS = new Set(['kernel_initializer', 'bias_initializer']);

type LayerJson = { class_name: string; config: Record<string, unknown> };
interface NinReference {
  layers: LayerJson[]; // the topology as TF.js serialises it
  weights: Map<string, number[]>; // every weight's shape by name
  trainable: number[][]; // the trainable weights' shapes, in the order optimizers keep their slots
}
const ninReferences = new Map<string, NinReference>();

/** The NiN of `architecture` at `imageSize` as a checkpoint must hold it (built once per pair). */
function ninReference(imageSize: number, architecture: Architecture): NinReference {
  const key = `${imageSize} ${JSON.stringify(architecture)}`;
  let reference = ninReferences.get(key);
  if (!reference) {
    const model = buildNin({ imageSize, seed: 0, architecture });
    const name = (w: tf.LayerVariable) => (w as unknown as { originalName: string }).originalName;
    reference = {
      layers: (model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } }).config.layers,
      weights: new Map(model.weights.map((w) => [name(w), w.shape as number[]])),
      trainable: model.trainableWeights.map((w) => w.shape as number[]),
    };
    model.dispose();
    ninReferences.set(key, reference);
  }
  return reference;
}

/**
 * How a saved topology differs from d2l's NiN at `imageSize`, or null. Every layer's kind, name
 * and configuration must be NiN's; only the initialisers (which depend on the seed) may differ.
 */
function topologyMismatch(topology: Record<string, unknown>, imageSize: number, architecture: Architecture): string | null {
  const want = ninReference(imageSize, architecture).layers;
  if (topology.class_name !== 'Sequential') return `its model is ${shown(topology.class_name)}, NiN's is "Sequential"`;
  const layers = isPlainObject(topology.config) ? topology.config.layers : undefined;
  if (!Array.isArray(layers)) return 'its modelTopology has no list of layers';
  if (layers.length !== want.length) return `it has ${layers.length} layers, NiN has ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const layer = layers[i];
    const ref = want[i];
    const name = String(ref.config.name);
    if (!isPlainObject(layer) || !isPlainObject(layer.config)) return `its layer ${i + 1} is ${shown(layer)}`;
    if (layer.class_name !== ref.class_name) return `its layer ${i + 1} is ${shown(layer.class_name)}, NiN's is "${ref.class_name}"`;
    const config = layer.config;
    for (const key of new Set([...Object.keys(ref.config), ...Object.keys(config)])) {
      if (INITIALIZER_KEYS.has(key)) {
        const init = config[key];
        if (init !== undefined && !(isPlainObject(init) && typeof init.class_name === 'string' && INITIALIZERS.has(init.class_name)))
          return `${name}'s ${key} is ${shown(init)}`;
        continue;
      }
      if (JSON.stringify(config[key]) === JSON.stringify(ref.config[key])) continue;
      const shape = config[key];
      if (key === 'batch_input_shape' && Array.isArray(shape))
        return `its input is ${shape.slice(1).join('x')}, meta.json says ${imageSize}px`;
      return `${name}'s ${key} is ${shown(config[key])}, NiN's is ${shown(ref.config[key])}`;
    }
  }
  return null;
}

/** What a checkpoint's model files hold once checked: TF.js's topology, weight specs and data. */
export interface ModelFiles {
  topology: Record<string, unknown>;
  specs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

/**
 * model.json and weights.bin, checked before TF.js sees them: NiN's topology at the checkpoint's
 * image size, each of NiN's weights once with its shape, the file's size, and finite values.
 */
function readModelFiles(dir: string, imageSize: number, architecture: Architecture): ModelFiles {
  const file = path.join(dir, 'model.json');
  const { topology, specs } = validateModelJson(
    readJson(file, USE_ANOTHER, `${file} is missing; the checkpoint is incomplete, ${USE_ANOTHER}`),
    file,
  );
  const unbuildable = architectureProblem(architecture, imageSize);
  if (unbuildable)
    throw new NinError(`${path.join(dir, 'meta.json')}'s config describes no NiN nin builds (${unbuildable}); ${USE_ANOTHER}`);
  const described = describeArchitecture(architecture);
  const other = (why: string) =>
    new NinError(`${dir} holds another architecture than ${described} at ${imageSize}px (${why}); use a checkpoint written by nin train`);
  const mismatch = topologyMismatch(topology, imageSize, architecture);
  if (mismatch) throw other(mismatch);
  const { weights } = ninReference(imageSize, architecture);
  for (const spec of specs) {
    const shape = weights.get(spec.name);
    if (!shape) throw other(`it has a weight ${JSON.stringify(spec.name).slice(0, 60)}, NiN has none of that name`);
    if (shape.join('x') !== spec.shape.join('x')) throw other(`${spec.name} is ${spec.shape.join('x')}, NiN's is ${shape.join('x')}`);
  }
  if (specs.length !== weights.size) throw other(`it has ${specs.length} weights, NiN has ${weights.size}`);
  const weightsFile = path.join(dir, 'weights.bin');
  const weightData = readBin(weightsFile, manifestBytes(specs));
  refuseNonFinite(weightsFile, weightData, specs, USE_ANOTHER);
  return { topology, specs, weightData };
}

async function buildModel(files: ModelFiles, file: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: files.topology, weightSpecs: files.specs, weightData: files.weightData }),
    );
  } catch (err) {
    throw new NinError(
      `${file} could not be loaded as a model (${String((err as Error)?.message ?? err).split('\n')[0]}); use a checkpoint written by nin train`,
    );
  }
}

/**
 * optimizer.json + optimizer.bin: TF.js's optimizer.getWeights() for the run's optimizer: `iter`
 * (the step count, an int32 scalar), then for each kind of slot one tensor per trainable weight,
 * in the model's order and with its shape (as setWeights applies them). Null when there is none.
 */
function readOptimizerFiles(dir: string, meta: CheckpointMeta): OptimizerFiles | null {
  const file = path.join(dir, 'optimizer.json');
  const fix = 'resume from another checkpoint, or start a new run from these weights with --init-weights';
  let json: unknown;
  try {
    json = readJson(file, fix);
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
  if (paths[0] !== 'optimizer.bin') c.fail('weightsManifest[0].paths', paths, '["optimizer.bin"]');
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
  const binFile = path.join(dir, 'optimizer.bin');
  const data = readBin(binFile, manifestBytes(specs), fix);
  refuseNonFinite(binFile, data, specs, fix);
  const steps = new Int32Array(data, 0, 1)[0];
  const perEpoch = Math.ceil((meta.config.trainLimit ?? 60000) / meta.config.batchSize);
  const binChecker = new FieldChecker(binFile, fix);
  binChecker.integer('iter', steps, 0, (meta.epoch + 1) * perEpoch);
  if (meta.optimizer && meta.optimizer.iterations !== steps)
    binChecker.fail('iter', steps, `meta.json's optimizer.iterations, ${meta.optimizer.iterations}`);
  return { specs, data };
}

function readMeta(dir: string): CheckpointMeta {
  const metaFile = path.join(dir, 'meta.json');
  return validateMeta(readJson(metaFile, USE_ANOTHER, `${metaFile} is missing: the checkpoint is incomplete; use another one`), metaFile);
}

/** A checkpoint's meta.json alone, checked: what nin serve lists of a checkpoint without reading its weights. */
export function readCheckpointMeta(target: string): CheckpointMeta {
  return readConsistent(target, readMeta).value;
}

/** optimizer.json + optimizer.bin, checked: the specs and the bytes they describe. */
export interface OptimizerFiles {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

/** A checkpoint's files of one save, read and checked, before any model is built. */
export interface CheckpointFiles extends ModelFiles {
  dir: string;
  identity: string; // the directory's identity while it was read (checkpoint-read.ts)
  meta: CheckpointMeta;
  optimizer: OptimizerFiles | null; // null when not asked for, or when the checkpoint keeps none (best/)
}

export interface ReadOptions {
  optimizer?: boolean; // also optimizer.json and optimizer.bin (--resume; nin eval checks them too)
  reuse?: (dir: string, identity: string) => CheckpointFiles | undefined; // a cache of reads by identity (nin serve)
}

/** The files of the one checkpoint directory `dir`, as they are now. */
function readDirectoryFiles(dir: string, withOptimizer: boolean): Omit<CheckpointFiles, 'identity'> {
  const metaFile = path.join(dir, 'meta.json');
  const meta = readMeta(dir);
  const modelFiles = readModelFiles(dir, meta.imageSize, architectureOf(meta.config));
  if (meta.config.imageSize !== meta.imageSize)
    new FieldChecker(metaFile, USE_ANOTHER).fail('config.imageSize', meta.config.imageSize, `its imageSize, ${meta.imageSize}`);
  return { dir, meta, ...modelFiles, optimizer: withOptimizer ? readOptimizerFiles(dir, meta) : null };
}

/**
 * Reads and checks a checkpoint's meta.json, model.json and weights.bin (and its optimizer state,
 * when asked), all of ONE save even while nin train swaps a new one into place (checkpoint-read.ts),
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
  const model = await buildModel(modelFiles, path.join(dir, 'model.json'));
  let optimizerWeights: NamedTensor[] | null = null;
  if (optimizerFiles) {
    const decoded = tf.io.decodeWeights(optimizerFiles.data, optimizerFiles.specs);
    optimizerWeights = optimizerFiles.specs.map((s) => ({ name: s.name, tensor: decoded[s.name] }));
  }
  return { dir, model, meta, optimizerWeights };
}

/**
 * Starting weights for a new run, instead of the seeded initialisation: from a nin checkpoint or run
 * directory, or from a weights manifest (a JSON file with TF.js's `weightsManifest` and the .bin files
 * it names, such as scripts/torch-init-weights.py writes from PyTorch's initialisation of d2l's NiN).
 * Every kernel and bias must be there with NiN's shape and finite values, or nothing is loaded.
 */
export function loadInitialWeights(typed: string, model: tf.LayersModel): void {
  // The user named this path (a flag or their config file): links in it are theirs, followed here.
  const target = followUserPath(typed);
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`--init-weights ${typed} does not exist; pass a checkpoint directory or a weights manifest (.json)`);
  const fix = 'pass another checkpoint directory or TF.js weights manifest';
  const decoded: Record<string, tf.Tensor> = {};
  try {
    let source: string;
    const dir = stat.isDirectory() ? resolveCheckpointDir(target) : null;
    if (dir !== null && fs.lstatSync(path.join(dir, 'meta.json'), { throwIfNoEntry: false })) {
      // A nin checkpoint: the weights of one save, checked as nin eval checks them.
      const files = readCheckpointFiles(target);
      source = path.join(files.dir, 'model.json');
      Object.assign(decoded, tf.io.decodeWeights(files.weightData, files.specs));
    } else {
      // A weights manifest: the file named, or the model.json of a TF.js model directory.
      source = dir === null ? target : path.join(dir, 'model.json');
      readManifestWeights(source, fix, dir === null, decoded);
    }
    const values = model.weights.map((w) => {
      const name = (w as unknown as { originalName: string }).originalName;
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
  const manifest = readJson(manifestFile, fix, undefined, follow);
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
