// Hostile files in a run directory: a .lock that is a FIFO, a link to /dev/zero, a huge sparse file
// or a directory; a full disk while locking; a file swapped for a FIFO after it was checked; JSON
// nested 200,000 deep in every JSON file nin reads; run names too long for the file system or holding
// control characters. Each ends within a bound in one line (or a clean HTTP error), never a hang,
// never "internal error". Where the old code hung, the case runs in a child process with a timeout.

import { test, describe, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FORMAT_VERSION, readCheckpointMeta } from '../../src/run/checkpoint/meta';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { readConfigFile } from '../../src/config/check';
import { resolveConfig } from '../../src/config/config';
import { NinError } from '../../src/sys/errors';
import { openRun } from '../../src/run/run-dir';
import { readHistory } from '../../src/run/metrics';
import { RUN_FILES } from '../../src/run/layout';
import { trainingPid } from '../../src/run/lock';
import { resumeCommand } from '../../src/run/resume-command';
import { NIN_VERSION } from '../../src/sys/version';
import { assertOneLineError, type CliResult, lines, REPO_ROOT, runNin, startNin, waitForOutput } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { metricsLine } from '../helpers/serve-runs';
import { requestText, serveHere } from '../helpers/server';
import { SMALL_RUN_TIMEOUT, smallRunFlags, TEST_BACKEND } from '../helpers/small-run';

after(removeTempDirs);

const DIST = path.join(REPO_ROOT, 'dist', 'src');
const BOUND_MS = 20_000; // every case ends far sooner; a hang is killed here
const config = resolveConfig({ epochs: 2, imageSize: 67, trainLimit: 8, testLimit: 8, batchSize: 4, backend: TEST_BACKEND });

/** A run directory holding config.json and metrics.jsonl, and `.lock` made by `lock`. */
function runWithLock(lock: (file: string) => void): string {
  const dir = path.join(tempDir('nin-hostile-'), 'run');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config, null, 2));
  fs.writeFileSync(path.join(dir, RUN_FILES.metricsJsonl), metricsLine(1));
  lock(path.join(dir, RUN_FILES.lock));
  return dir;
}

const fifo = (file: string) => execFileSync('mkfifo', [file]);

/**
 * Runs `body` (JavaScript, with `dist` naming the compiled src/ and `run` the run directory) in a
 * child process, killed after BOUND_MS; its last line on stdout is JSON it printed.
 */
function probe(run: string, body: string): { result: Record<string, unknown>; ms: number; killed: boolean; stderr: string } {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', `const dist = ${JSON.stringify(DIST)}, run = ${JSON.stringify(run)};\n${body}`], {
    encoding: 'utf8',
    timeout: BOUND_MS,
    killSignal: 'SIGKILL',
  });
  const last = lines(r.stdout ?? '').pop();
  return {
    result: last ? (JSON.parse(last) as Record<string, unknown>) : {},
    ms: Date.now() - started,
    killed: r.signal === 'SIGKILL',
    stderr: r.stderr ?? '',
  };
}

/** What the readers of a run make of its lock, measured in a child: serve's trainingPid, --resume's openRun, and the memory they took. */
const LOCK_READERS = `
  const { openRun } = require(dist + '/run/run-dir.js');
  const { trainingPid } = require(dist + '/run/lock.js');
  const { NinError } = require(dist + '/sys/errors.js');
  const pid = trainingPid(run);
  let resume;
  try { openRun(run).close(); resume = 'opened'; } catch (err) { resume = err instanceof NinError ? err.message : 'internal: ' + err.message; }
  console.log(JSON.stringify({ pid, resume, rssMb: process.memoryUsage().rss / 1e6 }));
`;

describe("a run's .lock that nin train cannot have written", () => {
  for (const [kind, make, why] of [
    ['a FIFO', fifo, /\.lock is not a regular file \(a device, pipe or socket\)/],
    ['a link to /dev/zero', (f: string) => fs.symlinkSync('/dev/zero', f), /\.lock is a symbolic link/],
    [
      'a 1.5 GB sparse file',
      (f: string) => fs.truncateSync((fs.writeFileSync(f, ''), f), 1.5e9),
      /\.lock is 1500\.0 MB, more than the 300 bytes nin reads for a lock file/,
    ],
    ['a directory', (f: string) => fs.mkdirSync(f), /\.lock is a directory, not a lock file/],
  ] as const) {
    test(`${kind}: serve sees no training, --resume refuses it in one line; neither hangs nor swells`, () => {
      const run = runWithLock(make);
      const { result, killed, stderr } = probe(run, LOCK_READERS);
      assert.ok(!killed, `hung until killed after ${BOUND_MS} ms: ${stderr}`);
      assert.equal(result.pid, null);
      assert.match(String(result.resume), why);
      assert.match(String(result.resume), /remove it if no nin train is running on/);
      assert.ok(!String(result.resume).includes('\n'));
      assert.ok((result.rssMb as number) < 400, `the reader took ${result.rssMb} MB`);
      assert.deepEqual(
        fs.readdirSync(run).sort(),
        [RUN_FILES.lock, RUN_FILES.config, RUN_FILES.metricsJsonl].sort(),
        'nothing left behind',
      );
    });
  }

  test('nin train --resume on a FIFO .lock: one line, exit 1, within the bound (SIGTERM not needed)', async () => {
    const run = runWithLock(fifo);
    const r = await runNin(['train', '--resume', run], { timeoutMs: BOUND_MS });
    assert.ok(!r.timedOut, `hung: ${r.stderr}`);
    assertOneLineError(r, 1, /\.lock is not a regular file/);
  });

  test('nin serve lists a run whose .lock is a FIFO (not training) instead of hanging before it listens', () => {
    const run = runWithLock(fifo);
    const { result, killed } = probe(
      run,
      `const { readRun } = require(dist + '/serve/runs.js');
       const s = readRun('run', run);
       console.log(JSON.stringify({ training: s.training, error: s.error }));`,
    );
    assert.ok(!killed, 'hung');
    assert.deepEqual(result, { training: false, error: null });
  });

  test('a full disk while --resume takes the lock: one line, no .lock.tmp-PID left', () => {
    const run = runWithLock(() => {});
    // The fs module itself (not this file's import of it), whose writeSync every module calls.
    const full = mock.method(process.getBuiltinModule('node:fs'), 'writeSync', () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    try {
      assert.throws(
        () => openRun(run),
        (err: unknown) =>
          err instanceof NinError &&
          /^no space left on device while locking .*run; free some space/.test(err.message) &&
          !err.message.includes('\n'),
      );
    } finally {
      full.mock.restore();
    }
    assert.deepEqual(fs.readdirSync(run).sort(), [RUN_FILES.config, RUN_FILES.metricsJsonl].sort(), 'nothing left behind');
  });

  test('a full disk while a training run writes its logs: one line that ends with the command to continue it', () => {
    const run = runWithLock(() => {});
    const opened = openRun(run);
    const full = mock.method(process.getBuiltinModule('node:fs'), 'writeSync', () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    try {
      assert.throws(
        () => opened.writeLogs([]),
        (err: unknown) =>
          err instanceof NinError &&
          err.message ===
            `no space left on device while writing ${path.join(run, RUN_FILES.metricsJsonl)}; ` +
              `free some space or move the run to a disk with room, then continue with ${resumeCommand(run)}`,
      );
    } finally {
      full.mock.restore();
      opened.close();
    }
  });

  test('--resume of a run whose last/ is a link (even a dangling one) refuses it instead of starting the run over', async () => {
    const run = runWithLock(() => {});
    fs.symlinkSync(path.join(path.dirname(run), 'elsewhere'), path.join(run, 'last'));
    const opened = openRun(run);
    try {
      await assert.rejects(opened.loadLast(), /last is a symbolic link; nin follows no link inside a run or checkpoint/);
    } finally {
      opened.close();
    }
  });

  test('a lock of a live process is still honoured', () => {
    const live = runWithLock((f) => fs.writeFileSync(f, `${process.ppid}\n`));
    assert.equal(trainingPid(live), process.ppid);
    assert.throws(() => openRun(live), /is being trained by process/);
  });
});

describe('a file swapped for a FIFO between a check and the read', () => {
  test('readRegularFile checks the open descriptor, so a FIFO that replaced a checked file ends in one line', () => {
    const dir = tempDir('nin-swap-');
    const regular = path.join(dir, 'regular.json');
    fs.writeFileSync(regular, '{}');
    const pipe = path.join(dir, 'config.json');
    fifo(pipe);
    // The swap, made certain: the FIFO's stat reports the regular file it replaced, as a stat taken
    // just before the swap would. A reader that trusts such a stat opens the FIFO and waits forever.
    const { result, killed } = probe(
      dir,
      `const fs = require('fs');
       const stat = fs.statSync, lstat = fs.lstatSync;
       fs.statSync = (p, ...rest) => stat(p === ${JSON.stringify(pipe)} ? ${JSON.stringify(regular)} : p, ...rest);
       fs.lstatSync = (p, ...rest) => lstat(p === ${JSON.stringify(pipe)} ? ${JSON.stringify(regular)} : p, ...rest);
       const { readRegularFile } = require(dist + '/sys/read-file.js');
       try { readRegularFile(${JSON.stringify(pipe)}, { maxBytes: 100, fix: 'fix it' }); console.log('{"read":true}'); }
       catch (err) { console.log(JSON.stringify({ error: err.message, nin: err.name })); }`,
    );
    assert.ok(!killed, 'the read blocked on the FIFO');
    assert.match(String(result.error), /config\.json is not a regular file \(a device, pipe or socket\); fix it/);
  });
});

describe('JSON nested 200,000 deep, wherever nin reads JSON: one line, never a stack overflow', () => {
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const refusedDeep = (err: unknown) => {
    assert.ok(err instanceof NinError, `not a NinError: ${String(err).slice(0, 200)}`);
    assert.match(err.message, /nests objects or arrays more than 64 levels deep, which no nin file does/);
    assert.ok(!err.message.includes('\n'));
    return true;
  };

  /** A checkpoint directory whose meta.json holds the deep value as its config; the other files do not matter. */
  function deepCheckpoint(): string {
    const dir = path.join(tempDir('nin-deep-'), 'run');
    fs.mkdirSync(path.join(dir, 'last'), { recursive: true });
    fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config));
    const meta = `{"formatVersion":${FORMAT_VERSION},"nin":"${NIN_VERSION}","imageSize":67,"epoch":1,"config":${deep}}`;
    fs.writeFileSync(path.join(dir, 'last', 'meta.json'), meta);
    fs.writeFileSync(path.join(dir, 'last', 'model.json'), '{}');
    return dir;
  }

  test('config.json (--config, --resume, serve), meta.json (eval, serve), metrics.jsonl (plot, serve)', async () => {
    const file = path.join(tempDir('nin-deep-'), 'config.json');
    fs.writeFileSync(file, `{"learningRate":${deep}}`);
    assert.throws(() => readConfigFile(file), refusedDeep);
    const run = deepCheckpoint();
    await assert.rejects(loadCheckpoint(run), refusedDeep);
    assert.throws(() => readCheckpointMeta(path.join(run, 'last')), refusedDeep);
    fs.writeFileSync(path.join(run, RUN_FILES.metricsJsonl), metricsLine(1) + `{"epoch":${deep}}\n`);
    assert.throws(
      () => readHistory(run),
      (err) => refusedDeep(err) && /metrics\.jsonl:2 nests/.test((err as Error).message),
    );
  });

  test('nin train --config with deep JSON: one line, exit 1; nin plot of a deep metrics.jsonl: one line, exit 1', async () => {
    const file = path.join(tempDir('nin-deep-'), 'deep.json');
    fs.writeFileSync(file, `{"epochs":${deep}}`);
    assertOneLineError(
      await runNin(['train', '--config', file, '--print-config']),
      1,
      /deep\.json nests objects or arrays more than 64 levels deep/,
    );
    const run = deepCheckpoint();
    fs.writeFileSync(path.join(run, RUN_FILES.metricsJsonl), `{"epoch":${deep}}\n`);
    assertOneLineError(await runNin(['plot', run, '--out', path.join(path.dirname(run), 'c.svg')]), 1, /metrics\.jsonl:1 nests/);
  });

  test("nin serve: a deep meta.json is a 422 with the line, not a 500; the run's listing names it", async () => {
    const run = deepCheckpoint();
    const server = await serveHere({ runs: [run], out: run, backend: 'cpu' });
    try {
      const get = (p: string) => requestText(server.url, p);
      const meta = await get('/api/runs/run/checkpoints/last/meta.json');
      assert.equal(meta.status, 422, meta.body);
      assert.match(meta.body, /nests objects or arrays more than 64 levels deep/);
      const runs = JSON.parse((await get('/api/runs')).body) as { runs: { error: string | null }[] };
      assert.match(String(runs.runs[0].error), /meta\.json nests/);
    } finally {
      await server.close();
    }
  });
});

describe('run names', () => {
  test('--run of 250 characters: one usage line before any work, nothing created', async () => {
    const out = path.join(tempDir('nin-long-'), 'runs');
    const r = await runNin(['train', '--run', 'r'.repeat(250), '--out', out, '--backend', TEST_BACKEND]);
    assertOneLineError(r, 2, /--run is 250 characters long; use at most 200/);
    assert.ok(!fs.existsSync(out), 'not even --out is created');
  });

  test('newlines and terminal escapes in a path found on disk or typed never reach the terminal raw', async () => {
    const parent = tempDir('nin-names-');
    const odd = path.join(parent, 'run\nline two\x1b[31mred\x9b');
    fs.mkdirSync(odd);
    const r = await runNin(['eval', odd, '--backend', TEST_BACKEND]);
    assertOneLineError(r, 1, /run\\nline two\\x1b\[31mred\\x9b has no model\.json/);
    fs.writeFileSync(path.join(odd, RUN_FILES.metricsJsonl), metricsLine(1));
    const plotted = await runNin(['plot', odd, '--out', path.join(parent, 'c.svg')]);
    assert.equal(plotted.code, 0, plotted.stderr);
    assert.equal(lines(plotted.stdout).length, 1, plotted.stdout);
    assert.ok(!plotted.stdout.includes('\x1b') && !plotted.stdout.includes('\x9b'), plotted.stdout);
    assert.match(plotted.stdout, /\(run\\nline two\\x1b\[31mred\\x9b: 1 epoch\)/);
  });

  test(
    "nin train's lines name an odd --out, --data-dir, --tensorboard and --init-weights escaped, each on its line",
    { timeout: 4 * SMALL_RUN_TIMEOUT },
    async () => {
      const ODD = 'odd\nline two\x1b[31mred\x9b';
      const ESCAPED = 'odd\\nline two\\x1b[31mred\\x9b';
      const shown = (p: string) => p.split(ODD).join(ESCAPED);
      const rawEscape = (text: string) => text.includes('\x1b') || text.includes('\x9b');
      const parent = tempDir('nin-names-');
      const out = path.join(parent, `out-${ODD}`);
      const data = path.join(parent, `data-${ODD}`);
      const board = path.join(parent, `tb-${ODD}`);
      fs.mkdirSync(data);
      const official = '/usr/share/datasets/fashion-mnist';
      for (const f of fs.readdirSync(official)) fs.symlinkSync(path.join(official, f), path.join(data, f));
      const flags = [...smallRunFlags(), '--data-dir', data, '--out', out];

      /** stderr's lines, after checking that no control character reached either stream raw. */
      const checked = (r: CliResult): string[] => {
        const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
        assert.equal(r.code, 0, context);
        assert.ok(!rawEscape(r.stdout + r.stderr), context);
        assert.equal(lines(r.stdout).filter((l) => !l.startsWith('epoch ')).length, 2, `the summary only\n${context}`);
        return lines(r.stderr);
      };
      const first = checked(
        await runNin(['train', ...flags, '--epochs', '1', '--run', 'r', '--tensorboard', board], { timeoutMs: SMALL_RUN_TIMEOUT }),
      );
      assert.ok(first.includes(`nin ${NIN_VERSION}: training ${shown(path.join(out, 'r'))}`), first.join('\n'));
      assert.ok(
        first.some((l) => l.startsWith(`data: ${shown(data)} (`)),
        first.join('\n'),
      );
      assert.ok(
        first.some((l) => l.startsWith(`config: `) && l.includes(` dataDir=${shown(data)} `)),
        first.join('\n'),
      );
      assert.ok(
        first.some((l) => l.startsWith(`tensorboard: ${shown(board)}/events.out.tfevents.`)),
        first.join('\n'),
      );

      const weights = path.join(out, 'r', 'last');
      const second = checked(
        await runNin(['train', ...flags, '--epochs', '1', '--run', 'r2', '--init-weights', weights], { timeoutMs: SMALL_RUN_TIMEOUT }),
      );
      assert.ok(second.includes(`initial weights: ${shown(weights)}`), second.join('\n'));

      // A second Ctrl-C ends nin at once with the command that continues the run: that line too (written by signals.ts or
      // the addon's watchdog, not by the CLI's error printer) shows the path escaped. A second signal that comes after the
      // first stop already saved and ended nin meets the CLI's own line instead: escaped as well.
      const stopped = startNin(['train', ...flags, '--epochs', '1000', '--run', 'r3'], { timeoutMs: SMALL_RUN_TIMEOUT });
      await waitForOutput(stopped, (stdout) => /^epoch 1\//m.test(stdout), SMALL_RUN_TIMEOUT);
      stopped.child.kill('SIGINT');
      await waitForOutput(stopped, (_stdout, stderr) => /^SIGINT: /m.test(stderr), SMALL_RUN_TIMEOUT).catch(() => {});
      stopped.child.kill('SIGINT');
      const r = await stopped.done;
      const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 130, context);
      assert.ok(!rawEscape(r.stdout + r.stderr), context);
      const last = lines(r.stderr).at(-1) ?? '';
      assert.match(last, /^nin: (stopped at once by a second SIGINT|interrupted by SIGINT); /, context);
      assert.ok(last.endsWith(`; continue with ${shown(resumeCommand(path.join(out, 'r3'), REPO_ROOT))}`), context);
    },
  );
});
