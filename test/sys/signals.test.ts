// Stop signals against the real CLI as a process (as crash.test.ts does for train's mid-epoch stop):
// every command with long work ends soon after SIGINT, SIGTERM or SIGHUP, says what it kept, and a
// second signal ends it at once. The pure-JS cpu backend holds the JS thread for a whole step (minutes),
// so there the native watchdog ends nin GRACE_SECONDS after the signal; without the addon, a signal
// during such a step ends nin at once by the signal's default action.
//
// Nothing here asserts a speed: the work each command is given would run for minutes, and a test fails
// when a command finishes it (or the harness kills it) instead of stopping. The time from signal to exit
// is reported as a diagnostic.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { initBackend } from '../../src/backend';
import { onednnStatus } from '../../src/backend/onednn';
import { GRACE_SECONDS } from '../../src/sys/signals';
import { resumeCommand } from '../../src/run/resume-command';
import { gradientPng } from '../helpers/pictures';
import { writeDoubledRun } from '../helpers/serve-runs';
import { TEST_BACKEND } from '../helpers/small-run';
import { lines, REPO_ROOT, startNin, waitForOutput, type CliOptions, type CliResult } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

const ADDON = onednnStatus().available; // the watchdog lives in the oneDNN addon
const NO_ADDON_ENV = { NIN_ONEDNN_ADDON: '/nonexistent/nin_onednn.node' };
// What the harness allows a command that does not stop: long enough for a loaded machine's start-up,
// far shorter than the work it is given.
const TIMEOUT = 180_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Stopped {
  r: CliResult;
  ms: number; // from the (first) signal to the end of the process
}

/** Starts `nin args`, waits for `ready` on stderr, waits `delayMs`, sends each signal (`gapMs` apart). */
async function stopNin(
  args: string[],
  ready: RegExp,
  signals: NodeJS.Signals[],
  options: CliOptions & { delayMs?: number; gapMs?: number } = {},
): Promise<Stopped> {
  const proc = startNin(args, { timeoutMs: TIMEOUT, ...options });
  await waitForOutput(proc, (_out, err) => ready.test(err), TIMEOUT);
  await sleep(options.delayMs ?? 0);
  const sent = Date.now();
  for (const [i, signal] of signals.entries()) {
    if (i > 0) await sleep(options.gapMs ?? 0);
    proc.child.kill(signal);
  }
  const r = await proc.done;
  return { r, ms: Date.now() - sent };
}

function context(r: CliResult): string {
  return `exit ${r.code} (${r.signal ?? 'no signal'})${r.timedOut ? ', killed by the test timeout' : ''}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

/** The last stderr line. */
const lastLine = (r: CliResult) => lines(r.stderr).at(-1) ?? '';

/** Without the addon a slow step runs with the signals' default action: killed by the signal itself, having said so first. */
function assertEndedBySignal(r: CliResult, signal: NodeJS.Signals): void {
  assert.equal(r.signal, signal, context(r));
  assert.match(r.stderr, /^note: without the oneDNN addon a stop signal during a long step ends nin at once and silently; /m, context(r));
}

describe('lr-find, eval, bench and predict stop at a signal', () => {
  let work: string;
  let checkpoint: string;
  before(async () => {
    work = tempDir('nin-signals-');
    await initBackend('cpu', null, () => {});
    checkpoint = path.join(await writeDoubledRun(work), 'best'); // 67px, seeded weights
  });

  test('lr-find: SIGINT after its first step ends the test there, with the curve so far on stdout and in --out; exit 130', async (t) => {
    const out = path.join(work, 'lr.svg');
    const args = [
      'lr-find',
      '--backend',
      TEST_BACKEND,
      '--image-size',
      '67',
      '--batch-size',
      '8',
      '--train-limit',
      '64',
      '--steps',
      '10000',
    ];
    const { r, ms } = await stopNin([...args, '--out', out], TEST_BACKEND === 'cpu' ? /^lr-find: / : /^step 1\/10000: /m, ['SIGINT']);
    t.diagnostic(`lr-find on ${TEST_BACKEND}: SIGINT to exit ${ms} ms`);
    if (TEST_BACKEND === 'cpu') return assertEndedBySignal(r, 'SIGINT');
    assert.equal(r.code, 130, context(r));
    assert.match(r.stderr, /^SIGINT: ending the test after this step \(Ctrl-C again stops at once\)$/m, context(r));
    const steps = Number(/stopped after step (\d+) of 10000 by SIGINT/.exec(r.stdout)?.[1]);
    assert.ok(steps >= 1 && steps < 10000, context(r));
    // A stop that lands after the first step (a loaded machine) says "1 step".
    assert.equal(
      lastLine(r),
      `nin: interrupted by SIGINT; the curve of its first ${steps} step${steps === 1 ? '' : 's'} is above and in ${out}`,
    );
    assert.match(fs.readFileSync(out, 'utf8'), /^<svg /);
  });

  test('eval: SIGINT mid-pass ends it after the batch, saying how far it got; exit 130', async (t) => {
    const args = ['eval', checkpoint, '--backend', TEST_BACKEND, '--batch-size', '1'];
    // The checkpoint's run measured 100 test images: that note comes just before the pass over all 10,000.
    const { r, ms } = await stopNin(args, /^note: this run measured/m, ['SIGINT'], { delayMs: 300 });
    t.diagnostic(`eval on ${TEST_BACKEND}: SIGINT to exit ${ms} ms`);
    if (TEST_BACKEND === 'cpu') return assertEndedBySignal(r, 'SIGINT');
    assert.equal(r.code, 130, context(r));
    assert.equal(r.stdout, '', context(r));
    assert.match(r.stderr, /^SIGINT: stopping after this test batch/m, context(r));
    assert.match(
      lastLine(r),
      /^nin: interrupted by SIGINT; \d+ of 10000 test images scored, no result \(eval writes nothing\)$/,
      context(r),
    );
  });

  test('bench: SIGTERM during the timed steps ends it without a result; exit 143 (it used to exit 0)', async (t) => {
    const args = ['bench', '--backend', TEST_BACKEND, '--image-size', '67', '--batch-size', '8', '--steps', '10000'];
    const { r, ms } = await stopNin(args, /^bench: /m, ['SIGTERM'], { delayMs: 1000 });
    t.diagnostic(`bench on ${TEST_BACKEND}: SIGTERM to exit ${ms} ms`);
    if (TEST_BACKEND === 'cpu') return assertEndedBySignal(r, 'SIGTERM');
    assert.equal(r.code, 143, context(r));
    assert.equal(r.stdout, '', context(r));
    assert.match(lastLine(r), /^nin: interrupted by SIGTERM; no result \(bench stopped during its (warm-up|training) steps\)$/, context(r));
  });

  test(
    'predict on the cpu backend: SIGINT while a batch runs ends it within the grace, saying what was printed',
    { skip: !ADDON && 'needs the oneDNN addon (its watchdog)' },
    async (t) => {
      const pictures = path.join(work, 'pictures');
      fs.mkdirSync(pictures, { recursive: true });
      const png = gradientPng(16, 16);
      const files = Array.from({ length: 128 }, (_, i) => path.join(pictures, `p${i}.png`));
      for (const f of files) fs.writeFileSync(f, png);
      // --threads above the cores: a warning printed once predict has taken the signals over (the cpu backend ignores threads).
      // Two batches of 64 of ~10 s each here: the first ends within the grace on a quiet machine, not on a loaded one.
      const args = ['predict', checkpoint, ...files, '--backend', 'cpu', '--threads', '1024'];
      const { r, ms } = await stopNin(args, /^warning: --threads 1024/m, ['SIGINT'], { delayMs: 2000 });
      t.diagnostic(`predict on cpu: SIGINT to exit ${ms} ms`);
      assert.equal(r.code, 130, context(r));
      assert.match(
        lastLine(r),
        /^nin: (stopped at once \d+ s after SIGINT; no prediction was printed|interrupted by SIGINT; (no picture classified of 128|64 of 128 pictures classified \(above\)))$/,
        context(r),
      );
      assert.ok(ms < 60_000, `${ms} ms: the 16 s batches ran to the end\n${context(r)}`);
    },
  );
});

describe('nin train', () => {
  const trainArgs = (out: string, ...rest: string[]) => [
    'train',
    '--out',
    out,
    '--run',
    'r',
    '--test-limit',
    '4',
    '--epochs',
    '1',
    ...rest,
  ];

  test('a second SIGINT ends it at once, saying what last/ holds', async (t) => {
    const out = tempDir('nin-second-');
    // Steps of a second or more on onednn (224px, batch 32), so the first stop is still finishing its batch
    // 100 ms later, at the second signal; sent once training runs (its first progress line).
    const size =
      TEST_BACKEND === 'onednn'
        ? ['--image-size', '224', '--batch-size', '32', '--train-limit', '960', '--log-every', '0.2']
        : ['--image-size', '67', '--batch-size', '16', '--train-limit', '16'];
    const ready = TEST_BACKEND === 'onednn' ? /^epoch 1\/1: batch \d+\/30, loss/m : /^data: /m;
    const { r, ms } = await stopNin(trainArgs(out, '--backend', TEST_BACKEND, ...size), ready, ['SIGINT', 'SIGINT'], {
      delayMs: TEST_BACKEND === 'onednn' ? 0 : 1500,
      gapMs: 100,
    });
    t.diagnostic(`train on ${TEST_BACKEND}: SIGINT, SIGINT 100 ms later, to exit ${ms} ms`);
    if (TEST_BACKEND === 'cpu') return assertEndedBySignal(r, 'SIGINT');
    assert.equal(r.code, 130, context(r));
    assert.match(r.stderr, /^SIGINT: finishing this batch, then saving last\/ \(Ctrl-C again stops at once\)$/m, context(r));
    const runDir = path.join(out, 'r');
    if (lastLine(r).startsWith('nin: interrupted by SIGINT; ')) {
      // The first signal landed as its batch was ending: the stop saved and nin ended with its own line within
      // the 100 ms before the second signal. That line must then say what last/ holds.
      const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'));
      assert.equal(
        lastLine(r),
        `nin: interrupted by SIGINT; last/ holds ${saved.partial.batches} of 30 batches of epoch 1; continue with ${resumeCommand(runDir, REPO_ROOT)}`,
      );
      return;
    }
    assert.match(lastLine(r), /^nin: stopped at once by a second SIGINT; /, context(r));
    // What it says is kept is never more than what is there: the text changes only after last/ is renamed into
    // place, so a second signal in the microseconds between the rename and that change (the watchdog's thread
    // ends nin while the JS thread is between the two) may understate a save that just landed, never claim one
    // that did not. Either way the command it names is the same.
    const meta = fs.existsSync(path.join(runDir, 'last', 'meta.json'))
      ? JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'))
      : null;
    const nothing = 'nothing was trained yet; start it with';
    const kept = meta ? [`last/ holds ${meta.partial.batches} of 30 batches of epoch 1; continue with`, nothing] : [nothing];
    const line = lastLine(r);
    assert.ok(
      kept.some((k) => line === `nin: stopped at once by a second SIGINT; ${k} ${resumeCommand(runDir, REPO_ROOT)}`),
      `${line}\n(last/ ${meta ? 'holds a save' : 'was not saved'})\n${context(r)}`,
    );
  });

  test(
    'cpu backend: SIGTERM during a step of minutes ends nin GRACE_SECONDS later, with a line every second meanwhile; exit 143',
    { skip: !ADDON && 'needs the oneDNN addon (its watchdog)' },
    async (t) => {
      const out = tempDir('nin-cpu-grace-');
      const args = trainArgs(
        out,
        '--backend',
        'cpu',
        '--image-size',
        '67',
        '--batch-size',
        '32',
        '--train-limit',
        '32',
        '--log-every',
        '1',
      );
      // The heartbeat: the worker's line while the first step holds the JS thread.
      const { r, ms } = await stopNin(args, /^epoch 1\/1: batch 1\/1 running for 0:0[1-9]/m, ['SIGTERM']);
      t.diagnostic(`train on cpu (a batch of 32 at 67px): SIGTERM to exit ${ms} ms (grace ${GRACE_SECONDS} s)`);
      assert.equal(r.code, 143, context(r));
      assert.match(r.stderr, /^SIGTERM: finishing this batch, then saving last\/ \(a second signal stops at once\)$/m, context(r));
      assert.equal(
        lastLine(r),
        `nin: stopped at once ${GRACE_SECONDS} s after SIGTERM; nothing was trained yet; start it with ${resumeCommand(path.join(out, 'r'), REPO_ROOT)}`,
      );
      assert.ok(ms < 60_000, `${ms} ms: the step of minutes ran to its end\n${context(r)}`);
    },
  );

  test(
    'cpu backend: slow batches save last/ after each, so a stop loses only the batch in flight',
    { skip: !ADDON && 'needs the oneDNN addon (its watchdog)' },
    async (t) => {
      const out = tempDir('nin-cpu-each-');
      const args = trainArgs(out, '--backend', 'cpu', '--image-size', '67', '--batch-size', '1', '--train-limit', '3', '--log-every', '0');
      const { r, ms } = await stopNin(args, /^note: a batch takes [0-9:]+ here, so last\/ is saved after each one; /m, ['SIGTERM']);
      t.diagnostic(`train on cpu (batches of 1 at 67px): SIGTERM to exit ${ms} ms`);
      assert.equal(r.code, 143, context(r));
      const runDir = path.join(out, 'r');
      const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'));
      assert.ok(meta.partial.batches >= 1, context(r));
      // Stopped after the batch in flight (with it saved), or GRACE_SECONDS later without it: last/ is what the line says.
      assert.match(
        lastLine(r),
        new RegExp(
          `^nin: (interrupted by SIGTERM|stopped at once ${GRACE_SECONDS} s after SIGTERM); last/ holds ${meta.partial.batches} of 3 batches of epoch 1; continue with ${resumeCommand(runDir, REPO_ROOT).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
        ),
        context(r),
      );
    },
  );

  test('cpu backend without the addon: a stop signal during a step ends nin at once, as announced before it', async (t) => {
    const out = tempDir('nin-cpu-noaddon-');
    const args = trainArgs(out, '--backend', 'cpu', '--image-size', '67', '--batch-size', '32', '--train-limit', '32', '--log-every', '0');
    const { r, ms } = await stopNin(args, /^note: without the oneDNN addon/m, ['SIGTERM'], { env: NO_ADDON_ENV, delayMs: 500 });
    t.diagnostic(`train on cpu without the addon: SIGTERM to exit ${ms} ms`);
    assertEndedBySignal(r, 'SIGTERM');
    assert.match(r.stderr, /; nothing was trained yet; start it with nin train --resume /, context(r));
    assert.ok(ms < 60_000, `${ms} ms: the step of minutes ran to its end\n${context(r)}`);
  });
});

describe('signals.ts without a watchdog', () => {
  // A command whose stop takes long (it keeps working through its stop points): the second signal is heard by JS.
  const SCRIPT = `
    const signals = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'sys', 'signals.js'))});
    signals.exitOnSignals();
    const stop = signals.takeOverSignals({ acknowledge: 'finishing', kept: 'the test keeps nothing' });
    process.stderr.write('ready\\n');
    (async () => {
      for (;;) {
        const t = Date.now();
        while (Date.now() - t < 20) {}
        await stop.point();
      }
    })();
  `;

  test('the first signal is acknowledged, the second ends the process at once with the kept line', async () => {
    const child = spawn(process.execPath, ['-e', SCRIPT], { env: { ...process.env, ...NO_ADDON_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    while (!stderr.includes('ready')) await sleep(20);
    child.kill('SIGHUP');
    while (!stderr.includes('SIGHUP: finishing')) await sleep(20);
    child.kill('SIGINT');
    assert.equal(await done, 130, stderr);
    assert.deepEqual(lines(stderr), [
      'ready',
      'SIGHUP: finishing (a second signal stops at once)',
      'nin: stopped at once by a second SIGINT; the test keeps nothing',
    ]);
  });
});

describe('the command that continues a run', () => {
  test('relative to the current directory when shorter, quoted for the shell when needed', () => {
    assert.equal(resumeCommand('/home/u/checkpoints/20261206-020426', '/home/u'), 'nin train --resume checkpoints/20261206-020426');
    assert.equal(resumeCommand('/tmp/runs/r1', '/home/u/nin'), 'nin train --resume /tmp/runs/r1');
    assert.equal(resumeCommand('/home/u/run', '/home/u/run'), 'nin train --resume .');
    assert.equal(resumeCommand("/home/u/my runs/it's", '/home/u'), "nin train --resume 'my runs/it'\\''s'");
    assert.equal(resumeCommand('/home/u/-r', '/home/u'), 'nin train --resume ./-r');
    assert.equal(resumeCommand('/home/u/a$b', '/home/u'), "nin train --resume 'a$b'");
  });
});
