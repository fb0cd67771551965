// nin computes what d2l's PyTorch NiN computes: from the same weights, on the same images, plain SGD
// takes the same steps. The PyTorch losses are a fixture (made with scripts/torch-steps.py), so the
// test needs no PyTorch; it checks resize, convolutions, pooling, loss, gradients and the update together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { onednnStatus } from '../src/backend/onednn';
import { loadInitialWeights } from '../src/checkpoint';
import { batches, loadFashionMnist } from '../src/data';
import { buildNin, forward, NUM_CLASSES } from '../src/model';
import { trainingLoss } from '../src/train';
import { REPO_ROOT } from './helpers/cli';
import { writeFormulaWeights } from './helpers/formula-weights';
import { removeTempDirs, tempDir } from './helpers/idx';

interface Fixture { imageSize: number; batchSize: number; lr: number; losses: number[] }

test.after(removeTempDirs);

test("SGD steps from the same weights give PyTorch's losses, step by step, within 5e-5", { skip: onednnStatus().available ? false : 'the onednn addon is not built (pure-JS cpu would take minutes)' }, async () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'torch-steps.json'), 'utf8')) as Fixture;
  const { imageSize, batchSize, lr, losses: want } = fixture;
  await initBackend('onednn', 1);
  const model = buildNin({ imageSize, seed: 0 });
  loadInitialWeights(writeFormulaWeights(model, tempDir('nin-parity-')), model);
  const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const optimizer = tf.train.sgd(lr);
  const data = loadFashionMnist({ trainLimit: want.length * batchSize, testLimit: 1 });
  const got: number[] = [];
  // File order and no dropout, as torch-steps.py: nothing random is left on either side.
  for (const b of batches(data.train, { batchSize, imageSize, shuffle: false, seed: 0, epoch: 1 })) {
    got.push(tf.tidy(() => {
      const x = tf.tensor4d(b.x, [b.size, imageSize, imageSize, 1]);
      const oneHot = tf.oneHot(tf.tensor1d(b.labels, 'int32'), NUM_CLASSES) as tf.Tensor2D;
      const { value, grads } = tf.variableGrads(() => trainingLoss(oneHot, forward(model, x, false), 0), variables);
      optimizer.applyGradients(grads);
      return value.dataSync()[0];
    }));
  }
  assert.equal(got.length, want.length);
  // A gradient 10% off already moves the second loss by 4e-4 and the third by 1.5e-3.
  got.forEach((loss, i) => assert.ok(Math.abs(loss - want[i]) < 5e-5, `step ${i + 1}: nin ${loss}, PyTorch ${want[i]}\nall: nin ${got.join(' ')}\n     PyTorch ${want.join(' ')}`));
  model.dispose();
  optimizer.dispose();
});
