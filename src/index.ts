// nin as a library: the typed command functions the CLI calls, and the pieces they are built from.
export { train, type TrainOptions, type TrainResult } from './train';
export { evaluate, scoreSplit, type EvalOptions, type EvalResult } from './eval';
export { bench, type BenchOptions, type BenchResult } from './bench';
export { predict } from './predict';
export { plot, type PlotOptions, type PlotResult } from './plot';
export { shapes, type ShapesResult } from './shapes';
export { info, type InfoResult } from './info';
export { initBackend, type BackendInfo } from './backend';
export { DEFAULT_CONFIG, DEFAULT_RECIPE, DEFAULT_RUNTIME, resolveConfig, type Recipe, type Runtime, type TrainConfig } from './config';
export { buildNin, forward, NUM_CLASSES, MIN_IMAGE_SIZE } from './model';
export { makeOptimizer, makeTrainer, trainStep, type StepOptions, type Trainer } from './step';
export { loadCheckpoint, saveCheckpoint } from './checkpoint';
export { loadFashionMnist, batches, CLASS_NAMES } from './data';
export { NinError, UsageError } from './errors';
export { lrFind } from './lr-find';
export { TensorBoardWriter } from './tensorboard';
export { RECIPES, resolveRecipe } from './recipes';
export { serve, type ServeOptions, type ServeHandle } from './serve/server';
