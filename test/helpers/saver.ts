// A child process that saves a run's last/ (with optimizer state) and best/ over and over through
// the real saveCheckpoint, as `nin train --save-every 1s` does, only faster (and markedSaver, the
// same saves for a test's own process). Save n is marked in
// every file: meta.json's epoch and optimizer.iterations are n, the last bias of the weights holds
// n, and optimizer.bin's step count is n, so a reader can tell whether all it read is of one save.
// Usage: node saver.js <runDir> <pauseMs> <seconds>; prints "saved <n>" after each save.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { type CheckpointMeta, FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { buildNin } from '../../src/model/nin';
import { NIN_VERSION } from '../../src/sys/version';

export const SAVER_IMAGE_SIZE = 67;

/** The config of the saved run: one step per epoch, so step n fits epoch n. */
export const SAVER_CONFIG = resolveConfig({
  imageSize: SAVER_IMAGE_SIZE,
  batchSize: 4,
  trainLimit: 4,
  testLimit: 4,
  optimizer: 'momentum',
  backend: 'cpu',
});

/** Saves of one model marked with their number: `save(dir, n, optimizer)` writes save n into dir. Needs a TF.js backend. */
export async function markedSaver(): Promise<(dir: string, n: number, withOptimizer: boolean) => Promise<void>> {
  const model = buildNin({ imageSize: SAVER_IMAGE_SIZE, seed: 0 });
  const optimizer = tf.train.momentum(0.01, 0.9);
  // One step, so the optimizer has its momentum slots.
  const x = tf.zeros([1, SAVER_IMAGE_SIZE, SAVER_IMAGE_SIZE, 1]);
  optimizer.minimize(() => tf.mean(model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar);
  x.dispose();
  return async (dir, n, withOptimizer) => {
    const weights = model.getWeights();
    const bias = weights[weights.length - 1];
    model.setWeights([...weights.slice(0, -1), tf.fill(bias.shape, n)]);
    const state = await optimizer.getWeights();
    const optimizerWeights = [{ name: 'iter', tensor: tf.scalar(n, 'int32') }, ...state.slice(1)];
    const meta: CheckpointMeta = {
      formatVersion: FORMAT_VERSION,
      nin: NIN_VERSION,
      createdAt: new Date().toISOString(),
      config: SAVER_CONFIG,
      imageSize: SAVER_IMAGE_SIZE,
      epoch: n,
      metrics: null,
      backend: 'cpu',
      optimizer: { name: 'momentum', iterations: n },
    };
    await saveCheckpoint(dir, model, meta, withOptimizer ? { optimizerWeights } : {});
  };
}

async function main(): Promise<void> {
  const [runDir, pauseMs, seconds] = process.argv.slice(2);
  await initBackend('cpu', null, () => {});
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(SAVER_CONFIG, null, 2) + '\n');
  const save = await markedSaver();
  const end = Date.now() + Number(seconds) * 1000;
  for (let n = 1; Date.now() < end; n++) {
    await save(path.join(runDir, 'last'), n, true);
    await save(path.join(runDir, 'best'), n, false);
    process.stdout.write(`saved ${n}\n`);
    await new Promise((resolve) => setTimeout(resolve, Number(pauseMs)));
  }
}

// Only as a child with its arguments: node --test also runs every file under dist/test, this one included.
if (require.main === module && process.argv.length > 3) {
  main().catch((err) => {
    process.stderr.write(`saver: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
