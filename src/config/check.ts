// Checking a config nin reads back (a run's config.json, the config in a checkpoint's meta.json, a --config
// file) as strictly as the command line checks its flags: one rule per config key with the flag's range, and
// one-line errors naming the file, the key, the value found and the values allowed.
import { BACKEND_CHOICES, PRECISION_CHOICES } from '../backend';
import type { TrainConfig } from './config';
import { NinError } from '../sys/errors';
import { describeRange, isPlainObject, shown } from '../sys/field-check';
import { parseJson, readRegularFile } from '../sys/read-file';
import { BIAS_INITS, KERNEL_INITS, MIN_IMAGE_SIZE } from '../model/nin';
import { SCHEDULES } from '../train/schedule';

/** What one config key may hold, and the flag that sets it. */
export type Rule = { flag: string; nullable?: boolean; absent?: { value: unknown } } & (
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'real'; min: number; max: number; minExclusive?: boolean }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'path' }
);

/**
 * The range of every config key, as the CLI accepts it. `nullable`: null means "not given" (all
 * examples, the default threads, ...). `absent`: keys added after the first config format; a
 * config.json without one was written before the key existed, and gets the value that reproduces
 * what that run did (not today's default, which may have changed since: biasInit's has).
 */
export const CONFIG_RULES: { readonly [K in keyof TrainConfig]: Rule } = Object.freeze({
  learningRate: { kind: 'real', flag: '--lr', min: 0, max: 1e4, minExclusive: true },
  epochs: { kind: 'integer', flag: '--epochs', min: 1, max: 10000 },
  batchSize: { kind: 'integer', flag: '--batch-size', min: 1, max: 4096 },
  imageSize: { kind: 'integer', flag: '--image-size', min: MIN_IMAGE_SIZE, max: 1024 },
  optimizer: { kind: 'choice', flag: '--optimizer', choices: ['sgd', 'momentum', 'adam'] },
  momentum: { kind: 'real', flag: '--momentum', min: 0, max: 0.999999 },
  nesterov: { kind: 'boolean', flag: '--nesterov', absent: { value: false } },
  schedule: { kind: 'choice', flag: '--schedule', choices: SCHEDULES, absent: { value: 'constant' } },
  warmupEpochs: { kind: 'real', flag: '--warmup-epochs', min: 0, max: 1000, absent: { value: 0 } },
  augment: { kind: 'boolean', flag: '--augment', absent: { value: false } },
  labelSmoothing: { kind: 'real', flag: '--label-smoothing', min: 0, max: 0.99, absent: { value: 0 } },
  weightDecay: { kind: 'real', flag: '--weight-decay', min: 0, max: 1 },
  seed: { kind: 'integer', flag: '--seed', min: 0, max: 2 ** 32 - 1 },
  biasInit: { kind: 'choice', flag: '--bias-init', choices: BIAS_INITS, absent: { value: 'zeros' } },
  classBias: { kind: 'real', flag: '--class-bias', min: -10, max: 10, nullable: true, absent: { value: null } },
  kernelInit: { kind: 'choice', flag: '--kernel-init', choices: KERNEL_INITS, absent: { value: 'xavier' } },
  initWeights: { kind: 'path', flag: '--init-weights', nullable: true, absent: { value: null } },
  trainLimit: { kind: 'integer', flag: '--train-limit', min: 1, max: 60000, nullable: true },
  testLimit: { kind: 'integer', flag: '--test-limit', min: 1, max: 10000, nullable: true },
  valSplit: { kind: 'integer', flag: '--val-split', min: 0, max: 59999, absent: { value: 0 } },
  earlyStop: { kind: 'integer', flag: '--early-stop', min: 1, max: 10000, nullable: true, absent: { value: null } },
  dataDir: { kind: 'path', flag: '--data-dir', nullable: true },
  backend: { kind: 'choice', flag: '--backend', choices: BACKEND_CHOICES },
  threads: { kind: 'integer', flag: '--threads', min: 1, max: 1024, nullable: true },
  precision: { kind: 'choice', flag: '--precision', choices: PRECISION_CHOICES, absent: { value: 'fp32' } },
});

/** What a rule allows, in words: "a number above 0 and at most 10000 (as --lr)". */
export function describeRule(rule: Rule): string {
  let allowed: string;
  switch (rule.kind) {
    case 'integer':
      allowed = describeRange('integer', rule.min, rule.max);
      break;
    case 'real':
      allowed = describeRange('real', rule.min, rule.max, rule.minExclusive);
      break;
    case 'choice':
      allowed = `one of ${rule.choices.map((c) => JSON.stringify(c)).join(', ')}`;
      break;
    case 'boolean':
      allowed = 'true or false';
      break;
    case 'path':
      allowed = 'a path';
      break;
  }
  return `${allowed}${rule.nullable ? ' or null' : ''} (as ${rule.flag})`;
}

/** Whether `value` is what `rule` allows. */
export function ruleAllows(rule: Rule, value: unknown): boolean {
  if (value === null) return Boolean(rule.nullable);
  switch (rule.kind) {
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= rule.min && value <= rule.max;
    case 'real':
      return (
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (rule.minExclusive ? value > rule.min : value >= rule.min) &&
        value <= rule.max
      );
    case 'choice':
      return typeof value === 'string' && rule.choices.includes(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'path':
      return typeof value === 'string' && value !== '' && !value.includes('\0');
  }
}

export const CONFIG_FIX = 'restore the file from a copy, or start a new run';

/**
 * A config read back from disk (a run's config.json, the config in a checkpoint's meta.json) as a
 * TrainConfig, or a NinError naming `file`, the key, the value found and the values the CLI
 * accepts. Unknown keys are refused; keys added after the first format take their `absent` value.
 */
export function validateConfig(value: unknown, file: string, fix: string = CONFIG_FIX): TrainConfig {
  if (!isPlainObject(value)) throw new NinError(`${file} holds ${shown(value)}, not a nin config object; ${fix}`);
  for (const key of Object.keys(value)) {
    if (!Object.prototype.hasOwnProperty.call(CONFIG_RULES, key)) {
      throw new NinError(
        `${file}: ${JSON.stringify(key).slice(0, 60)} is not a nin config key (a typo, or written by a newer nin?); ${fix}`,
      );
    }
  }
  const config: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(CONFIG_RULES) as [keyof TrainConfig, Rule][]) {
    const present = Object.prototype.hasOwnProperty.call(value, key);
    if (!present && rule.absent) {
      config[key] = rule.absent.value;
      continue;
    }
    const v = value[key];
    if (!present || !ruleAllows(rule, v)) {
      throw new NinError(`${file}: ${key} is ${shown(present ? v : undefined)}; it must be ${describeRule(rule)}; ${fix}`);
    }
    config[key] = v;
  }
  return config as unknown as TrainConfig;
}

const MAX_CONFIG_BYTES = 1e6; // a config.json is about 600 bytes

/** A run's config.json, read (a regular file of sane size), parsed and validated: a TrainConfig or one NinError line. */
export function readConfigFile(file: string, fix: string = CONFIG_FIX): TrainConfig {
  const text = readRegularFile(file, {
    maxBytes: MAX_CONFIG_BYTES,
    fix,
    what: 'a config file',
    missing: `${file} is missing; ${fix}`,
  }).toString('utf8');
  return validateConfig(parseJson(text, file, fix), file, fix);
}
