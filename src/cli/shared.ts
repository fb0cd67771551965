// What the command modules share: where a command's lines go, the engine options, --json's help, and the
// architecture a command's flags name.
import { type Architecture, architectureOf, checkArchitecture } from '../model/architecture';
import type { Log } from '../sys/log';
import type { Command } from 'commander';
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
