// Stopping a real `nin train` and continuing it, as the crash and training tests do: a signal at a
// chosen moment, a `--resume` that must succeed, and the numbers of a run's log that no interruption
// may change.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lines, runNin, startNin, waitForOutput, type CliResult } from './cli';
import { TEST_BACKEND } from './small-run';

/** A `nin` run that must have ended with exit 0; `what` names it in the failure. */
export function assertOk(r: CliResult, what = 'nin'): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

export interface LoggedNumbers {
  epoch: number;
  loss: number;
  trainAcc: number;
  testAcc: number;
}

/** The numbers of a run's metrics.jsonl that must not depend on interruptions (not its timings); [] without a log. */
export function loggedNumbers(runDir: string): LoggedNumbers[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  return lines(fs.readFileSync(file, 'utf8')).map((l) => {
    const { epoch, loss, trainAcc, testAcc } = JSON.parse(l) as LoggedNumbers;
    return { epoch, loss, trainAcc, testAcc };
  });
}

/** `nin train ARGS`, sent `signal` once its output satisfies `ready` and `afterMs` more have passed: how it ended. */
export async function trainThenSignal(
  args: string[],
  signal: NodeJS.Signals,
  ready: (stdout: string, stderr: string) => boolean,
  options: { afterMs?: number; timeoutMs: number },
): Promise<CliResult> {
  const proc = startNin(['train', ...args], { timeoutMs: options.timeoutMs });
  await waitForOutput(proc, ready, options.timeoutMs);
  if (options.afterMs) await new Promise((resolve) => setTimeout(resolve, options.afterMs));
  proc.child.kill(signal);
  return proc.done;
}

/** `nin train --resume RUN_DIR --backend <the tests' backend> ...more`, asserted to end with exit 0. */
export async function resumeTrain(runDir: string, options: { more?: string[]; timeoutMs: number }): Promise<CliResult> {
  const r = await runNin(['train', '--resume', runDir, ...(options.more ?? []), '--backend', TEST_BACKEND], {
    timeoutMs: options.timeoutMs,
  });
  assertOk(r, `nin train --resume ${runDir}`);
  return r;
}
