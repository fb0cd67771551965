// The one typed training config, in two parts: the recipe (what is trained, d2l's train_ch6 defaults),
// frozen in the run's config.json, and the runtime (where and how fast it runs), which each start or
// --resume may choose anew. Resolved once, printed at start, saved with every checkpoint.
import type { ScheduleName } from '../train/schedule';
import type { BiasInit, KernelInit } from '../model/nin';

export type OptimizerName = 'sgd' | 'momentum' | 'adam';
/** Tensors of state an optimizer keeps per trainable weight (TF.js's slots): momentum its velocity, adam two moments. */
export const OPTIMIZER_SLOTS: Readonly<Record<OptimizerName, number>> = Object.freeze({ sgd: 0, momentum: 1, adam: 2 });
export type BackendChoice = 'auto' | 'webgpu' | 'tensorflow' | 'onednn' | 'cpu';
/** The convolutions' arithmetic: float32, bf16 mixed precision (onednn only), or bf16 where the CPU runs it natively. */
export type PrecisionChoice = 'fp32' | 'bf16' | 'auto';

/** What is trained: fixed for the life of a run. */
export interface Recipe {
  learningRate: number; // d2l: lr = 0.1
  epochs: number; // d2l: num_epochs = 10; the one recipe value --resume may raise or lower
  batchSize: number; // d2l: batch_size = 128
  imageSize: number; // d2l resizes Fashion-MNIST to 224x224
  optimizer: OptimizerName; // d2l: plain SGD
  momentum: number; // used by 'momentum' only
  nesterov: boolean; // Nesterov momentum (with 'momentum')
  schedule: ScheduleName; // learning-rate schedule; d2l keeps it constant
  warmupEpochs: number; // linear warm-up from ~0 to learningRate; d2l has none
  augment: boolean; // random flip + padded crop per batch; d2l has none
  labelSmoothing: number; // share of the target spread over all classes; d2l uses 0
  weightDecay: number; // L2 added to the loss; d2l uses none
  seed: number; // initialisers, shuffling and dropout derive from it
  biasInit: BiasInit; // d2l's: 'pytorch', PyTorch's Conv2d default (uniform in +-1/sqrt(fan_in)), which train_ch6 keeps; or 'zeros'
  classBias: number | null; // the last conv's biases (one per class) start here instead of biasInit's; d2l: null (as biasInit)
  kernelInit: KernelInit; // d2l's: 'xavier' (Xavier-uniform); or 'he' (Kaiming-uniform for ReLU)
  initWeights: string | null; // start from these weights (checkpoint or weights manifest) instead of the seeded initialisation
  trainLimit: number | null; // first N training examples; null = all 60,000
  testLimit: number | null; // first N test examples; null = all 10,000
  valSplit: number; // training examples held out (seeded, stratified) to choose best/ on; d2l: 0, all train
  earlyStop: number | null; // stop after this many epochs without a better monitored accuracy; null = never
}

/** Where and how fast: may change between a run's start and each --resume. */
export interface Runtime {
  dataDir: string | null; // explicit dataset directory; null = the lookup order in data.ts
  backend: BackendChoice; // which engine runs the math
  threads: number | null; // CPU threads for onednn; null = all cores
  // A runtime choice, not a recipe one: weights, optimizer state and checkpoints are float32 either way and bf16
  // only rounds the convolutions' inputs (as threads reorder sums), so a bf16 run may resume in fp32, on any backend.
  precision: PrecisionChoice; // fp32 = float32 everywhere; bf16 = convolutions in bf16 (onednn); auto = bf16 where native
}

/** The flat object config.json and meta.json hold: the recipe and the runtime it was started with. */
export type TrainConfig = Recipe & Runtime;

export const DEFAULT_RECIPE: Readonly<Recipe> = Object.freeze({
  learningRate: 0.1,
  epochs: 10,
  batchSize: 128,
  imageSize: 224,
  optimizer: 'sgd',
  momentum: 0.9,
  nesterov: false,
  schedule: 'constant',
  warmupEpochs: 0,
  augment: false,
  labelSmoothing: 0,
  weightDecay: 0,
  seed: 0,
  biasInit: 'pytorch',
  kernelInit: 'xavier',
  classBias: null,
  initWeights: null,
  trainLimit: null,
  testLimit: null,
  valSplit: 0,
  earlyStop: null,
});

export const DEFAULT_RUNTIME: Readonly<Runtime> = Object.freeze({ dataDir: null, backend: 'auto', threads: null, precision: 'fp32' });

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({ ...DEFAULT_RECIPE, ...DEFAULT_RUNTIME });

export const RECIPE_KEYS = Object.keys(DEFAULT_RECIPE) as (keyof Recipe)[];
export const RUNTIME_KEYS = Object.keys(DEFAULT_RUNTIME) as (keyof Runtime)[];

export function resolveConfig(overrides: Partial<TrainConfig>): TrainConfig {
  const config: TrainConfig = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_CONFIG)) throw new Error(`unknown config key ${key} (this is a bug)`);
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  return config;
}

/**
 * A resumed run's config: its own recipe (with the epoch count the user may have changed) and this
 * start's engine, threads and precision; its data directory unless this start names another.
 */
export function resumedConfig(saved: TrainConfig, runtime: Runtime, epochs: number | undefined): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    ...saved,
    epochs: epochs ?? saved.epochs,
    backend: runtime.backend,
    threads: runtime.threads,
    precision: runtime.precision,
    dataDir: runtime.dataDir ?? saved.dataDir,
  };
}

/** Where a value came from when it is not d2l's default: 'flag', or the name of the recipe (see recipes.ts). */
export type ConfigSources = Partial<Record<keyof TrainConfig, string>>;

/**
 * The resolved config as `key=value` pairs, for the start-of-run banner on stderr; a value a recipe or
 * a flag set says which: `learningRate=0.03 (best)`, `seed=1 (flag)`; d2l's defaults are unmarked.
 */
export function describeConfig(config: TrainConfig, sources: ConfigSources = {}): string {
  return (
    Object.entries(config)
      // No --init-weights means the seeded initialisation, not a default file; no --early-stop, never stopping early.
      .map(([k, v]) => {
        const source = sources[k as keyof TrainConfig];
        const unset = k === 'initWeights' ? 'seeded' : k === 'earlyStop' ? 'off' : 'default';
        return `${k}=${v === null ? unset : v}${source ? ` (${source})` : ''}`;
      })
      .join(' ')
  );
}
