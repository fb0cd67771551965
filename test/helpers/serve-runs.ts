// Runs for nin serve's tests: one trained by the real `nin train` (a few seconds: 128 images at 67px),
// and one whose best/ checkpoint holds seeded NiN weights with doubled kernels, whose softmax differs
// between pictures (an untrained NiN answers ~0.1 for every class), for comparing probabilities.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { buildNin } from '../../src/model/nin';
import { RUN_FILES } from '../../src/run/layout';
import { NIN_VERSION } from '../../src/sys/version';
import { runNin } from './cli';

export const SERVE_IMAGE_SIZE = 67;
export const SERVE_TEST_LIMIT = 100;

/** `<out>/trained`: one epoch of `nin train` on 128 images, tested on the first 100 test images. */
export async function trainTinyRun(out: string, name = 'trained'): Promise<string> {
  const r = await runNin([
    'train',
    '--epochs',
    '1',
    '--train-limit',
    '128',
    '--test-limit',
    String(SERVE_TEST_LIMIT),
    '--image-size',
    String(SERVE_IMAGE_SIZE),
    '--batch-size',
    '64',
    '--lr',
    '0.05',
    '--out',
    out,
    '--run',
    name,
  ]);
  if (r.code !== 0) throw new Error(`nin train failed (exit ${r.code}): ${r.stderr}`);
  return path.join(out, name);
}

/** `<out>/doubled`: config.json and a best/ checkpoint (epoch 0) of seeded weights, kernels doubled. Needs a TF.js backend. */
export async function writeDoubledRun(out: string, name = 'doubled'): Promise<string> {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = resolveConfig({ imageSize: SERVE_IMAGE_SIZE, testLimit: SERVE_TEST_LIMIT, epochs: 1 });
  fs.writeFileSync(path.join(dir, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
  const model = buildNin({ imageSize: SERVE_IMAGE_SIZE, seed: 0 });
  model.setWeights(tf.tidy(() => model.getWeights().map((w) => (w.rank === 4 ? tf.mul(w, 2) : tf.clone(w)))));
  const meta = {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config,
    imageSize: SERVE_IMAGE_SIZE,
    epoch: 0,
    metrics: null,
    backend: 'cpu',
    optimizer: null,
  };
  await saveCheckpoint(path.join(dir, 'best'), model, meta);
  model.dispose();
  return dir;
}

/** A metrics.jsonl row for epoch `epoch`, as nin train writes them. */
export function metricsLine(epoch: number): string {
  return (
    JSON.stringify({ epoch, loss: 2.3 - 0.1 * epoch, trainAcc: 0.1 * epoch, testAcc: 0.09 * epoch, examplesPerSec: 100, seconds: 1 }) + '\n'
  );
}
