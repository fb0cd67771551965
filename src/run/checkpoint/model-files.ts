// A checkpoint's model.json and weights.bin, checked before TF.js sees them: NiN's topology (the architecture its
// config names, at its image size; a layer of a billion filters would be allocated first), each of NiN's
// weights once with its shape, the file's size, and finite values; then the model built from them.
import * as tf from '@tensorflow/tfjs';
import { type Architecture, architectureProblem, describeArchitecture } from '../../model/architecture';
import { buildNin } from '../../model/nin';
import { NinError } from '../../sys/errors';
import { FieldChecker, isPlainObject, shown } from '../../sys/field-check';
import { weightName } from '../../sys/tfjs-internals';
import { CHECKPOINT_FILES, checkpointFile } from '../layout';
import { checkSpecs, manifestBytes, readBin, readCheckpointJson, refuseNonFinite, USE_ANOTHER } from './files';

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
  if (paths[0] !== CHECKPOINT_FILES.weights) c.fail('weightsManifest[0].paths', paths, JSON.stringify([CHECKPOINT_FILES.weights]));
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
export function ninReference(imageSize: number, architecture: Architecture): NinReference {
  const key = `${imageSize} ${JSON.stringify(architecture)}`;
  let reference = ninReferences.get(key);
  if (!reference) {
    const model = buildNin({ imageSize, seed: 0, architecture });
    reference = {
      layers: (model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } }).config.layers,
      weights: new Map(model.weights.map((w) => [weightName(w), w.shape as number[]])),
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
export function readModelFiles(dir: string, imageSize: number, architecture: Architecture): ModelFiles {
  const file = checkpointFile(dir, 'model');
  const { topology, specs } = validateModelJson(
    readCheckpointJson(file, USE_ANOTHER, `${file} is missing; the checkpoint is incomplete, ${USE_ANOTHER}`),
    file,
  );
  const unbuildable = architectureProblem(architecture, imageSize);
  if (unbuildable)
    throw new NinError(`${checkpointFile(dir, 'meta')}'s config describes no NiN nin builds (${unbuildable}); ${USE_ANOTHER}`);
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
  const weightsFile = checkpointFile(dir, 'weights');
  const weightData = readBin(weightsFile, manifestBytes(specs));
  refuseNonFinite(weightsFile, weightData, specs, USE_ANOTHER);
  return { topology, specs, weightData };
}

export async function buildModel(files: ModelFiles, file: string): Promise<tf.LayersModel> {
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
