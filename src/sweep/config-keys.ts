// The sweep's one window on nin's config: which keys a search space may fix or vary and their ranges (the
// config key table's rules, architecture keys included: they are recipe keys), the base recipes, how a
// trial's values become the TrainConfig `nin train` runs, and what a trial's model counts. Everything else
// in src/sweep/ goes through here.
import { architectureOf, architectureProblem } from '../model/architecture';
import { shapes } from '../model/shapes';
import { batchCount } from '../data/batches';
import { TRAIN_EXAMPLES } from '../data/fashion-mnist';
import { CONFIG_RULES, describeRule, type Rule, ruleAllows } from '../config/check';
import { RECIPE_KEYS, RUNTIME_KEYS, type Runtime, type TrainConfig } from '../config/config';
import { RECIPE_NAMES, RECIPES, type RecipeName, resolveRecipe } from '../config/recipes';

export { describeRule, ruleAllows, type Rule };
/** The accuracy a trial is judged by (and its best/ chosen on): the validation split's when it holds one out, else the test set's. */
export { monitored as monitoredKey } from '../train/callbacks/early-stopping';

/** Keys a space may fix or vary: every recipe key (the architecture keys among them), with the range `nin train` accepts. */
export const SPACE_KEYS: Readonly<Record<string, Rule>> = Object.freeze(Object.fromEntries(RECIPE_KEYS.map((k) => [k, CONFIG_RULES[k]])));

/** The engine settings (how fast, where the data is): not part of a trial's identity, and may differ per start. */
export const ENGINE_KEYS: Readonly<Record<string, Rule>> = Object.freeze(Object.fromEntries(RUNTIME_KEYS.map((k) => [k, CONFIG_RULES[k]])));

export const SEED_KEY = 'seed';

export function isEngineKey(key: string): boolean {
  return Object.hasOwn(ENGINE_KEYS, key);
}

export function isSpaceKey(key: string): boolean {
  return Object.hasOwn(SPACE_KEYS, key);
}

export { RECIPE_NAMES, type RecipeName };

/** The values a named recipe sets today: a sweep records them, since a newer nin may change a recipe. */
export function recipeValues(recipe: RecipeName): Record<string, unknown> {
  return { ...RECIPES[recipe].values };
}
export const DEFAULT_BASE_RECIPE: RecipeName = 'd2l';

/**
 * A trial's full config: d2l's defaults, the base recipe, the space's fixed values, the trial's varied
 * values, then the engine settings of this start. Values are assumed checked (see trialProblem).
 */
export function trialConfig(recipe: RecipeName, values: Record<string, unknown>, runtime: Partial<Runtime>): TrainConfig {
  const recipeKeys = Object.fromEntries(Object.entries(values).filter(([k]) => isSpaceKey(k)));
  return resolveRecipe(recipe, { ...recipeKeys, ...runtime } as Partial<TrainConfig>).config;
}

/** Why a trial's config cannot be trained (one line naming the fix: an architecture that does not fit its image size), or null. */
export function trialProblem(trial: TrainConfig): string | null {
  return architectureProblem(architectureOf(trial), trial.imageSize);
}

/** The training steps of one of the trial's epochs: its training examples (less the validation split) in batches. */
export function stepsPerEpoch(trial: TrainConfig): number {
  return batchCount(Math.min(trial.trainLimit ?? TRAIN_EXAMPLES, TRAIN_EXAMPLES) - trial.valSplit, trial.batchSize);
}

/** The trial's model's parameters (shapes.ts's count for its architecture and image size). */
export function parameterCount(trial: TrainConfig): number {
  return shapes({ imageSize: trial.imageSize, architecture: architectureOf(trial) }).totalParams;
}
