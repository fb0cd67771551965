// The command line: declares commands and options, checks values at the edge, calls the typed
// command functions, prints their results (stdout) and turns errors into one line and an exit code.
import { Command, CommanderError } from 'commander';
import { NinError } from '../sys/errors';
import { describeFsError } from '../sys/safe-file';
import { printable } from './format';
import { NIN_VERSION } from '../sys/version';
import { isStopExitCode } from '../sys/signals';
import { stderrLog, stdoutLog } from '../sys/log';
import { type Printer } from './shared';
import { trainCommand } from './train-command';
import { benchCommand, evalCommand, lrFindCommand, predictCommand, shapesCommand } from './model-commands';
import { dataCommand, infoCommand, plotCommand, serveCommand } from './run-commands';
import { sweepCommand } from './sweep-command';

export function buildProgram(printer: Printer = { out: stdoutLog, err: stderrLog }): Command {
  const program = new Command('nin')
    .description("Train d2l's Network-in-Network on Fashion-MNIST with TensorFlow.js")
    .version(NIN_VERSION)
    .option('--verbose', 'show stack traces of errors')
    .exitOverride()
    // Usage errors are one line, like every other error: "nin: <problem> (run with --help for usage)".
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      outputError: (s, write) =>
        write(
          `nin: ${printable(
            s
              .replace(/^error: /, '')
              .trim()
              .replace(/\s*\n\s*/g, ' '),
          )} (run with --help for usage)\n`,
        ),
    });
  for (const command of [
    trainCommand,
    evalCommand,
    shapesCommand,
    dataCommand,
    benchCommand,
    plotCommand,
    predictCommand,
    infoCommand,
    lrFindCommand,
    serveCommand,
    sweepCommand,
  ]) {
    // Subcommands (and theirs: nin sweep start) inherit the program's exit override and one-line error output.
    const sub = command(printer).exitOverride().configureOutput(program.configureOutput());
    for (const nested of sub.commands) nested.exitOverride().configureOutput(program.configureOutput());
    program.addCommand(sub);
  }
  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with code 0; every other commander error is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof NinError) {
      // Names in it (paths typed or found on disk) may hold newlines or terminal escapes: escaped, it stays one line.
      process.stderr.write(`nin: ${printable(err.message)}\n`);
      if (verbose && err.stack) process.stderr.write(err.stack + '\n');
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(
      `nin: internal error: ${printable(String(e?.message ?? err))} (this is a bug; rerun with --verbose for the stack)\n`,
    );
    if (verbose && e?.stack) process.stderr.write(e.stack + '\n');
    return 1;
  } finally {
    // A GPU device keeps the process alive until it is released.
    const { closeBackend } = await import('../backend');
    closeBackend();
  }
}

/**
 * A reader that stops early (`nin shapes | head -1`, `nin eval ... | head -1`) closes the pipe, and
 * the next write fails with EPIPE. That is the reader's choice, not a failure of the command: the
 * output stops quietly and the command ends as it would have (a training run keeps saving), with its
 * own exit code, 0 for a read-only command. Any other failure to write the output is one line.
 */
function quietOnClosedPipes(): void {
  let reported = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || reported) return;
      reported = true;
      const line = describeFsError(
        err,
        `writing to ${stream === process.stdout ? 'stdout' : 'stderr'}`,
        'check where the output goes (a full disk?)',
      ).message;
      if (stream !== process.stderr && !process.stderr.destroyed) process.stderr.write(`nin: ${line}\n`);
      process.exitCode = 1;
    });
  }
}

export function main(argv: string[]): void {
  quietOnClosedPipes();
  run(argv).then((code) => {
    // The command's own code, unless it succeeded but its output could not be written.
    process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
    // TF.js keeps no handles open, but an interrupted run should not linger.
    if (isStopExitCode(code)) setImmediate(() => process.exit(code));
  });
}
