// The run directory (src/run/run-dir.ts) and its lock (src/run/lock.ts): created whole and locked, one writer
// at a time (a dead writer's lock is taken over; another host's once its heartbeat stops), default names that
// never collide, logs written from memory; and the resources a run is checked against before it starts
// (memory, threads).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig } from '../../src/config/config';
import { NinError } from '../../src/sys/errors';
import { availableCores, capThreads, checkTrainingMemory, trainingBytes } from '../../src/machine/resources';
import { createRun, openRun, planRun } from '../../src/run/run-dir';
import { lockHolder, LOCK_HEARTBEAT_SECONDS, LOCK_STALE_SECONDS, RunLockedError, trainingPid } from '../../src/run/lock';
import { RUN_FILES } from '../../src/run/layout';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

const config = resolveConfig({ epochs: 3, imageSize: 67 });
const quiet = () => {};
const metrics = (epoch: number) => ({
  epoch,
  loss: 2 / epoch,
  trainAcc: 0.1 * epoch,
  testAcc: 0.1 * epoch,
  examplesPerSec: 10,
  seconds: 1,
});

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('run directory', () => {
  test('createRun makes <out>/<run> with config.json and our lock; close releases the lock', () => {
    const out = tempDir('nin-rundir-');
    const run = createRun(planRun(out, 'a'), config, quiet);
    assert.equal(run.dir, path.join(out, 'a'));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(run.dir, RUN_FILES.config), 'utf8')), config);
    assert.equal(fs.readFileSync(path.join(run.dir, RUN_FILES.lock), 'utf8').trim(), `${process.pid}@${os.hostname()}`);
    run.writeLogs([metrics(1), metrics(2)]);
    assert.deepEqual(
      fs
        .readFileSync(path.join(run.dir, RUN_FILES.metricsJsonl), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).epoch),
      [1, 2],
    );
    assert.equal(fs.readFileSync(path.join(run.dir, RUN_FILES.metricsCsv), 'utf8').trim().split('\n').length, 3);
    run.close();
    assert.ok(!fs.existsSync(path.join(run.dir, RUN_FILES.lock)));
    assert.deepEqual(fs.readdirSync(out), ['a'], 'no temporary directory is left');
  });

  test('a second writer is refused with the other process named; reads and the first writer are untouched', async () => {
    const out = tempDir('nin-rundir-');
    const first = createRun(planRun(out, 'a'), config, quiet);
    first.close();
    // Another live process holds the lock.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(first.dir, RUN_FILES.lock), `${other.pid}\n`);
      assert.throws(
        () => openRun(first.dir),
        (err: unknown) =>
          err instanceof NinError && new RegExp(`being trained by process ${other.pid}`).test(err.message) && /kill/.test(err.message),
      );
      assert.equal(fs.readFileSync(path.join(first.dir, RUN_FILES.lock), 'utf8').trim(), String(other.pid), 'the other lock stays');
    } finally {
      other.kill();
    }
  });

  test('a lock left by a killed process is taken over by --resume', () => {
    const out = tempDir('nin-rundir-');
    const first = createRun(planRun(out, 'a'), config, quiet);
    first.close();
    fs.writeFileSync(path.join(first.dir, RUN_FILES.lock), `${deadPid()}\n`);
    fs.writeFileSync(path.join(first.dir, `.${RUN_FILES.metricsJsonl}.tmp-99999`), 'half');
    const run = openRun(first.dir);
    assert.equal(fs.readFileSync(path.join(first.dir, RUN_FILES.lock), 'utf8').trim(), `${process.pid}@${os.hostname()}`);
    assert.ok(!fs.existsSync(path.join(first.dir, `.${RUN_FILES.metricsJsonl}.tmp-99999`)), 'leftovers of a killed save are removed');
    run.close();
    assert.ok(!fs.existsSync(path.join(first.dir, RUN_FILES.lock)));
  });

  test('an old lock (a bare pid, written before hosts were recorded) still reads as this host: honoured while its process lives', () => {
    const out = tempDir('nin-rundir-');
    const first = createRun(planRun(out, 'a'), config, quiet);
    first.close();
    fs.writeFileSync(path.join(first.dir, RUN_FILES.lock), `${process.ppid}\n`);
    assert.deepEqual({ ...lockHolder(first.dir), ageSeconds: 0 }, { pid: process.ppid, host: os.hostname(), local: true, ageSeconds: 0 });
    assert.throws(() => openRun(first.dir), /being trained by process \d+; wait for it/);
  });

  test('a lock of another host: live while its heartbeat is recent (whatever its pid), taken over once stale', () => {
    const out = tempDir('nin-rundir-');
    const first = createRun(planRun(out, 'a'), config, quiet);
    first.close();
    const lock = path.join(first.dir, RUN_FILES.lock);
    // A pid that is dead here must not matter: on node-7 it may be alive.
    const pid = deadPid();
    fs.writeFileSync(lock, `${pid}@node-7.cluster\n`);
    assert.equal(trainingPid(first.dir), pid);
    assert.throws(
      () => openRun(first.dir),
      (err: unknown) =>
        err instanceof RunLockedError &&
        err.owner?.host === 'node-7.cluster' &&
        new RegExp(`^.* is being trained by process ${pid} on node-7\\.cluster \\(its lock written \\d+ s ago\\); .*10 minutes old$`).test(
          err.message,
        ),
    );
    assert.equal(fs.readFileSync(lock, 'utf8'), `${pid}@node-7.cluster\n`, 'the other lock stays');
    // Its host stopped writing it just over LOCK_STALE_SECONDS ago.
    const old = (Date.now() - (LOCK_STALE_SECONDS + 5) * 1000) / 1000;
    fs.utimesSync(lock, old, old);
    assert.equal(lockHolder(first.dir), null);
    const run = openRun(first.dir);
    assert.equal(fs.readFileSync(lock, 'utf8'), `${process.pid}@${os.hostname()}\n`);
    assert.ok(!fs.existsSync(`${lock}.break`), 'the takeover turn is released');
    run.close();
    assert.ok(!fs.existsSync(lock));
  });

  test('the heartbeat rewrites our own lock (its age restarts) and never one that names another process', () => {
    assert.ok(LOCK_HEARTBEAT_SECONDS * 5 <= LOCK_STALE_SECONDS, 'several beats may be missed before a lock is stale');
    const out = tempDir('nin-rundir-');
    const run = createRun(planRun(out, 'a'), config, quiet);
    const lock = path.join(run.dir, RUN_FILES.lock);
    const old = (Date.now() - 300_000) / 1000;
    fs.utimesSync(lock, old, old);
    run.refreshLock();
    assert.ok(Date.now() - fs.statSync(lock).mtimeMs < 60_000, 'the beat renewed the lock');
    // Someone took the run over (our lock judged stale): the beat leaves theirs alone.
    fs.writeFileSync(lock, `4242@node-7\n`);
    fs.utimesSync(lock, old, old);
    run.refreshLock();
    assert.ok(Date.now() - fs.statSync(lock).mtimeMs > 250_000, 'not ours: untouched');
    run.close();
    assert.equal(fs.readFileSync(lock, 'utf8'), '4242@node-7\n', 'close removes only our own lock');
  });

  test('two processes judging the same stale lock: exactly one takes the run', async () => {
    const out = tempDir('nin-rundir-');
    const first = createRun(planRun(out, 'a'), config, quiet);
    first.close();
    const lock = path.join(first.dir, RUN_FILES.lock);
    const dist = path.resolve(__dirname, '..', '..', 'src', 'run');
    const results: string[] = [];
    for (let round = 0; round < 3; round++) {
      fs.writeFileSync(lock, `${deadPid()}\n`);
      // Each child holds what it took until both have answered (stdin closes), so a refusal is never a lock already released.
      const children = [0, 1].map(() =>
        spawn(
          process.execPath,
          [
            '-e',
            `const { openRun } = require(${JSON.stringify(dist + '/run-dir.js')});
             try { openRun(${JSON.stringify(first.dir)}); console.log('took'); }
             catch (err) { console.log(err.name === 'RunLockedError' ? 'refused' : 'error ' + err.message); }
             process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`,
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        ),
      );
      const answers = children.map(
        (p) =>
          new Promise<string>((resolve) => {
            let text = '';
            p.stdout.on('data', (d) => {
              text += d;
              if (text.includes('\n')) resolve(text.trim());
            });
            p.on('close', () => resolve(text.trim()));
          }),
      );
      // Listened for now: a child that dies at once (a wrong require path) fails the assertion below instead of hanging the test.
      const closed = children.map((p) => new Promise((resolve) => p.on('close', resolve)));
      const both = await Promise.all(answers);
      for (const p of children) p.stdin.end();
      await Promise.all(closed);
      results.push(both.sort().join(','));
    }
    for (const r of results) assert.equal(r, 'refused,took');
  });

  test('default names never collide: a taken timestamp name moves on to -2, also when taken between plan and create', () => {
    const out = tempDir('nin-rundir-');
    const planA = planRun(out, undefined);
    const planB = planRun(out, undefined);
    const logged: string[] = [];
    const a = createRun(planA, config, quiet);
    const b = createRun(planB, config, (l) => logged.push(l));
    assert.notEqual(a.dir, b.dir);
    assert.match(logged.join('\n'), /was just taken by another run; using /);
    // Planned after both exist: the next free name.
    const c = planRun(out, undefined);
    assert.ok(![a.dir, b.dir].includes(c.dir));
    a.close();
    b.close();
  });

  test('an explicit --run that exists is a usage error naming --resume', () => {
    const out = tempDir('nin-rundir-');
    createRun(planRun(out, 'a'), config, quiet).close();
    assert.throws(
      () => planRun(out, 'a'),
      (err: unknown) => err instanceof NinError && err.exitCode === 2 && /--resume/.test(err.message),
    );
  });
});

describe('resources', () => {
  test('a run that cannot fit in memory is refused with the largest batch size that does', () => {
    // 24 GB: d2l's 224px batch 128 fits (about 3 GB), 1024px batch 128 (about 59 GB) does not.
    const gb24 = 24e9;
    checkTrainingMemory(224, 128, gb24);
    let message = '';
    try {
      checkTrainingMemory(1024, 128, gb24);
    } catch (err) {
      assert.ok(err instanceof NinError && err.exitCode === 2);
      message = err.message;
    }
    assert.match(message, /--image-size 1024 at --batch-size 128 needs about 5\d\.\d GB of memory, this machine has 24\.0 GB/);
    const fits = Number(/--batch-size (\d+) or less/.exec(message)?.[1]);
    assert.ok(trainingBytes(1024, fits) <= gb24 && trainingBytes(1024, fits + 1) > gb24, `batch ${fits}`);
  });

  test('--threads above the cores is capped with a warning', () => {
    const warnings: string[] = [];
    assert.equal(
      capThreads(999, (l) => warnings.push(l)),
      availableCores(),
    );
    assert.match(warnings[0], /--threads 999 is more than the \d+ cores? this process may use; using \d+/);
    assert.equal(
      capThreads(1, (l) => warnings.push(l)),
      1,
    );
    assert.equal(
      capThreads(null, (l) => warnings.push(l)),
      null,
    );
    assert.equal(warnings.length, 1);
  });
});
