#!/usr/bin/env node
// nin's side of scripts/steps-vs-torch.sh and test/train/parity.test.ts: the same steps as scripts/torch-steps.py, through
// nin's own training step (src/train/step.ts), data pipeline and optimizer: start from given weights, plain SGD
// on the first training batches in file order, dropout off, one loss per step. Run `npm run build` (or npm ci) first.
// Usage: node scripts/nin-steps.js <init.json> [steps=20] [image-size=96] [batch-size=128] [lr=0.1] [backend=onednn] [architecture]
// (architecture: a NiN variant as JSON with src/model/architecture.ts's keys, as torch-steps.py --architecture takes it; default d2l's).
'use strict';
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src');
const tf = require('@tensorflow/tfjs');
const { initBackend } = require(path.join(dist, 'backend'));
const { loadInitialWeights } = require(path.join(dist, 'run', 'checkpoint', 'weights-manifest'));
const { batches, loadFashionMnist } = require(path.join(dist, 'data', 'idx'));
const { architectureOf } = require(path.join(dist, 'model', 'architecture'));
const { buildNin } = require(path.join(dist, 'model', 'nin'));
const { makeTrainer, trainStep } = require(path.join(dist, 'train', 'step'));

async function main() {
  const [init, steps = '20', imageSize = '96', batchSize = '128', lr = '0.1', backend = 'onednn', variant = '{}'] = process.argv.slice(2);
  if (!init)
    throw new Error('usage: node scripts/nin-steps.js <init.json> [steps] [image-size] [batch-size] [lr] [backend] [architecture]');
  await initBackend(backend, 1, () => {});
  const [n, size, batch] = [Number(steps), Number(imageSize), Number(batchSize)];
  const data = loadFashionMnist({ trainLimit: n * batch, testLimit: 1 });
  const architecture = architectureOf(JSON.parse(variant));
  const model = buildNin({ imageSize: size, seed: 0, architecture });
  loadInitialWeights(init, model, architecture);
  const trainer = makeTrainer(model, tf.train.sgd(Number(lr)));
  let s = 0;
  for (const b of batches(data.train, { batchSize: batch, imageSize: size, shuffle: false, seed: 0, epoch: 1 })) {
    const { loss } = await trainStep(trainer, b.x, b.labels, b.size, {
      imageSize: size,
      labelSmoothing: 0,
      weightDecay: 0,
      dropoutSeed: null,
    });
    console.log(`step ${++s} loss ${loss.toFixed(7)}`);
  }
}

main().catch((err) => {
  console.error(`nin-steps: ${err.message}`);
  process.exit(1);
});
