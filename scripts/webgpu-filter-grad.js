#!/usr/bin/env node
// NiN's filter gradients (Conv2DBackpropFilter) on webgpu: TF.js's own kernel (each weight loops over
// batch x height x width) against nin's matmul form (src/backend/webgpu/kernels-conv.ts), per layer:
// median milliseconds (each ended by a read) and the largest difference from the cpu backend relative
// to the largest value. One JSON line per layer, then the totals. Run `npm run build` first.
// Usage: node scripts/webgpu-filter-grad.js [image-size=67] [batch-size=8] [repeats=3]
'use strict';
const { performance } = require('node:perf_hooks');
const tf = require('@tensorflow/tfjs');
const { closeBackend, initBackend } = require('../dist/src/backend');
const { buildNin } = require('../dist/src/model/nin');
const { mulberry32 } = require('../dist/src/sys/random');
// Loaded before the backend starts, to keep TF.js's own kernel before nin registers its own over it.
require('@tensorflow/tfjs-backend-webgpu');
const tfjsKernel = tf.getKernel('Conv2DBackpropFilter', 'webgpu');

/** Makes `config` the webgpu backend's Conv2DBackpropFilter (TF.js's, or nin's registered over it). */
function useKernel(config) {
  if (tf.getKernel('Conv2DBackpropFilter', 'webgpu')) tf.unregisterKernel('Conv2DBackpropFilter', 'webgpu');
  tf.registerKernel(config);
}

function filterGrad(x, dy, kernel, stride, padding, co) {
  return tf
    .engine()
    .runKernel(
      'Conv2DBackpropFilter',
      { x, dy },
      { strides: [stride, stride], pad: padding, dataFormat: 'NHWC', filterShape: [kernel, kernel, x.shape[3], co] },
    );
}

/** Median milliseconds of `repeats` runs of f, each ended by a read (the GPU's work included). */
async function time(f, repeats) {
  const first = f(); // shader compilation
  await first.data();
  first.dispose();
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    const out = f();
    await out.data();
    ms.push(performance.now() - t);
    out.dispose();
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

async function main() {
  const [imageSize = 67, batchSize = 8, repeats = 3] = process.argv.slice(2).map(Number);
  // Layer shapes from NiN itself: input and output of every conv.
  const model = buildNin({ imageSize, seed: 0 });
  const convs = model.layers
    .filter((l) => l.getClassName() === 'Conv2D')
    .map((l) => ({
      name: l.name,
      input: l.input.shape.slice(1),
      output: l.output.shape.slice(1),
      kernel: l.kernelSize[0],
      stride: l.strides[0],
      padding: l.padding,
    }));
  model.dispose();
  const random = mulberry32(1);
  const tensors = convs.map((c) => ({
    x: new Float32Array(batchSize * c.input[0] * c.input[1] * c.input[2]).map(() => random() * 2 - 1),
    dy: new Float32Array(batchSize * c.output[0] * c.output[1] * c.output[2]).map(() => random() * 2 - 1),
  }));
  // Reference values on cpu.
  await initBackend('cpu', null, () => {});
  const expected = convs.map((c, i) => {
    const x = tf.tensor4d(tensors[i].x, [batchSize, ...c.input]);
    const dy = tf.tensor4d(tensors[i].dy, [batchSize, ...c.output]);
    const dw = filterGrad(x, dy, c.kernel, c.stride, c.padding, c.output[2]);
    const values = dw.dataSync().slice();
    tf.dispose([x, dy, dw]);
    return values;
  });
  await initBackend('webgpu', null, () => {});
  const ninKernel = tf.getKernel('Conv2DBackpropFilter', 'webgpu');
  const total = { tfjsMs: 0, ninMs: 0 };
  for (const [i, c] of convs.entries()) {
    const x = tf.tensor4d(tensors[i].x, [batchSize, ...c.input]);
    const dy = tf.tensor4d(tensors[i].dy, [batchSize, ...c.output]);
    const scale = expected[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    const worst = async (f) => {
      const out = f();
      const got = await out.data();
      out.dispose();
      return got.reduce((m, v, j) => Math.max(m, Math.abs(v - expected[i][j])), 0) / scale;
    };
    const run = (config) => () => {
      useKernel(config);
      return filterGrad(x, dy, c.kernel, c.stride, c.padding, c.output[2]);
    };
    const tfjs = run(tfjsKernel);
    const nin = run(ninKernel);
    const row = {
      layer: c.name,
      x: [batchSize, ...c.input],
      dy: [batchSize, ...c.output],
      kernel: c.kernel,
      stride: c.stride,
      tfjsMs: Math.round(await time(tfjs, repeats)),
      ninMs: Math.round(await time(nin, repeats)),
      tfjsDifference: await worst(tfjs),
      ninDifference: await worst(nin),
    };
    total.tfjsMs += row.tfjsMs;
    total.ninMs += row.ninMs;
    console.log(JSON.stringify(row));
    tf.dispose([x, dy]);
  }
  console.log(JSON.stringify({ imageSize, batchSize, repeats, ...total }));
}

main()
  .catch((err) => {
    console.error(`webgpu-filter-grad: ${err.message}`, process.env.DEBUG ? err.stack : '');
    process.exitCode = 1;
  })
  .finally(() => closeBackend());
