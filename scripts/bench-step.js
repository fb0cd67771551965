#!/usr/bin/env node
// Times nin's training step (src/train/step.ts: forward with seeded dropout, backward, update: what `nin train`
// runs) and inference on a TF.js backend, and with --profile prints where a step's time goes per kernel.
// Uses the compiled dist/.
// usage: node scripts/bench-step.js [--image-size 96] [--batch-size 64] [--steps 5] [--backend onednn]
//          [--layouts plain|blocked-weights|blocked] [--threads n] [--precision fp32|bf16]
//          [--optimizer sgd|momentum|adam] [--profile [--layers]]
'use strict';
const tf = require('@tensorflow/tfjs');
const onednn = require('../dist/src/backend/onednn');
const { buildNin, forward } = require('../dist/src/model/nin');
const { makeTrainer, trainStep } = require('../dist/src/train/step');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const imageSize = Number(option('image-size', 96));
const batchSize = Number(option('batch-size', 64));
const steps = Number(option('steps', 5));
const backend = option('backend', 'onednn');

async function main() {
  if (backend === 'onednn') {
    onednn.registerOnednnBackend();
    if (option('layouts')) onednn.setOnednnConvLayouts(option('layouts'));
    if (option('threads')) onednn.setOnednnThreads(Number(option('threads')));
    if (option('precision')) onednn.setOnednnConvPrecision(option('precision'));
  }
  await tf.setBackend(backend);
  const model = buildNin({ imageSize, seed: 1 });
  const optimizerName = option('optimizer', 'sgd');
  const optimizer =
    optimizerName === 'adam' ? tf.train.adam(0.001) : optimizerName === 'momentum' ? tf.train.momentum(0.05, 0.9) : tf.train.sgd(0.05);
  const x = tf.randomUniform([batchSize, imageSize, imageSize, 1]).dataSync();
  const labels = Int32Array.from({ length: batchSize }, (_, i) => (i * 7) % 10);
  const trainer = makeTrainer(model, optimizer);
  let stepIndex = 0;
  const step = () => trainStep(trainer, x, labels, batchSize, { imageSize, labelSmoothing: 0, weightDecay: 0, dropoutSeed: stepIndex++ });
  const input = tf.tensor4d(x, [batchSize, imageSize, imageSize, 1]);
  const infer = () => tf.tidy(() => forward(model, input, false).dataSync());

  await step();
  await step();
  let t = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (let i = 0; i < steps; i++) await step();
  const trainSec = Number(process.hrtime.bigint() - t) / 1e9;
  const { user, system } = process.cpuUsage(cpu);
  infer();
  t = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) infer();
  const inferSec = Number(process.hrtime.bigint() - t) / 1e9;
  const result = {
    backend,
    imageSize,
    batchSize,
    layouts: backend === 'onednn' ? onednn.onednnConvLayouts() : undefined,
    threads: backend === 'onednn' ? onednn.onednnThreads() : undefined,
    stepSec: +(trainSec / steps).toFixed(4),
    stepCpuSec: +((user + system) / 1e6 / steps).toFixed(4), // all threads: stable on a busy machine
    trainImagesPerSec: +((batchSize * steps) / trainSec).toFixed(2),
    inferImagesPerSec: +((batchSize * steps) / inferSec).toFixed(2),
    numTensors: tf.memory().numTensors,
  };
  console.log(JSON.stringify(result));

  if (process.argv.includes('--profile')) {
    const info = await tf.profile(step);
    const byKernel = new Map();
    let total = 0;
    for (const k of info.kernels) {
      const ms = await k.kernelTimeMs;
      total += ms;
      if (process.argv.includes('--layers') && k.name.startsWith('Conv2D')) {
        console.error(`  ${k.name.padEnd(22)} ${ms.toFixed(1).padStart(7)} ms  in ${JSON.stringify(k.inputShapes)}`);
      }
      const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
      entry.ms += ms;
      entry.calls++;
      byKernel.set(k.name, entry);
    }
    const native = new Set(backend === 'onednn' ? onednn.onednnNativeKernels() : []);
    let jsMs = 0;
    const rows = [...byKernel].sort((p, q) => q[1].ms - p[1].ms);
    for (const [name, e] of rows) {
      if (!native.has(name)) jsMs += e.ms;
      console.error(
        `${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)} calls ${native.has(name) ? 'native' : 'JS'}`,
      );
    }
    console.error(`kernels total ${total.toFixed(1)} ms, JS kernels ${jsMs.toFixed(1)} ms (${((100 * jsMs) / total).toFixed(1)}%)`);
    if (backend === 'onednn') {
      const fallbacks = Object.entries(onednn.onednnKernelCalls()).filter(([, c]) => c.fallback > 0);
      if (fallbacks.length) console.error('fallbacks:', JSON.stringify(Object.fromEntries(fallbacks)));
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
