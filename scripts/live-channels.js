#!/usr/bin/env node
// Which channels of a checkpoint's convolutions still pass anything: for each convolution, how many of its
// ReLU channels are above 0 on at least one of the first N test images, and how many vary between images.
// A collapsed run (nin train's "the run collapsed" warning, `nin sweep report`'s "collapsed") shows a whole
// 10-channel layer of the last block at 0 of 10: nothing reaches the layers below it again (README, "Dead
// classes").
//
//   node scripts/live-channels.js CHECKPOINT_OR_RUN_DIR [--images N] [--all]
//
// Without --all only the last block's layers (block4_*) and the dense head are printed. Runs on the backend
// `nin train` would pick (--backend auto): a few seconds at 96px on onednn.
'use strict';
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const { loadCheckpoint } = require('../dist/src/run/checkpoint/load');
const { initBackend } = require('../dist/src/backend');
const { loadFashionMnist } = require('../dist/src/data/idx');
const { resizeInto, IMAGE_SIZE_RAW } = require('../dist/src/data/fashion-mnist');

function usage(problem) {
  console.error(`${problem}\nusage: node scripts/live-channels.js CHECKPOINT_OR_RUN_DIR [--images N] [--all]`);
  process.exit(2);
}

const args = process.argv.slice(2);
const all = args.includes('--all');
const at = args.indexOf('--images');
const images = at === -1 ? 200 : Number(args[at + 1]);
const target = args.find((a, i) => !a.startsWith('--') && (at === -1 || i !== at + 1));
if (!target) usage('no checkpoint given');
if (!Number.isInteger(images) || images < 1 || images > 10000) usage(`--images ${args[at + 1]} is not a whole number from 1 to 10000`);

(async () => {
  await initBackend('auto', null, () => {});
  const { model, meta } = await loadCheckpoint(path.resolve(target));
  const size = meta.imageSize;
  const test = loadFashionMnist({ dataDir: meta.config.dataDir ?? undefined, testLimit: images }).test;
  const pixels = IMAGE_SIZE_RAW * IMAGE_SIZE_RAW;
  const x = new Float32Array(images * size * size);
  for (let i = 0; i < images; i++) resizeInto(test.images, i * pixels, size, x, i * size * size);
  let y = tf.tensor4d(x, [images, size, size, 1]);
  console.log(`${target}: epoch ${meta.epoch}, ${size}px, the first ${images} test images`);
  for (const layer of model.layers) {
    if (layer.getClassName() === 'Dropout') continue; // off at inference
    const next = layer.apply(y);
    y.dispose();
    y = next;
    const kind = layer.getClassName();
    if (kind !== 'Conv2D' && kind !== 'Dense') continue;
    if (!all && !layer.name.startsWith('block4') && kind !== 'Dense') continue;
    const [largest, spread] = tf.tidy(() => {
      const perChannel = y.reshape([images, -1, y.shape[y.shape.length - 1]]);
      return [perChannel.max([0, 1]).dataSync(), tf.moments(perChannel, [0, 1]).variance.dataSync()];
    });
    const channels = largest.length;
    const live = largest.filter((v) => v > 0).length;
    const varying = spread.filter((v) => v > 1e-12).length;
    // A dense head has no ReLU: only whether its outputs still depend on the image says anything.
    if (kind === 'Dense') console.log(`${layer.name}: ${varying} of ${channels} outputs vary between images`);
    else console.log(`${layer.name}: ${live} of ${channels} channels above 0 on some image, ${varying} vary between images`);
  }
})().catch((e) => {
  console.error(e.message.split('\n')[0]);
  process.exit(1);
});
