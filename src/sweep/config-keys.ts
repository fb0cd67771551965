// The sweep's one window on nin's config: which keys a search space may fix or vary, their ranges, the
// base recipes, how a trial's values become the TrainConfig `nin train` runs, and what a trial's model
// counts. Everything else in src/sweep/ goes through here, so when the config keys move (one key table,
// the architecture keys as recipe keys) only this file changes.
import { ARCHITECTURE_KEYS, ARCHITECTURE_RULES, architectureOf, architectureProblem, DEFAULT_ARCHITECTURE } from '../architecture';
import type { Architecture } from '../architecture';
import { CONFIG_RULES, describeRule, type Rule, ruleAllows } from '../config-check';
import { RECIPE_KEYS, RUNTIME_KEYS, type Runtime, type TrainConfig } from '../config';
import { RECIPE_NAMES, type RecipeName, resolveRecipe } from '../recipes';
import { shapes } from '../shapes';

export { describeRule, ruleAllows, type Rule };

/**
 * Whether `nin train` builds the architecture keys yet. In this version they are checked (range, and
 * architectureProblem at the trial's image size) but the model is d2l's NiN whatever they say, so a space
 * that moves one away from d2l's value is refused rather than run as something it is not. The restructure
 * makes them recipe keys: then this is true and trials carry them in their config like any other key.
 */
export const ARCHITECTURE_TRAINABLE = false;

/** What a trial's values describe: the whole TrainConfig plus the architecture (config keys once trainable). */
export type TrialConfig = TrainConfig & Architecture;

/** Keys a space may fix or vary: every recipe key and every architecture key, with the range `nin train` accepts. */
export const SPACE_KEYS: Readonly<Record<string, Rule>> = Object.freeze({
  ...Object.fromEntries(RECIPE_KEYS.map((k) => [k, CONFIG_RULES[k]])),
  ...Object.fromEntries(ARCHITECTURE_KEYS.map((k) => [k, ARCHITECTURE_RULES[k]])),
});

/** The engine settings (how fast, where the data is): not part of a trial's identity, and may differ per start. */
export const ENGINE_KEYS: Readonly<Record<string, Rule>> = Object.freeze(Object.fromEntries(RUNTIME_KEYS.map((k) => [k, CONFIG_RULES[k]])));

export const SEED_KEY = 'seed';

export function isEngineKey(key: string): boolean {
  return Object.prototype.hasOwnProperty.call(ENGINE_KEYS, key);
}

export function isSpaceKey(key: string): boolean {
  return Object.prototype.hasOwnProperty.call(SPACE_KEYS, key);
}

export { RECIPE_NAMES, type RecipeName };
export const DEFAULT_BASE_RECIPE: RecipeName = 'd2l';

/**
 * A trial's full config: d2l's defaults, the base recipe, the space's fixed values, the trial's varied
 * values, then the engine settings of this start. Values are assumed checked (see trialProblem).
 */
export function trialConfig(recipe: RecipeName, values: Record<string, unknown>, runtime: Partial<Runtime>): TrialConfig {
  const recipeKeys = Object.fromEntries(Object.entries(values).filter(([k]) => (RECIPE_KEYS as string[]).includes(k)));
  const { config } = resolveRecipe(recipe, { ...recipeKeys, ...runtime } as Partial<TrainConfig>);
  return { ...config, ...architectureOf(values) };
}

/** What `nin train` is given for a trial: its config without the keys train does not take yet. */
export function trainConfigOf(trial: TrialConfig): TrainConfig {
  if (ARCHITECTURE_TRAINABLE) return trial;
  const config: Record<string, unknown> = { ...trial };
  for (const k of ARCHITECTURE_KEYS) delete config[k];
  return config as unknown as TrainConfig;
}

/** Why a trial's config cannot be trained (one line naming the fix), or null. */
export function trialProblem(trial: TrialConfig): string | null {
  const architecture = architectureOf(trial);
  const problem = architectureProblem(architecture, trial.imageSize);
  if (problem) return problem;
  if (!ARCHITECTURE_TRAINABLE) {
    const changed = ARCHITECTURE_KEYS.filter((k) => architecture[k] !== DEFAULT_ARCHITECTURE[k]);
    if (changed.length)
      return `${changed.join(', ')}: this nin trains d2l's NiN only (the architecture keys become trainable recipe keys in a later version); leave them at d2l's values`;
  }
  return null;
}

/** The accuracy a trial is judged by: the validation split's when it holds one out (best/ is chosen by it too), else the test set's. */
export function monitoredKey(config: TrainConfig): 'valAcc' | 'testAcc' {
  return config.valSplit ? 'valAcc' : 'testAcc';
}

/** The trial's model's parameters (shapes.ts's count for its architecture and image size). */
export function parameterCount(trial: TrialConfig): number {
  return shapes({ imageSize: trial.imageSize, architecture: architectureOf(trial) }).totalParams;
}
