// Runs the real `nin` executable (bin/nin.js) as a child process with a timeout, for end-to-end tests.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const NIN_BIN = path.join(REPO_ROOT, 'bin', 'nin.js');

export interface CliResult {
  code: number | null; // exit code, null when killed by a signal
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface CliOptions {
  timeoutMs?: number; // SIGKILL after this long (default 120 s)
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A started `nin` process: its output so far, and a promise of how it ended. */
export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<CliResult>;
}

export function startNin(args: string[], options: CliOptions = {}): CliProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [NIN_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 120_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs `nin args...` to completion. */
export function runNin(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startNin(args, options).done;
}

/** Resolves once `predicate(stdout, stderr)` holds, or rejects when the process ends first or after timeoutMs. */
export function waitForOutput(proc: CliProcess, predicate: (stdout: string, stderr: string) => boolean, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate(proc.stdout(), proc.stderr())) {
        cleanup();
        resolve();
      }
    };
    const onClose = () => {
      // Output may arrive with the close event itself.
      if (predicate(proc.stdout(), proc.stderr())) resolve();
      else reject(new Error(`nin exited before the expected output; stderr:\n${proc.stderr()}`));
      cleanup();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for output; stderr:\n${proc.stderr()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      proc.child.stdout!.off('data', check);
      proc.child.stderr!.off('data', check);
      proc.child.off('close', onClose);
    };
    proc.child.stdout!.on('data', check);
    proc.child.stderr!.on('data', check);
    proc.child.on('close', onClose);
    check();
  });
}

/** The lines of `text` without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === ''));
}

// The temporary directory the tests' files live in: its random names (hostile-run-ENZCCM) look like errno codes.
const TEMP_PATHS = new RegExp(`${os.tmpdir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S*`, 'g');

/**
 * Whether output shows what a user must never see: a stack trace, an internal error, an unhandled rejection, or a
 * raw errno code (ENOENT, EACCES) instead of a sentence; paths under the temporary directory are left out first.
 */
export function leaksInternals(text: string): boolean {
  return /internal error|this is a bug| {4}at |Unhandled|\bE[A-Z]{3,}\b/.test(text.replace(TEMP_PATHS, ''));
}

/** One line on stderr, no stack trace, nothing on stdout, the expected exit code, every pattern present. */
export function assertOneLineError(r: CliResult, code: number, ...patterns: RegExp[]): void {
  const context = `exit ${r.code} (${r.signal ?? 'no signal'})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, code, context);
  assert.equal(r.stdout, '', context);
  assert.equal(lines(r.stderr).length, 1, `stderr should be one line\n${context}`);
  assert.ok(!r.stderr.includes('    at '), `stack trace in stderr\n${context}`);
  assert.match(r.stderr, /^nin: /, context);
  for (const p of patterns) assert.match(r.stderr, p, context);
}
