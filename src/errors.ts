// Errors a user can act on: thrown where detected, printed once (one line) by the CLI with their exit code.

/** A failure the user can fix; `message` is one line that names the fix. */
export class NinError extends Error {
  constructor(message: string, readonly exitCode: number = 1) {
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

/** Ctrl-C or SIGTERM after the current batch finished and `last/` was saved. */
export class InterruptedError extends NinError {
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}; last/ was saved, continue with --resume`, signal === 'SIGINT' ? 130 : 143);
    this.name = 'InterruptedError';
  }
}
