// The one shape of the lines a command writes besides its result (progress, warnings, notes), and the one
// default that sends them to stderr. Every command function takes it as `options.log`; the CLI passes its own.

/** One line of text, without its newline. */
export type Log = (line: string) => void;

/** A line on stderr: what every `log` defaults to. */
export const stderrLog: Log = (line) => {
  process.stderr.write(line + '\n');
};

/** A line on stdout: results (nin train's epoch lines and closing summary). */
export const stdoutLog: Log = (line) => {
  process.stdout.write(line + '\n');
};

/** Nothing: for callers that have said what the lines would say (a child process, a probe). */
export const quietLog: Log = () => {};
