// nin as a library: the typed command functions the CLI calls, and the pieces they are built from.
export { train, type EpochEnd, type EpochListener, type StopRequest, type TrainOptions, type TrainResult } from './train/train';
export { evaluate, scoreSplit, type EvalOptions, type EvalResult } from './report/eval';
export { bench, type BenchOptions, type BenchResult } from './machine/bench';
export { predict } from './predict/predict';
export { plot, type PlotOptions, type PlotResult } from './report/plot';
export { benchMemoryEstimate, shapes, type ShapesResult } from './model/shapes';
export { info, type InfoResult } from './machine/info';
export { initBackend, type BackendInfo } from './backend';
export {
  DEFAULT_CONFIG,
  DEFAULT_RECIPE,
  DEFAULT_RUNTIME,
  resolveConfig,
  type Recipe,
  type Runtime,
  type TrainConfig,
} from './config/config';
export { buildNin, forward, NUM_CLASSES, MIN_IMAGE_SIZE } from './model/nin';
export { type Architecture, architectureOf, checkArchitecture, DEFAULT_ARCHITECTURE, planNin } from './model/architecture';
export { makeOptimizer, makeTrainer, trainStep, type StepOptions, type Trainer } from './train/step';
export { loadCheckpoint } from './run/checkpoint/load';
export { saveCheckpoint } from './run/checkpoint/save';
export { loadFashionMnist, batches, CLASS_NAMES } from './data/idx';
export { NinError, UsageError } from './sys/errors';
export { lrFind } from './train/lr-find';
export { TensorBoardWriter } from './run/tensorboard';
export { RECIPES, resolveRecipe } from './config/recipes';
export { CONFIG_KEYS, type ConfigKey, type KeyRow } from './config/keys';
export { CONFIG_RULES } from './config/check';
export { serve, type ServeOptions, type ServeHandle } from './serve/server';
