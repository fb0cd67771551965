// The one typed training config, with d2l's train_ch6 defaults; resolved once, printed at start, saved with every checkpoint.

import type { ScheduleName } from './schedule';
import type { BiasInit } from './model';

export type OptimizerName = 'sgd' | 'momentum' | 'adam';
export type BackendChoice = 'auto' | 'tensorflow' | 'onednn' | 'cpu';

export interface TrainConfig {
  learningRate: number; // d2l: lr = 0.1
  epochs: number; // d2l: num_epochs = 10
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
  biasInit: BiasInit; // zeros; 'pytorch' draws them as PyTorch's Conv2d default, as d2l's PyTorch code ends up with
  initWeights: string | null; // start from these weights (checkpoint or weights manifest) instead of the seeded initialisation
  trainLimit: number | null; // first N training examples; null = all 60,000
  testLimit: number | null; // first N test examples; null = all 10,000
  dataDir: string | null; // explicit dataset directory; null = the lookup order in data.ts
  backend: BackendChoice; // which engine runs the math
  threads: number | null; // CPU threads for onednn; null = all cores
}

export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({
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
  biasInit: 'zeros',
  initWeights: null,
  trainLimit: null,
  testLimit: null,
  dataDir: null,
  backend: 'auto',
  threads: null,
});

/** The smallest input NiN's three 3x3/2 max-pools leave at least one pixel for. */
export const MIN_IMAGE_SIZE = 67;

export function resolveConfig(overrides: Partial<TrainConfig>): TrainConfig {
  const config: TrainConfig = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_CONFIG)) throw new Error(`unknown config key ${key} (this is a bug)`);
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  return config;
}

/** The resolved config as `key=value` pairs, for the start-of-run banner on stderr. */
export function describeConfig(config: TrainConfig): string {
  return Object.entries(config)
    // No --init-weights means the seeded initialisation, not a default file.
    .map(([k, v]) => `${k}=${v === null ? (k === 'initWeights' ? 'seeded' : 'default') : v}`)
    .join(' ');
}
