// Named recipes for `nin train --recipe NAME`: d2l's own (the default) and the project's best 10-epoch
// recipe, NiN unchanged. Flags given beside a recipe override it; each value remembers where it came from.
import { type ConfigSources, DEFAULT_CONFIG, DEFAULT_RECIPE, type Recipe, resolveConfig, type TrainConfig } from './config';

export interface NamedRecipe {
  summary: string; // one line for --help and README
  values: Partial<Recipe>; // what it changes from d2l's recipe (DEFAULT_RECIPE); the rest is d2l's
}

export const RECIPES = Object.freeze({
  // d2l's train_ch6 as the book runs it: the defaults themselves, so nothing to change.
  d2l: {
    summary: "d2l's train_ch6: SGD, lr 0.1, batch 128, 224px, 10 epochs, Xavier-uniform kernels, PyTorch's default biases",
    values: {},
  },
  // README's 0.90 recipe with an initialisation that keeps every class alive: at 96px NiN's last block
  // sees a 1x1 map, so it is a 10-10-10 ReLU stack where a class's channel, once 0 on every image, gets no
  // gradient again. Xavier leaves a fresh NiN's logits at ~1e-4 and many class channels 0 (seed 1: nine
  // classes dead after the first epoch); He-uniform kernels keep the scale, and class biases of 1 start
  // every class channel active. The learning rate, weight decay, label smoothing, warm-up and batch are
  // the winner of a random search over them (docs/exercises/tune.json: 24 trials of 4 epochs, median
  // pruning), confirmed on seeds 0-4 over 10 epochs (docs/exercises/tune-winner.json): see README.
  // Before it: lr 0.03, 2-epoch warm-up, label smoothing 0.1, weight decay 5e-4, batch 128.
  best: {
    summary:
      'the best 10-epoch recipe so far: 96px, batch 64, He-uniform kernels, zero biases but 1 for the class channels, Nesterov momentum 0.9, lr 0.04139, 1-epoch warm-up into a cosine decay, label smoothing 0.1366, weight decay 5.237e-4',
    values: {
      imageSize: 96,
      epochs: 10,
      batchSize: 64,
      optimizer: 'momentum',
      momentum: 0.9,
      nesterov: true,
      learningRate: 0.04139,
      schedule: 'cosine',
      warmupEpochs: 1,
      labelSmoothing: 0.1366,
      weightDecay: 5.237e-4,
      kernelInit: 'he',
      biasInit: 'zeros',
      classBias: 1,
    },
  },
} satisfies Record<string, NamedRecipe>);

export type RecipeName = keyof typeof RECIPES;
export const RECIPE_NAMES = Object.keys(RECIPES) as RecipeName[];
export const DEFAULT_RECIPE_NAME: RecipeName = 'd2l';

export interface ResolvedConfig {
  config: TrainConfig;
  sources: ConfigSources; // 'flag' or the recipe's name, for each value not left at d2l's default
}

/** d2l's defaults, then the recipe's values, then the flags the user gave (undefined: not given). */
export function resolveRecipe(name: RecipeName, flags: Partial<TrainConfig>): ResolvedConfig {
  const recipe: NamedRecipe = RECIPES[name];
  if (!recipe) throw new Error(`unknown recipe ${name} (this is a bug: the CLI checks the name)`);
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  const sources: ConfigSources = {};
  for (const key of Object.keys(recipe.values) as (keyof Recipe)[]) sources[key] = name;
  for (const key of Object.keys(given) as (keyof TrainConfig)[]) sources[key] = 'flag';
  return { config: resolveConfig({ ...DEFAULT_RECIPE, ...recipe.values, ...given }), sources };
}

/** How the banner marks a value that came from a --config file. */
export const CONFIG_FILE_SOURCE = 'config';

/**
 * A config file's values (a run's config.json, read and checked by readConfigFile), then the flags the
 * user gave. The file is a whole config, recipe and runtime, so it replaces --recipe (the CLI refuses
 * both). Values the file sets away from d2l's defaults are marked (config), as a recipe's are.
 */
export function resolveConfigFile(file: TrainConfig, flags: Partial<TrainConfig>): ResolvedConfig {
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Partial<TrainConfig>;
  const sources: ConfigSources = {};
  for (const key of Object.keys(file) as (keyof TrainConfig)[]) if (file[key] !== DEFAULT_CONFIG[key]) sources[key] = CONFIG_FILE_SOURCE;
  for (const key of Object.keys(given) as (keyof TrainConfig)[]) sources[key] = 'flag';
  return { config: resolveConfig({ ...file, ...given }), sources };
}
