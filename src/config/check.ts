// Checking a config nin reads back (a run's config.json, the config in a checkpoint's meta.json, a --config
// file) as strictly as the command line checks its flags: each key against its row of keys.ts, and
// one-line errors naming the file, the key, the value found and the values allowed.
import type { TrainConfig } from './config';
import { CONFIG_KEYS, type Rule } from './keys';
import { NinError } from '../sys/errors';
import { describeRange, isPlainObject, shown } from '../sys/field-check';
import { parseJson, readRegularFile } from '../sys/read-file';

export type { Rule } from './keys';

/**
 * The by-key lookup of what each config key may hold and the flag that sets it (kind, flag, min/max or
 * choices, nullable, absent): the rows of the one key table (keys.ts), as the CLI's parsers and every file
 * check read them.
 */
export const CONFIG_RULES: { readonly [K in keyof TrainConfig]: Rule } = CONFIG_KEYS;

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

/**
 * A run's config.json, read (a regular file of sane size), parsed and validated: a TrainConfig or one NinError line.
 * `noFollow`: a symbolic link is refused, not read (nin serve: nothing outside the served runs).
 */
export function readConfigFile(file: string, fix: string = CONFIG_FIX, options: { noFollow?: boolean } = {}): TrainConfig {
  const text = readRegularFile(file, {
    maxBytes: MAX_CONFIG_BYTES,
    fix,
    what: 'a config file',
    missing: `${file} is missing; ${fix}`,
    noFollow: options.noFollow,
  }).toString('utf8');
  return validateConfig(parseJson(text, file, fix), file, fix);
}
