// What the command modules share: where a command's lines go, the engine options, --json's help, --save-every's
// durations, and the architecture a command's flags name.
import { type Architecture, architectureOf, checkArchitecture } from '../model/architecture';
import type { Log } from '../sys/log';
import { type Command, InvalidArgumentError } from 'commander';
import { addConfigOptions } from './config-options';

/** The architecture an architecture command's flags name (d2l's NiN for flags not given), checked at `imageSize` (exit 2). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
export function architectureFrom(opts: any, imageSize: number): Architecture {
  const architecture = architectureOf({ ...opts, bottleneck: opts.bottleneck ?? null });
  checkArchitecture(architecture, imageSize);
  return architecture;
}

export const JSON_HELP = 'print one JSON object';

/** The engine options every command that runs the model shares (the table's runtime rows but --data-dir). */
export const addEngineOptions = (command: Command): Command => addConfigOptions(command, ['backend', 'threads', 'precision']);

/** Where a command's lines go: results to `out` (stdout), the rest to `err` (stderr). */
export interface Printer {
  out: Log;
  err: Log;
}

/** `90s`, `10m`, `1.5h` or plain seconds, as seconds; decimal digits only. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!(seconds >= 1 && seconds <= 7 * 86400))
    throw new InvalidArgumentError('--save-every must be a duration such as 90s, 10m or 1h (from 1s to 7 days).');
  return seconds;
}
