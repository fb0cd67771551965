// Errors a user can act on: thrown where detected, printed once (one line) by the CLI with their exit code.
import { SIGNAL_EXIT_CODES } from './signals';

/** A failure the user can fix; `message` is one line that names the fix. */
export class NinError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'NinError';
  }
}

/** Bad command-line input: exit code 2, the message names the option. */
export class UsageError extends NinError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** Ctrl-C, SIGTERM or a closed terminal, after the current batch finished and `last/` was saved (when there was a run to save). */
export class InterruptedError extends NinError {
  constructor(signal: StopSignal, saved = true) {
    super(
      saved
        ? `interrupted by ${signal}; last/ was saved, continue with --resume`
        : `interrupted by ${signal} before training started; nothing was saved`,
      SIGNAL_EXIT_CODES[signal],
    );
    this.name = 'InterruptedError';
  }
}
