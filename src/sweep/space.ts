// A sweep's search space: the file a user writes (JSON), checked strictly, normalised, hashed, and the
// pure function from (space, i) to trial i's values. Trial i needs nothing but the space and i (a grid
// point by its index, a random draw from a generator seeded by (space seed, i)), so any process on any
// node can run any trial with no coordinator: a Slurm array task, a Kubernetes Indexed Job's pod.
import { createHash } from 'node:crypto';
import { isPlainObject, shown } from '../sys/field-check';
import { NinError, UsageError } from '../sys/errors';
import { deriveSeed, mulberry32 } from '../sys/random';
import { parseJson, readRegularFile } from '../sys/read-file';
import {
  DEFAULT_BASE_RECIPE,
  describeRule,
  ENGINE_KEYS,
  isEngineKey,
  isSpaceKey,
  RECIPE_NAMES,
  type RecipeName,
  ruleAllows,
  SEED_KEY,
  SPACE_KEYS,
  trialConfig,
  trialProblem,
} from './config-keys';
import type { Runtime, TrainConfig } from '../config/config';

/** The most trials a sweep holds: a grid or budget past it is a mistake (a key with a thousand values), not a plan. */
export const MAX_TRIALS = 10_000;
/** The most values one key may list. */
const MAX_VALUES = 1000;
const MAX_SPACE_BYTES = 1e6;

/** How one key varies: listed values (a grid axis, or a uniform choice in random search) or a distribution (random search only). */
export type Domain = { values: unknown[] } | { uniform: [number, number] } | { logUniform: [number, number] } | { int: [number, number] };

const DISTRIBUTIONS = ['uniform', 'logUniform', 'int'] as const;

export interface PruneRule {
  rule: 'median'; // Optuna's MedianPruner: stop a trial whose accuracy at an epoch is below the median of the others' at that epoch
  afterEpoch: number; // judge from this epoch on
  minTrials: number; // only once this many other trials reached the epoch
}

/** A checked, normalised space. Everything but `trials` and `engine` is its identity (see spaceHash). */
export interface Space {
  recipe: RecipeName;
  fixed: Record<string, unknown>;
  vary: Record<string, Domain>;
  method: 'grid' | 'random';
  seed: number; // random search's generator seed
  trials: number; // the budget: grid, its product capped by the budget given; random, the budget
  prune: PruneRule | null;
  engine: Partial<Runtime>;
}

const TOP_KEYS = ['recipe', 'fixed', 'vary', 'method', 'seed', 'trials', 'prune', 'engine'];

function fail(where: string, message: string): never {
  throw new UsageError(`${where}: ${message}`);
}

/** A space file: read (a regular file of sane size), parsed and checked; one UsageError line otherwise. */
export function readSpaceFile(file: string): Space {
  const fix = 'fix the space file (see README, "nin sweep")';
  let value: unknown;
  try {
    const text = readRegularFile(file, {
      maxBytes: MAX_SPACE_BYTES,
      what: 'a space file',
      fix,
      missing: `${file} does not exist; pass a search space file (JSON)`,
    });
    value = parseJson(text.toString('utf8'), file, fix);
  } catch (err) {
    // The user's own input, named on the command line: a usage error, whatever is wrong with it.
    throw err instanceof NinError ? new UsageError(err.message) : err;
  }
  return checkSpace(value, file);
}

function checkValue(where: string, key: string, value: unknown): void {
  if (!ruleAllows(SPACE_KEYS[key], value))
    fail(where, `${key} ${shown(value)} is not allowed; it must be ${describeRule(SPACE_KEYS[key])}`);
}

function checkKey(where: string, key: string): void {
  if (isEngineKey(key)) fail(where, `${key} is an engine setting, not part of a trial; put it under "engine"`);
  if (!isSpaceKey(key)) fail(where, `${JSON.stringify(key).slice(0, 60)} is not a recipe or architecture key (see nin train --help)`);
}

function checkDomain(where: string, key: string, raw: unknown): Domain {
  if (Array.isArray(raw)) {
    if (raw.length === 0) fail(where, `${key} lists no values; list at least one`);
    if (raw.length > MAX_VALUES) fail(where, `${key} lists ${raw.length} values; at most ${MAX_VALUES}`);
    raw.forEach((v) => checkValue(where, key, v));
    if (new Set(raw.map((v) => JSON.stringify(v))).size !== raw.length) fail(where, `${key} lists a value twice`);
    return { values: raw };
  }
  if (!isPlainObject(raw) || Object.keys(raw).length !== 1)
    fail(
      where,
      `${key} is ${shown(raw)}; give a list of values, or one of {"uniform": [a, b]}, {"logUniform": [a, b]}, {"int": [a, b]}, {"choice": [...]}`,
    );
  const [kind, bounds] = Object.entries(raw)[0];
  if (kind === 'choice') return checkDomain(where, key, bounds);
  if (!(DISTRIBUTIONS as readonly string[]).includes(kind))
    fail(where, `${key}: ${JSON.stringify(kind).slice(0, 40)} is not a distribution; use uniform, logUniform, int or choice`);
  if (
    !Array.isArray(bounds) ||
    bounds.length !== 2 ||
    !bounds.every((b) => typeof b === 'number' && Number.isFinite(b)) ||
    !(bounds[0] < bounds[1])
  )
    fail(where, `${key}: ${kind} needs [low, high] with low < high, not ${shown(bounds)}`);
  const rule = SPACE_KEYS[key];
  if (kind === 'int' ? rule.kind !== 'integer' : rule.kind !== 'real')
    fail(where, `${key} is ${rule.kind === 'integer' ? 'a whole number: use {"int": [a, b]}' : `not a number range: list its values`}`);
  if (kind === 'int' && !bounds.every(Number.isSafeInteger)) fail(where, `${key}: int needs whole-number bounds, not ${shown(bounds)}`);
  if (kind === 'logUniform' && bounds[0] <= 0) fail(where, `${key}: logUniform needs bounds above 0, not ${shown(bounds)}`);
  for (const b of bounds) checkValue(where, key, b);
  return { [kind]: [bounds[0], bounds[1]] } as Domain;
}

function checkInteger(where: string, key: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    fail(where, `${key} is ${shown(value)}; it must be a whole number from ${min} to ${max}`);
  return value;
}

/** Checks a parsed space file; `where` names it in errors. Every trial's config is checked too, so a sweep never starts with a bad trial in it. */
export function checkSpace(value: unknown, where: string): Space {
  if (!isPlainObject(value)) fail(where, `holds ${shown(value)}, not a search space object`);
  for (const key of Object.keys(value))
    if (!TOP_KEYS.includes(key)) fail(where, `${JSON.stringify(key).slice(0, 60)} is not a space key; use ${TOP_KEYS.join(', ')}`);

  const recipe = value.recipe ?? DEFAULT_BASE_RECIPE;
  if (typeof recipe !== 'string' || !(RECIPE_NAMES as string[]).includes(recipe))
    fail(where, `recipe is ${shown(recipe)}; it must be one of ${RECIPE_NAMES.join(', ')}`);

  const fixedRaw = value.fixed ?? {};
  if (!isPlainObject(fixedRaw)) fail(where, `fixed is ${shown(fixedRaw)}; give an object of key: value`);
  const fixed: Record<string, unknown> = {};
  // Sorted: the order fixed keys are written in changes nothing, so it must not change the hash. (The order of
  // "vary" does: it orders the grid and the draws.)
  for (const [key, v] of Object.entries(fixedRaw).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    checkKey(`${where}: fixed`, key);
    checkValue(`${where}: fixed`, key, v);
    fixed[key] = v;
  }

  if (!isPlainObject(value.vary) || Object.keys(value.vary).length === 0)
    fail(where, `"vary" names no key; vary at least one key (for one run, use nin train)`);
  const vary: Record<string, Domain> = {};
  for (const [key, raw] of Object.entries(value.vary)) {
    checkKey(`${where}: vary`, key);
    if (key in fixed) fail(where, `${key} is both fixed and varied; keep it in one of them`);
    vary[key] = checkDomain(`${where}: vary`, key, raw);
  }

  const method = value.method ?? 'grid';
  if (method !== 'grid' && method !== 'random') fail(where, `method is ${shown(method)}; use "grid" or "random"`);
  const seed = value.seed === undefined ? 0 : checkInteger(where, 'seed', value.seed, 0, 2 ** 32 - 1);
  if (method === 'grid') {
    const drawn = Object.keys(vary).find((k) => !('values' in vary[k]));
    if (drawn) fail(where, `${drawn} is a distribution, which a grid cannot enumerate; list its values, or use "method": "random"`);
  }
  const budget = value.trials === undefined ? undefined : checkInteger(where, 'trials', value.trials, 1, MAX_TRIALS);
  let trials: number;
  if (method === 'grid') {
    const product = Object.values(vary).reduce((n, d) => n * (d as { values: unknown[] }).values.length, 1);
    if (budget === undefined && product > MAX_TRIALS)
      fail(where, `the grid holds ${product} trials, more than the ${MAX_TRIALS} a sweep may; list fewer values, or cap it with "trials"`);
    trials = Math.min(product, budget ?? product);
  } else {
    if (budget === undefined) fail(where, `random search needs a budget: add "trials": N (at most ${MAX_TRIALS})`);
    trials = budget;
  }

  let prune: PruneRule | null = null;
  if (value.prune !== undefined && value.prune !== null) {
    const p = value.prune;
    if (!isPlainObject(p)) fail(where, `prune is ${shown(p)}; give {"rule": "median", "afterEpoch": 1, "minTrials": 3}`);
    for (const key of Object.keys(p))
      if (!['rule', 'afterEpoch', 'minTrials'].includes(key))
        fail(where, `prune: ${JSON.stringify(key).slice(0, 40)} is not a prune key; use rule, afterEpoch, minTrials`);
    if (p.rule !== 'median') fail(where, `prune.rule is ${shown(p.rule)}; nin knows "median"`);
    prune = {
      rule: 'median',
      afterEpoch: p.afterEpoch === undefined ? 1 : checkInteger(where, 'prune.afterEpoch', p.afterEpoch, 1, 10000),
      minTrials: p.minTrials === undefined ? 3 : checkInteger(where, 'prune.minTrials', p.minTrials, 1, MAX_TRIALS),
    };
  }

  const engine = checkEngine(value.engine ?? {}, `${where}: engine`);
  const space: Space = { recipe: recipe as RecipeName, fixed, vary, method, seed, trials, prune, engine };
  for (let i = 0; i < trials; i++) {
    const problem = trialProblem(trialConfigAt(space, i));
    if (problem) fail(where, `trial ${i} (${describeValues(trialValues(space, i))}): ${problem}`);
  }
  return space;
}

/** The engine settings: backend, threads, precision, dataDir, each optional. */
export function checkEngine(raw: unknown, where: string): Partial<Runtime> {
  if (!isPlainObject(raw)) fail(where, `is ${shown(raw)}; give an object such as {"threads": 2}`);
  const engine: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(raw)) {
    if (!isEngineKey(key))
      fail(where, `${JSON.stringify(key).slice(0, 60)} is not an engine setting; use ${Object.keys(ENGINE_KEYS).join(', ')}`);
    if (!ruleAllows(ENGINE_KEYS[key], v)) fail(where, `${key} ${shown(v)} is not allowed; it must be ${describeRule(ENGINE_KEYS[key])}`);
    engine[key] = v;
  }
  return engine as Partial<Runtime>;
}

/** Reals drawn at random, rounded to 4 significant digits: configs and tables stay readable, the search loses nothing that matters. */
function round(x: number): number {
  return Number(x.toPrecision(4));
}

/**
 * Trial i's varied values, a pure function of (space, i). Grid: the i-th point, the last key varying
 * fastest (as itertools.product). Random: key by key in the file's order, from a generator seeded by
 * (space seed, i) alone, so draw i does not depend on any other draw, nor on the budget.
 */
export function trialValues(space: Space, i: number): Record<string, unknown> {
  if (!Number.isSafeInteger(i) || i < 0 || i >= space.trials) throw new Error(`trial ${i} is out of range (this is a bug)`);
  const values: Record<string, unknown> = {};
  const keys = Object.keys(space.vary);
  if (space.method === 'grid') {
    let rest = i;
    for (let k = keys.length - 1; k >= 0; k--) {
      const list = (space.vary[keys[k]] as { values: unknown[] }).values;
      values[keys[k]] = list[rest % list.length];
      rest = Math.floor(rest / list.length);
    }
    return Object.fromEntries(keys.map((k) => [k, values[k]]));
  }
  const random = mulberry32(deriveSeed(space.seed, 0x5eed, i));
  for (const key of keys) {
    const d = space.vary[key];
    const u = random();
    if ('values' in d) values[key] = d.values[Math.min(d.values.length - 1, Math.floor(u * d.values.length))];
    else if ('uniform' in d) values[key] = round(d.uniform[0] + u * (d.uniform[1] - d.uniform[0]));
    else if ('logUniform' in d) {
      const [lo, hi] = d.logUniform.map(Math.log);
      values[key] = Math.min(d.logUniform[1], Math.max(d.logUniform[0], round(Math.exp(lo + u * (hi - lo)))));
    } else values[key] = Math.min(d.int[1], d.int[0] + Math.floor(u * (d.int[1] - d.int[0] + 1)));
  }
  return values;
}

/** Trial i's whole config (without this start's engine settings beyond the space's). */
export function trialConfigAt(space: Space, i: number, runtime: Partial<Runtime> = {}): TrainConfig {
  return trialConfig(space.recipe, { ...space.fixed, ...trialValues(space, i) }, { ...space.engine, ...runtime });
}

/** "learningRate=0.1 seed=2": a trial's varied values in one short line. */
export function describeValues(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** The space's identity: what decides each trial's config and fate. The budget may grow (trial i stays trial i) and the engine may change. */
export function spaceHash(space: Space): string {
  const { recipe, fixed, vary, method, seed, prune } = space;
  const identity = JSON.stringify({ recipe, fixed, vary, method, seed: method === 'random' ? seed : 0, prune });
  return createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

/** The space as a file states it (lists for listed values), which checkSpace reads back to the same space. */
export function spaceToJson(space: Space): Record<string, unknown> {
  const vary = Object.fromEntries(Object.entries(space.vary).map(([k, d]) => [k, 'values' in d ? d.values : d]));
  return { ...space, vary };
}

/**
 * The space file that confirms one configuration of `space` (`nin sweep best`): the same recipe and engine,
 * its fixed keys and `values` (the configuration's varied values; a seed among them is left out) fixed,
 * `epochs` replaced when given, and a grid over seeds 0 to seeds-1 with no pruning, so every seed trains all
 * its epochs. Written as a user would write it: no "trials" (a grid runs its product, so a seed added to the
 * list by hand is run) nor generator "seed" (a grid draws nothing). Checked as readSpaceFile checks a file.
 */
export function seedsSpaceFile(
  space: Space,
  values: Record<string, unknown>,
  options: { seeds: number; epochs?: number },
): Record<string, unknown> {
  const fixed: Record<string, unknown> = { ...space.fixed, ...values };
  delete fixed[SEED_KEY];
  if (options.epochs !== undefined) fixed.epochs = options.epochs;
  const file = {
    recipe: space.recipe,
    fixed,
    vary: { [SEED_KEY]: Array.from({ length: options.seeds }, (_, i) => i) },
    method: 'grid',
    prune: null,
    engine: space.engine,
  };
  checkSpace(file, 'the space of the best configuration');
  return file;
}

/** The index width of trial directories: 0000 to 9999. */
export function trialName(i: number): string {
  return String(i).padStart(String(MAX_TRIALS - 1).length, '0');
}
