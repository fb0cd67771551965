#!/usr/bin/env node
// One NiN training step on webgpu against onednn (or cpu) from the same weights, dropout off: prints one
// JSON line with both losses and the largest relative gradient difference (src/backend/webgpu/step-parity.ts),
// plus the GPU memory TF.js holds afterwards. Used by scripts/gpu-check.sh. Run `npm run build` first.
// Usage: node scripts/webgpu-parity.js [image-size=67] [batch-size=4]
'use strict';
const tf = require('@tensorflow/tfjs');
const { closeBackend } = require('../dist/src/backend');
const { onednnStatus } = require('../dist/src/backend/onednn');
const { stepParity } = require('../dist/src/backend/webgpu/step-parity');

async function main() {
  const [imageSize = '67', batchSize = '4'] = process.argv.slice(2);
  const reference = onednnStatus().available ? 'onednn' : 'cpu';
  const parity = await stepParity({ imageSize: Number(imageSize), batchSize: Number(batchSize), reference });
  const memory = tf.memory();
  console.log(JSON.stringify({ ...parity, gpuBytesAllocated: memory.numBytesAllocatedInGPU ?? null }));
}

main()
  .catch((err) => {
    console.error(`webgpu-parity: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => closeBackend());
