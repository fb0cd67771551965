// Signals before a command takes them over: from nin's first line, Ctrl-C, SIGTERM or a closed
// terminal (SIGHUP) end it at once with one line and the shell's exit code, instead of Node's silent
// default. `nin train` takes them over (takeOverSignals) to finish the batch and save last/ first.
import type { StopSignal } from './errors';

/** The shell's exit code for a process ended by each signal (128 + its number). */
export const SIGNAL_EXIT_CODES: Readonly<Record<StopSignal, number>> = Object.freeze({ SIGHUP: 129, SIGINT: 130, SIGTERM: 143 });

let installed = false;
let takenOver = false;

export function exitOnSignals(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES) as [StopSignal, number][]) {
    process.on(signal, () => {
      if (takenOver) return;
      process.stderr.write(`nin: interrupted by ${signal}\n`);
      process.exit(code);
    });
  }
}

/**
 * Ends the immediate exit, for a command that handles the signals itself. The listeners stay: a
 * signal that arrived while nin was still loading is delivered at the next turn of the event loop,
 * and removing the last listener before then would drop it.
 */
export function takeOverSignals(): void {
  takenOver = true;
}
