// The command line's side of the config key table (config/keys.ts): each key's option (flag, help, default,
// `.choices()`, a parser with the range's words), the config values a user gave as flags, and the recipe
// flags --resume refuses. Values are checked where the option is declared, so a bad one is exit 2.
import * as path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Runtime, TrainConfig } from '../config/config';
import { CONFIG_KEY_NAMES, type ConfigKey, type KeyRow, keyRow } from '../config/keys';
import { describeRange } from '../sys/field-check';

/** Decimal notation only: Number() alone would also take 0x10, 0b1, 0o7 and a padded " 16 ". */
const DECIMAL_INTEGER = /^\+?\d+$/;
const DECIMAL_REAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = DECIMAL_INTEGER.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be ${describeRange('integer', min, max)}.`);
    return n;
  };
}

export function real(name: string, min: number, max: number, minExclusive = false) {
  return (value: string): number => {
    const n = DECIMAL_REAL.test(value) ? Number(value) : NaN;
    const low = minExclusive ? n > min : n >= min;
    if (!Number.isFinite(n) || !low || n > max)
      throw new InvalidArgumentError(`${name} must be ${describeRange('real', min, max, minExclusive)}.`);
    return n;
  };
}

/** A key's option as a command shows it: its own help and default unless the command says otherwise. */
export interface OptionLook {
  help?: string;
  default?: unknown; // undefined: the row's default; null: none shown (the command decides, e.g. "the run's")
}

/** The option (and for a boolean its --no- twin) of config key `key`, from its row. */
export function configOptions(key: ConfigKey, look: OptionLook = {}): Option[] {
  const row: KeyRow = keyRow(key);
  const help = look.help ?? row.help;
  if (row.kind === 'boolean') {
    const options = [new Option(row.flag, help)];
    if (row.negate) options.push(new Option(`--no-${row.flag.slice(2)}`, row.negate));
    return options;
  }
  const option = new Option(`${row.flag} ${row.arg}`, help);
  if (row.kind === 'integer') option.argParser(integer(row.flag, row.min, row.max));
  if (row.kind === 'real') option.argParser(real(row.flag, row.min, row.max, row.minExclusive));
  if (row.kind === 'choice') option.choices(row.choices as string[]);
  const shown = look.default === undefined ? row.default : look.default;
  if (shown !== null) option.default(shown);
  return [option];
}

/** Adds the options of `keys` to `command`, in that order. */
export function addConfigOptions(
  command: Command,
  keys: readonly ConfigKey[],
  looks: Partial<Record<ConfigKey, OptionLook>> = {},
): Command {
  for (const key of keys) for (const option of configOptions(key, looks[key])) command.addOption(option);
  return command;
}

/** The parser of a numeric key's flag (for a command that declares the option itself). */
export function configParser(key: ConfigKey): (value: string) => number {
  const row = keyRow(key);
  if (row.kind === 'integer') return integer(row.flag, row.min, row.max);
  if (row.kind === 'real') return real(row.flag, row.min, row.max, row.minExclusive);
  throw new Error(`${key} is not a number (this is a bug)`);
}

/** Commander's name for a key's parsed value: --lr's `lr`, --batch-size's `batchSize`. */
export function attributeOf(key: ConfigKey): string {
  return new Option(keyRow(key).flag).attributeName();
}

/** A flag's value as the config holds it: a path made absolute, an empty one none. */
function configValue(key: ConfigKey, value: unknown): unknown {
  if (keyRow(key).kind === 'path') return value ? path.resolve(value as string) : null;
  return value;
}

/** The config values the user gave as flags on `cmd` (they override the recipe, d2l's defaults or --recipe's). */
export function givenConfig(cmd: Command): Partial<TrainConfig> {
  const given: Record<string, unknown> = {};
  for (const key of CONFIG_KEY_NAMES) {
    const attribute = attributeOf(key);
    if (cmd.getOptionValueSource(attribute) === 'cli') given[key] = configValue(key, cmd.getOptionValue(attribute));
  }
  return given as Partial<TrainConfig>;
}

/** The runtime part of the config from the engine options and --data-dir (see config.ts). */
export function runtimeOf(opts: { backend: string; threads?: number; dataDir?: string; precision: string }): Runtime {
  return {
    backend: opts.backend as Runtime['backend'],
    threads: opts.threads ?? null,
    precision: opts.precision as Runtime['precision'],
    dataDir: opts.dataDir ? path.resolve(opts.dataDir) : null,
  };
}

/** The attributes of `nin train`'s recipe options, which --resume refuses (the run's config.json is its recipe). */
export const RESUME_REFUSES: readonly string[] = [
  'recipe',
  ...CONFIG_KEY_NAMES.filter((k) => keyRow(k).part === 'recipe' && keyRow(k).resume !== 'may-change').map(attributeOf),
];

/** The one option of a key that is not a boolean. */
export function configOption(key: ConfigKey, look: OptionLook = {}): Option {
  return configOptions(key, look)[0];
}
