// The optional 'tensorflow' backend (src/backend/tensorflow/) on today's Node. tfjs-node 4.22's kernels call
// util.isNullOrUndefined, which Node 23 removed, and util.isArray, which Node 22 and later deprecate with a
// warning. libtensorflow cannot install here, so a stand-in package takes tfjs-node-gpu's place: the
// 'tensorflow' backend on TF.js's pure-JS kernels, every op making the util calls tfjs-node's ops make.
// On a Node that still has util.isNullOrUndefined (20, 22), a preload takes it away as Node 23 did.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import util from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { initBackend } from '../../src/backend';
import { loadTensorflow } from '../../src/backend/tensorflow';
import { FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { buildNin } from '../../src/model/nin';
import { NIN_VERSION } from '../../src/sys/version';
import { REPO_ROOT, runNin } from '../helpers/cli';

const IMAGE_SIZE = 67;

const STUB = `// A stand-in for @tensorflow/tfjs-node-gpu 4.22 (test/tensorflow.test.ts).
const util = require('util');
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
let ops = 0;
tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);
for (const kernel of tf.getKernelsForBackend('cpu')) {
  tf.registerKernel({
    ...kernel,
    backendName: 'tensorflow',
    kernelFunc: (args) => {
      // What tfjs-node's createTensorsTypeOpAttr and getTFDTypeForInputs check on each op.
      if (util.isNullOrUndefined(args.inputs)) throw new Error('Invalid input tensors value.');
      util.isArray(Object.values(args.inputs));
      ops++;
      return kernel.kernelFunc(args);
    },
  });
}
process.on('exit', () => fs.writeFileSync(process.env.NIN_STUB_OPS, String(ops)));
`;

// Node 23 and later, as seen by tfjs-node: no util.isNullOrUndefined, and util.isArray warns.
const NODE_23_UTIL = `const util = require('util');
delete util.isNullOrUndefined;
util.isArray = (value) => {
  process.emitWarning('The util.isArray API is deprecated.', 'DeprecationWarning', 'DEP0044');
  return Array.isArray(value);
};
`;

let work: string;
let checkpoint: string;
let picture: string;

before(async () => {
  await initBackend('cpu', null);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-tensorflow-'));
  const stubDir = path.join(work, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
  fs.mkdirSync(stubDir, { recursive: true });
  fs.writeFileSync(path.join(stubDir, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node-gpu', main: 'index.js' }));
  fs.writeFileSync(path.join(stubDir, 'index.js'), STUB);
  fs.writeFileSync(path.join(work, 'node-23-util.js'), NODE_23_UTIL);

  checkpoint = path.join(work, 'ckpt');
  const model = buildNin({ imageSize: IMAGE_SIZE, seed: 0 });
  const config = resolveConfig({ imageSize: IMAGE_SIZE, backend: 'cpu' });
  const meta = {
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config,
    imageSize: IMAGE_SIZE,
    epoch: 0,
    metrics: null,
    backend: 'cpu',
    optimizer: null,
    history: [],
    partial: null,
  };
  await saveCheckpoint(checkpoint, model, meta);
  model.dispose();

  picture = path.join(work, 'stripes.png');
  const png = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < 28 * 28; i++) {
    const v = Math.floor(i / 28) % 4 < 2 ? 230 : 10;
    png.data.set([v, v, v, 255], i * 4);
  }
  fs.writeFileSync(picture, PNG.sync.write(png));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

test('without tfjs-node installed, loading the tensorflow backend leaves util as Node made it', () => {
  const before = { isArray: util.isArray, isNullOrUndefined: (util as unknown as Record<string, unknown>).isNullOrUndefined };
  if (loadTensorflow() !== null) return; // a machine with tfjs-node installed: nothing to check here
  assert.equal(util.isArray, before.isArray);
  assert.equal((util as unknown as Record<string, unknown>).isNullOrUndefined, before.isNullOrUndefined);
});

test('--backend tensorflow runs on Node 23 and later: same predictions as cpu, every op through tfjs-node, no warning', async () => {
  const predictions = (stdout: string) => (JSON.parse(stdout) as { predictions: unknown }).predictions;
  const cpu = await runNin(['predict', checkpoint, picture, '--backend', 'cpu', '--json']);
  assert.equal(cpu.code, 0, cpu.stderr);

  const opsFile = path.join(work, 'ops');
  const hasOldUtil = typeof (util as unknown as Record<string, unknown>).isNullOrUndefined === 'function';
  const env = {
    NODE_PATH: [path.join(work, 'node_modules'), path.join(REPO_ROOT, 'node_modules')].join(path.delimiter),
    NIN_STUB_OPS: opsFile,
    ...(hasOldUtil ? { NODE_OPTIONS: `--require ${path.join(work, 'node-23-util.js')}` } : {}),
  };
  // The stand-in loads where nin looks for the real package, and reports what it is.
  const info = await runNin(['info', '--json'], { env });
  assert.equal(info.code, 0, info.stderr);
  const tensorflow = (JSON.parse(info.stdout) as { backends: { name: string; available: boolean; detail: string }[] }).backends.find(
    (b) => b.name === 'tensorflow',
  );
  assert.deepEqual(tensorflow, { name: 'tensorflow', available: true, detail: '@tensorflow/tfjs-node-gpu' });

  const r = await runNin(['predict', checkpoint, picture, '--backend', 'tensorflow', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal((JSON.parse(r.stdout) as { backend: string }).backend, 'tensorflow');
  assert.deepEqual(predictions(r.stdout), predictions(cpu.stdout));
  assert.ok(Number(fs.readFileSync(opsFile, 'utf8')) > 10, 'the forward pass should run on the stand-in backend');
  tf.disposeVariables();
});
