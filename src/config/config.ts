// The one typed training config, in two parts: the recipe (what is trained, d2l's train_ch6 defaults),
// frozen in the run's config.json, and the runtime (where and how fast it runs), which each start or
// --resume may choose anew. Resolved once, printed at start, saved with every checkpoint. Every key is a row of keys.ts; this room derives the
// types and defaults from it and resolves a config (flags, recipes, --resume).
import { CONFIG_KEY_NAMES, CONFIG_KEYS, keyRow, type RecipeKey, type RuntimeKey, type TrainConfig } from './keys';

export type { TrainConfig } from './keys';
export type OptimizerName = TrainConfig['optimizer'];
/** Tensors of state an optimizer keeps per trainable weight (TF.js's slots): momentum its velocity, adam two moments. */
export const OPTIMIZER_SLOTS: Readonly<Record<OptimizerName, number>> = Object.freeze({ sgd: 0, momentum: 1, adam: 2 });
export type BackendChoice = 'auto' | 'webgpu' | 'tensorflow' | 'onednn' | 'cpu';
/** The convolutions' arithmetic: float32, bf16 mixed precision (onednn only), or bf16 where the CPU runs it natively. */
export type PrecisionChoice = 'fp32' | 'bf16' | 'auto';

/** What is trained: fixed for the life of a run (the table's recipe rows). */
export type Recipe = Pick<TrainConfig, RecipeKey>;
/** Where and how fast: may change between a run's start and each --resume (the table's runtime rows). */
export type Runtime = Pick<TrainConfig, RuntimeKey>;

export const RECIPE_KEYS = CONFIG_KEY_NAMES.filter((k) => CONFIG_KEYS[k].part === 'recipe') as RecipeKey[];
export const RUNTIME_KEYS = CONFIG_KEY_NAMES.filter((k) => CONFIG_KEYS[k].part === 'runtime') as RuntimeKey[];

const defaults = <K extends keyof TrainConfig>(keys: readonly K[]) =>
  Object.freeze(Object.fromEntries(keys.map((k) => [k, CONFIG_KEYS[k].default]))) as Readonly<Pick<TrainConfig, K>>;

/** d2l's recipe and the default runtime, from the table's defaults. */
export const DEFAULT_RECIPE: Readonly<Recipe> = defaults(RECIPE_KEYS);
export const DEFAULT_RUNTIME: Readonly<Runtime> = defaults(RUNTIME_KEYS);
export const DEFAULT_CONFIG: Readonly<TrainConfig> = Object.freeze({ ...DEFAULT_RECIPE, ...DEFAULT_RUNTIME });

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
  return Object.entries(config)
    .map(([k, v]) => {
      const source = sources[k as keyof TrainConfig];
      const unset = keyRow(k as keyof TrainConfig).unset ?? 'default';
      return `${k}=${v === null ? unset : v}${source ? ` (${source})` : ''}`;
    })
    .join(' ');
}
