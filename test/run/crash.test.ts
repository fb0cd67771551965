// Crash safety against the real CLI as a process: kill -9 at random moments (also mid-save),
// SIGINT/SIGTERM mid-epoch, a full disk while saving; each time --resume ends where an
// uninterrupted run ends, with every epoch logged exactly once.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { TEST_BACKEND } from '../helpers/small-run';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { lines, REPO_ROOT, runNin, startNin, type CliResult } from '../helpers/cli';
import { assertOk, loggedNumbers, type LoggedNumbers, resumeTrain, trainThenSignal } from '../helpers/resume';
import { resumeCommand } from '../../src/run/resume-command';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

const BACKEND = TEST_BACKEND;
// Small enough that a whole run takes a few seconds on onednn, with several batches per epoch and a save every epoch.
const EPOCHS = 4;
const ARGS = [
  '--backend',
  BACKEND,
  '--image-size',
  '67',
  '--epochs',
  String(EPOCHS),
  ...(BACKEND === 'onednn'
    ? ['--train-limit', '48', '--test-limit', '16', '--batch-size', '8']
    : ['--train-limit', '8', '--test-limit', '4', '--batch-size', '4']),
];
const TIMEOUT = BACKEND === 'onednn' ? 120_000 : 900_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let reference: LoggedNumbers[];

before(async () => {
  await initBackend('cpu', null); // for loadCheckpoint checks in this process
  const out = tempDir('nin-crash-ref-');
  const r = await runNin(['train', ...ARGS, '--out', out, '--run', 'ref'], { timeoutMs: TIMEOUT });
  assertOk(r, 'reference run');
  reference = loggedNumbers(path.join(out, 'ref'));
  assert.deepEqual(
    reference.map((m) => m.epoch),
    [1, 2, 3, 4],
  );
});

/** After a crash: no run, or a run whose last/ (if any) loads and whose log is epochs 1..k in order. */
async function assertConsistent(runDir: string, context: string): Promise<void> {
  if (!fs.existsSync(runDir)) return;
  assert.ok(fs.existsSync(path.join(runDir, 'config.json')), `${context}: a run directory without config.json`);
  const logged = loggedNumbers(runDir).map((m) => m.epoch);
  assert.deepEqual(
    logged,
    logged.map((_, i) => i + 1),
    `${context}: metrics.jsonl epochs ${logged}`,
  );
  const hasLast = fs.existsSync(path.join(runDir, 'last')) || fs.existsSync(path.join(runDir, '.last.old'));
  if (hasLast) {
    const loaded = await loadCheckpoint(path.join(runDir, 'last'));
    loaded.model.dispose();
    // The log is rebuilt from last/ on resume, so last/ is never behind it.
    assert.ok(loaded.meta.epoch >= logged.length, `${context}: last/ is epoch ${loaded.meta.epoch}, the log has ${logged.length}`);
  }
}

describe('kill -9', () => {
  test('at random moments, again and again: --resume always continues, the log ends like an uninterrupted run', async () => {
    const out = tempDir('nin-crash-');
    const runDir = path.join(out, 'r');
    const kills: string[] = [];
    let finished: CliResult | null = null;
    // A resume once the run directory exists; before that (every kill so far landed during start-up, as on a
    // loaded machine) the run is started again.
    const nextArgs = () =>
      fs.existsSync(runDir) ? ['train', '--resume', runDir, '--backend', BACKEND] : ['train', ...ARGS, '--out', out, '--run', 'r'];
    for (let attempt = 0; attempt < 12 && !finished; attempt++) {
      const proc = startNin(nextArgs(), { timeoutMs: TIMEOUT });
      // Early attempts die early (startup, first epoch); later ones get time to reach saves.
      const delay = 300 + Math.random() * (600 + attempt * 400);
      const ended = await Promise.race([proc.done, sleep(delay).then(() => null)]);
      if (ended) {
        assertOk(ended, `attempt ${attempt} (${kills.join(', ')})`);
        finished = ended;
        break;
      }
      proc.child.kill('SIGKILL');
      const r = await proc.done;
      kills.push(`${Math.round(delay)} ms${r.signal === 'SIGKILL' ? '' : ` (ended ${r.code} first)`}`);
      await assertConsistent(runDir, `after kill -9 at ${Math.round(delay)} ms (kills so far: ${kills.join(', ')})`);
    }
    if (!finished) {
      const r = await runNin(nextArgs(), { timeoutMs: TIMEOUT });
      assertOk(r, `final run after kills at ${kills.join(', ')}`);
    }
    assert.ok(kills.length > 0, 'at least one kill landed');
    assert.deepEqual(loggedNumbers(runDir), reference, `kills at ${kills.join(', ')}`);
    assert.deepEqual(
      fs.readdirSync(runDir).filter((f) => f.startsWith('.') || f.includes('.tmp-')),
      [],
      'leftovers of killed saves are gone',
    );
  });

  test('killed inside a checkpoint swap (last -> .last.old done, new last/ not yet renamed in): --resume continues', async () => {
    const out = tempDir('nin-crash-swap-');
    const runDir = path.join(out, 'r');
    const two = ARGS.map((a, i) => (ARGS[i - 1] === '--epochs' ? '2' : a));
    assertOk(await runNin(['train', ...two, '--out', out, '--run', 'r'], { timeoutMs: TIMEOUT }), 'first two epochs');
    // What a kill -9 between the two renames of saveCheckpoint leaves: no last/, the old one as .last.old,
    // a complete-looking new one under a temporary name, and logs written by the killed process.
    fs.renameSync(path.join(runDir, 'last'), path.join(runDir, '.last.old'));
    fs.cpSync(path.join(runDir, '.last.old'), path.join(runDir, '.last.tmp-99999'), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'metrics.jsonl.tmp-99999'), '{"epoch": 3');
    const r = await resumeTrain(runDir, { more: ['--epochs', String(EPOCHS)], timeoutMs: TIMEOUT });
    assert.match(r.stderr, /resuming after epoch 2/);
    assert.deepEqual(loggedNumbers(runDir), reference);
    assert.deepEqual(
      fs.readdirSync(runDir).filter((f) => f.startsWith('.') || f.includes('.tmp-')),
      [],
    );
  });

  test('killed before its first checkpoint (a run with config.json only): --resume starts it again', async () => {
    const out = tempDir('nin-crash-early-');
    const runDir = path.join(out, 'r');
    assertOk(await runNin(['train', ...ARGS, '--out', out, '--run', 'r'], { timeoutMs: TIMEOUT }), 'run');
    for (const f of fs.readdirSync(runDir)) if (f !== 'config.json') fs.rmSync(path.join(runDir, f), { recursive: true });
    const r = await resumeTrain(runDir, { timeoutMs: TIMEOUT });
    assert.match(r.stderr, /resuming from the start/);
    assert.deepEqual(loggedNumbers(runDir), reference);
  });
});

describe('SIGINT, SIGTERM and SIGHUP', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    test(`${signal} mid-epoch: the batch finishes, last/ holds the partial epoch, exit ${code}; --resume continues mid-epoch`, async () => {
      const out = tempDir('nin-signal-');
      const runDir = path.join(out, 'r');
      // Epochs of many small batches; the signal is sent early in epoch 2.
      const args = [
        '--backend',
        BACKEND,
        '--image-size',
        '67',
        '--epochs',
        '3',
        ...(BACKEND === 'onednn'
          ? ['--train-limit', '96', '--test-limit', '8', '--batch-size', '2']
          : ['--train-limit', '8', '--test-limit', '4', '--batch-size', '2']),
      ];
      const straightOut = tempDir('nin-signal-ref-');
      assertOk(await runNin(['train', ...args, '--out', straightOut, '--run', 'ref'], { timeoutMs: TIMEOUT }), 'reference');

      const r = await trainThenSignal([...args, '--out', out, '--run', 'r'], signal, (stdout) => /^epoch 1\/3: /m.test(stdout), {
        afterMs: BACKEND === 'onednn' ? 150 : 1000,
        timeoutMs: TIMEOUT,
      });
      assert.equal(r.code, code, `exit ${r.code} ${r.signal ?? ''}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${signal}: finishing this batch, then saving last/`));
      assert.ok(!r.stderr.includes('    at '));
      const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'));
      assert.ok(meta.partial, `expected a partial epoch in last/meta.json (epoch ${meta.epoch}); signal too late? stdout: ${r.stdout}`);
      assert.ok(meta.partial.batches > 0);
      // The last line says what last/ holds and the command that continues (the run directory as the user
      // would type it from nin's working directory: relative or absolute, whichever is shorter).
      const perEpoch = BACKEND === 'onednn' ? 48 : 4;
      assert.equal(
        lines(r.stderr).at(-1),
        `nin: interrupted by ${signal}; last/ holds epoch ${meta.epoch} and ${meta.partial.batches} of ${perEpoch} batches of epoch ${meta.epoch + 1}; continue with ${resumeCommand(runDir, REPO_ROOT)}`,
      );
      assert.equal(loggedNumbers(runDir).length, meta.epoch);

      const resumed = await resumeTrain(runDir, { timeoutMs: TIMEOUT });
      assert.match(
        resumed.stderr,
        new RegExp(`resuming after epoch ${meta.epoch} and ${meta.partial.batches} batches of epoch ${meta.epoch + 1}`),
      );
      assert.deepEqual(loggedNumbers(runDir), loggedNumbers(path.join(straightOut, 'ref')));
    });
  }
});

describe('a signal during the test pass', () => {
  test('stops it, saves last/ with every training batch done; --resume repeats only the test pass and ends as an uninterrupted run', async () => {
    // One quick training batch, then a long test pass (thousands of single-image batches) for the signal to land in.
    const args = [
      '--backend',
      BACKEND,
      '--image-size',
      '67',
      '--epochs',
      '1',
      '--train-limit',
      '2',
      '--batch-size',
      '2',
      '--test-limit',
      BACKEND === 'onednn' ? '6000' : '400',
    ];
    const refOut = tempDir('nin-testpass-ref-');
    assertOk(await runNin(['train', ...args, '--out', refOut, '--run', 'ref'], { timeoutMs: TIMEOUT }), 'reference');
    const out = tempDir('nin-testpass-');
    const runDir = path.join(out, 'r');
    const r = await trainThenSignal([...args, '--out', out, '--run', 'r'], 'SIGINT', (_stdout, stderr) => /^data: /m.test(stderr), {
      afterMs: 1500,
      timeoutMs: TIMEOUT,
    });
    assert.equal(r.code, 130, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, '', 'no epoch line: the test pass did not finish');
    const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8'));
    assert.deepEqual([meta.epoch, meta.partial?.batches], [0, 1]);
    const resumed = await resumeTrain(runDir, { timeoutMs: TIMEOUT });
    assert.match(resumed.stderr, /resuming after epoch 0 and 1 batches of epoch 1/);
    assert.deepEqual(loggedNumbers(runDir), loggedNumbers(path.join(refOut, 'ref')));
  });
});

describe('a full disk while saving', () => {
  test('one clear message, exit 1, the previous checkpoint intact and resumable elsewhere', async (t) => {
    const mnt = tempDir('nin-full-');
    try {
      // weights.bin is ~8 MB: best/ and last/ of epoch 1 fit in 20 MB, a third copy does not.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`cannot mount a tmpfs here (${String((err as Error).message).split('\n')[0]}); needs root`);
      return;
    }
    try {
      const runDir = path.join(mnt, 'r');
      const r = await runNin(['train', ...ARGS, '--out', mnt, '--run', 'r'], { timeoutMs: TIMEOUT });
      const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, context);
      const errors = lines(r.stderr).filter((l) => l.startsWith('nin: '));
      assert.equal(errors.length, 1, context);
      assert.match(errors[0], /no space left on device/, context);
      // It ends with the command that continues the run, as a Ctrl-C's line does (the child runs in REPO_ROOT).
      assert.ok(
        errors[0].endsWith(
          `; the previous checkpoint is intact: free some space or move the run to a disk with room, then continue with ${resumeCommand(runDir, REPO_ROOT)}`,
        ),
        context,
      );
      assert.ok(!r.stderr.includes('    at '), context);
      assert.deepEqual(lines(r.stdout).filter((l) => l.startsWith('epoch ')).length, 1, 'epoch 1 completed and was reported');
      const last = await loadCheckpoint(path.join(runDir, 'last'));
      last.model.dispose();
      assert.equal(last.meta.epoch, 1, 'the previous last/ is intact');
      assert.deepEqual(loggedNumbers(runDir), reference.slice(0, 1));
      assert.deepEqual(
        fs.readdirSync(runDir).filter((f) => f.startsWith('.') || f.includes('.tmp-')),
        [],
        'the half-written checkpoint was removed',
      );

      // Moved to a disk with room, the run continues to the same end.
      const moved = path.join(tempDir('nin-full-moved-'), 'r');
      fs.cpSync(runDir, moved, { recursive: true });
      await resumeTrain(moved, { timeoutMs: TIMEOUT });
      assert.deepEqual(loggedNumbers(moved), reference);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
