// Errors a user can act on: thrown where detected, printed once (one line) by the CLI with their exit code.
import { SIGNAL_EXIT_CODES, type StopSignal } from './signals';

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

/**
 * Ctrl-C, SIGTERM or a closed terminal ended a command at one of its stop points; `kept` says what it
 * kept and how to go on ("last/ holds epoch 2; continue with nin train --resume checkpoints/r").
 */
export class InterruptedError extends NinError {
  constructor(
    readonly signal: StopSignal,
    kept: string,
  ) {
    super(`interrupted by ${signal}; ${kept}`, SIGNAL_EXIT_CODES[signal]);
    this.name = 'InterruptedError';
  }
}
