// One read path for checkpoints (src/checkpoint-read.ts): every reader gets the files of ONE save
// while a run saves beside it, and no reader follows a link found inside a run or checkpoint
// (nin serve answers 403), while the CLI follows the link the user typed.

import { test, describe, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { loadCheckpoint, readCheckpointFiles } from '../../src/run/checkpoint/load';
import { readCheckpointMeta, type CheckpointMeta, FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { NinError } from '../../src/sys/errors';
import { buildNin } from '../../src/model/nin';
import { NIN_VERSION } from '../../src/sys/version';
import { assertOneLineError, runNin } from '../helpers/cli';
import { requestText, serveHere } from '../helpers/server';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { markedSaver, SAVER_CONFIG, SAVER_IMAGE_SIZE } from '../helpers/saver';
import { TEST_BACKEND } from '../helpers/small-run';

const SAVER = path.join(__dirname, '..', 'helpers', 'saver.js');

before(async () => {
  await initBackend('cpu', null);
});
after(() => removeTempDirs());

/** The last bias value of a loaded model: the save number the saver wrote into it. */
function marker(model: tf.LayersModel): number {
  const weights = model.getWeights();
  return (weights[weights.length - 1].dataSync() as Float32Array)[0];
}

describe('a run that is saving: every read is of one save', () => {
  test('a save that lands between two files of a read (made certain): the read is of one save, old or new', async () => {
    const run = path.join(tempDir('nin-interleaved-'), 'run');
    fs.mkdirSync(run, { recursive: true });
    const save = await markedSaver();
    for (const [name, withOptimizer] of [
      ['last', true],
      ['best', false],
    ] as const) {
      await save(path.join(run, name), 1, withOptimizer);
      await save(path.join(run, `spare-${name}`), 2, withOptimizer);
    }
    // The moment a reader opens `file` of a checkpoint, a save lands: its directory is swapped for the
    // other save's, by the same renames saveCheckpoint makes. The fs module itself is wrapped, so the
    // reader's own open (whatever its flags) triggers it.
    const fsModule = process.getBuiltinModule('node:fs');
    const swapOn = (name: string, file: string) => {
      let swapped = 0;
      const open = fsModule.openSync;
      const hook = mock.method(fsModule, 'openSync', (p: fs.PathLike, ...rest: unknown[]) => {
        if (String(p) === path.join(run, name, file) && swapped === 0) {
          swapped++;
          const dir = path.join(run, name);
          fs.renameSync(dir, path.join(run, `.${name}.old`));
          fs.renameSync(path.join(run, `spare-${name}`), dir);
          fs.renameSync(path.join(run, `.${name}.old`), path.join(run, `spare-${name}`));
        }
        return (open as (...args: unknown[]) => number)(p, ...rest);
      });
      return { restore: () => hook.mock.restore(), swapped: () => swapped };
    };
    for (const [name, file] of [
      ['last', 'optimizer.bin'], // meta.json of one save, optimizer state of the next: 'iter is 2; it must be ... 1'
      ['last', 'weights.bin'],
      ['best', 'weights.bin'], // weights of the next save under this one's meta.json, unnoticed
    ] as const) {
      const swap = swapOn(name, file);
      let loaded: Awaited<ReturnType<typeof loadCheckpoint>>;
      try {
        loaded = await loadCheckpoint(path.join(run, name));
      } finally {
        swap.restore();
      }
      try {
        assert.equal(swap.swapped(), 1, `the save landed while ${name}/${file} was opened`);
        assert.equal(marker(loaded.model), loaded.meta.epoch, `${name}, swapped at ${file}: weights of another save than meta.json`);
        const iter = loaded.optimizerWeights?.find((w) => w.name === 'iter')?.tensor.dataSync()[0];
        if (name === 'last') assert.equal(iter, loaded.meta.epoch, `${name}, swapped at ${file}: optimizer state of another save`);
      } finally {
        loaded.model.dispose();
        for (const w of loaded.optimizerWeights ?? []) w.tensor.dispose();
      }
    }
  });

  test('a child process saving every 400 ms: loadCheckpoint (eval, predict, --resume) and readCheckpointFiles (serve, --init-weights) of last/, best/ and the run', async () => {
    const run = path.join(tempDir('nin-saving-'), 'run');
    // Saves under half a second apart, faster than --save-every allows; each read takes a good part of that, so without
    // one read path the files of two saves mix within a few reads.
    const saver = spawn(process.execPath, [SAVER, run, '400', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    saver.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    saver.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the saver never saved: ${output}`)), 120_000);
        const check = () => {
          if (/saved 2\n/.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        saver.stdout.on('data', check);
        saver.on('exit', () => reject(new Error(`the saver ended: ${output}`)));
      });
      const targets = [path.join(run, 'last'), path.join(run, 'best'), run];
      const epochs = new Set<number>();
      let reads = 0;
      for (const end = Date.now() + 12_000; Date.now() < end || reads < 12; reads++) {
        const target = targets[reads % targets.length];
        const loaded = await loadCheckpoint(target);
        try {
          const where = `read ${reads} of ${target} (epoch ${loaded.meta.epoch})`;
          assert.equal(marker(loaded.model), loaded.meta.epoch, `${where}: weights of another save than meta.json`);
          if (target.endsWith('last')) {
            assert.ok(loaded.optimizerWeights, where);
            const iter = loaded.optimizerWeights.find((w) => w.name === 'iter')?.tensor.dataSync()[0];
            assert.equal(iter, loaded.meta.epoch, `${where}: optimizer state of another save`);
          }
          epochs.add(loaded.meta.epoch);
        } finally {
          loaded.model.dispose();
          for (const w of loaded.optimizerWeights ?? []) w.tensor.dispose();
        }
        const files = readCheckpointFiles(path.join(run, 'best'));
        const bias = new Float32Array(files.weightData, files.weightData.byteLength - 40, 10);
        assert.equal(bias[0], files.meta.epoch, 'readCheckpointFiles: weights of another save than meta.json');
        await new Promise((resolve) => setTimeout(resolve, (reads * 37) % 90));
      }
      assert.ok(epochs.size >= 3, `the reads saw saves land between them (${[...epochs].join(', ')})`);
    } finally {
      saver.kill();
    }
  });
});

describe('links inside a run or checkpoint are refused; the path the user typed is followed', () => {
  let work: string;
  let checkpoint: string; // a good checkpoint outside any run

  before(async () => {
    work = tempDir('nin-links-');
    checkpoint = path.join(work, 'outside');
    const model = buildNin({ imageSize: SAVER_IMAGE_SIZE, seed: 3 });
    const meta: CheckpointMeta = {
      formatVersion: FORMAT_VERSION,
      nin: NIN_VERSION,
      createdAt: new Date().toISOString(),
      config: { ...SAVER_CONFIG, testLimit: 16 },
      imageSize: SAVER_IMAGE_SIZE,
      epoch: 1,
      metrics: null,
      backend: 'cpu',
      optimizer: null,
    };
    await saveCheckpoint(checkpoint, model, meta);
    model.dispose();
  });

  let made = 0;
  /** A new run whose config.json is real and whose best/ is made by `make`. */
  function run(name: string, make: (best: string) => void): string {
    const dir = path.join(work, 'runs', `${name}-${++made}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(SAVER_CONFIG));
    make(path.join(dir, 'best'));
    return dir;
  }

  const linkedDir = () => run('linked-dir', (best) => fs.symlinkSync(checkpoint, best));
  const linkedFile = () =>
    run('linked-file', (best) => {
      fs.cpSync(checkpoint, best, { recursive: true });
      fs.rmSync(path.join(best, 'weights.bin'));
      fs.symlinkSync(path.join(checkpoint, 'weights.bin'), path.join(best, 'weights.bin'));
    });

  test('best -> /outside and best/weights.bin -> /outside/file: every reader refuses them in one line', async () => {
    for (const [dir, metaToo] of [
      [linkedDir(), true],
      [linkedFile(), false], // its meta.json is no link: what lists a checkpoint reads only that
    ] as const) {
      for (const read of [
        () => loadCheckpoint(dir),
        () => loadCheckpoint(path.join(dir, 'best')),
        async () => readCheckpointFiles(path.join(dir, 'best')),
        ...(metaToo ? [async () => readCheckpointMeta(path.join(dir, 'best'))] : []),
      ]) {
        await assert.rejects(read, (err: unknown) => {
          assert.ok(err instanceof NinError, String(err));
          assert.match(err.message, /is a symbolic link; nin follows no link inside a run or checkpoint/);
          assert.ok(!err.message.includes('\n'));
          return true;
        });
      }
    }
  });

  test('nin serve: 403 for model.json, weights.bin, meta.json and the report; no report is computed or cached', async () => {
    const runs = [linkedDir(), linkedFile()];
    const server = await serveHere({ runs, out: work, backend: 'cpu' });
    const request = (p: string, method = 'GET') => requestText(server.url, p, { method });
    const get = (p: string) => request(p);
    try {
      for (const dir of runs) {
        const id = path.basename(dir);
        for (const file of ['model.json', 'meta.json', 'weights.bin']) {
          const answer = await get(`/api/runs/${id}/checkpoints/best/${file}`);
          assert.equal(answer.status, 403, `${id}/best/${file}: ${answer.body}`);
        }
        // A report is computed by a POST (the page's); nothing of the outside checkpoint is evaluated.
        const report = await request(`/api/runs/${id}/checkpoints/best/report`, 'POST');
        assert.equal(report.status, 403, `${id} report: ${report.status} ${report.body}`);
        assert.match(report.body, /symbolic link/);
        assert.ok(!fs.existsSync(path.join(dir, 'report-best.json')), 'no report of the outside checkpoint is cached in the run');
      }
    } finally {
      await server.close();
    }
  });

  test('nin eval follows the link the user typed (theirs), but not one inside the run', async () => {
    const link = path.join(work, 'my-link');
    fs.symlinkSync(checkpoint, link);
    const ok = await runNin(['eval', link, '--test-limit', '16', '--batch-size', '16', '--backend', TEST_BACKEND, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).checkpoint, checkpoint);
    assertOneLineError(
      await runNin(['eval', linkedDir(), '--test-limit', '16', '--backend', TEST_BACKEND]),
      1,
      /best is a symbolic link; nin follows no link inside a run or checkpoint/,
    );
  });
});
