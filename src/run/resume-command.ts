// The shell command that continues a run, as every line that tells the user how to go on names it:
// `nin train --resume checkpoints/20261206-020426`, ready to paste.
import * as path from 'node:path';

/** `s` as one word of a POSIX shell: as it is when only safe characters, otherwise in single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) && !s.startsWith('-')) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that continues a run: `nin train --resume checkpoints/20261206-020426`, the directory
 * relative to `cwd` when that is shorter, quoted for the shell when it needs it.
 */
export function resumeCommand(runDir: string, cwd = process.cwd()): string {
  const absolute = path.resolve(cwd, runDir);
  let relative = path.relative(cwd, absolute) || '.';
  if (relative.startsWith('-')) relative = `./${relative}`;
  return `nin train --resume ${shellQuote(relative.length < absolute.length ? relative : absolute)}`;
}
