// The run directory (src/run-dir.ts): created whole and locked, one writer at a time (a dead writer's
// lock is taken over), default names that never collide, logs written from memory; and the
// resources a run is checked against before it starts (memory, threads).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../src/config/config';
import { NinError } from '../../src/sys/errors';
import { availableCores, capThreads, checkTrainingMemory, trainingBytes } from '../../src/machine/resources';
import { createRun, openRun, planRun } from '../../src/run/run-dir';
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
    assert.equal(fs.readFileSync(path.join(run.dir, RUN_FILES.lock), 'utf8').trim(), String(process.pid));
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
    assert.equal(fs.readFileSync(path.join(first.dir, RUN_FILES.lock), 'utf8').trim(), String(process.pid));
    assert.ok(!fs.existsSync(path.join(first.dir, `.${RUN_FILES.metricsJsonl}.tmp-99999`)), 'leftovers of a killed save are removed');
    run.close();
    assert.ok(!fs.existsSync(path.join(first.dir, RUN_FILES.lock)));
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
