// The webgpu backend on whatever adapter this machine has (in CI: Mesa's lavapipe, a CPU device):
// adapter probing and auto's choice, kernels against the pure-JS cpu backend, one NiN step against
// onednn, checkpoints across backends, flat memory over steps; and micro-batches against one batch.
// Sizes are tiny (67px, batches of 2-8): lavapipe compiles every shader with LLVM on the CPU.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { closeBackend, initBackend, microBatchPlan, type BackendInfo } from '../../src/backend';
import { TEST_BACKEND } from '../helpers/small-run';
import {
  isSoftwareAdapter,
  largestTensorBytesPerImage,
  noAdapterProblem,
  planMicroBatches,
  probeAdapters,
  throwIfGpuFault,
  type AdapterProbe,
} from '../../src/backend/webgpu';
import { FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { DEFAULT_CONFIG } from '../../src/config/config';
import { stepParity, syntheticBatch } from '../../src/backend/webgpu/step-parity';
import { buildNin, forward, NUM_CLASSES } from '../../src/model/nin';
import { hostImageSize, makeTrainer, trainingLoss, trainStep } from '../../src/train/step';
import { scoreSplit, type SplitScore } from '../../src/report/eval';
import { fixtureSplit } from '../helpers/idx';
import { trainableVariables } from '../../src/sys/tfjs-internals';

const IMAGE_SIZE = 67; // the smallest NiN accepts
const KERNEL_TOLERANCE = 1e-4; // relative to the largest magnitude of the expected output
const STEP_TOLERANCE = 1e-3; // relative, per tensor, as the issue asks of webgpu vs onednn

let probe: AdapterProbe;
/** Why the webgpu tests cannot run here, or null when an adapter exists. */
let missing: string | null = null;
/** The CPU backend to compare with: onednn where built, else TF.js's pure-JS kernels. */
const reference = TEST_BACKEND;

before(async () => {
  probe = await probeAdapters();
  if (probe.adapters.length === 0) missing = `no WebGPU adapter: ${probe.problem}`;
});

after(() => closeBackend());

/** Skips a webgpu test on a machine without an adapter, saying why (the CI test below fails instead). */
function needsAdapter(t: { skip: (message: string) => void }): boolean {
  if (missing === null) return true;
  t.skip(missing);
  return false;
}

test('an adapter is found (in CI, where lavapipe is installed, its absence fails)', (t) => {
  if (probe.adapters.length > 0) return;
  if (process.env.CI) assert.fail(`CI is set and WebGPU found no adapter: ${probe.problem}`);
  process.stdout.write(`# webgpu tests skipped: ${missing}\n`);
  t.skip(missing ?? undefined);
});

describe('adapters', () => {
  test('software adapters are recognised by what Dawn reports; GPUs are not', () => {
    const info = (description: string, vendor = '', architecture = '', device = '') => ({ vendor, architecture, device, description });
    assert.ok(isSoftwareAdapter({ ...info('llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', 'mesa', 'software', 'llvmpipe-llvm-15-0-6-256-bits-') }));
    assert.ok(isSoftwareAdapter({ ...info('SwiftShader Device (Subzero)', 'google', '', 'swiftshader') }));
    assert.ok(isSoftwareAdapter({ ...info('Microsoft Basic Render Driver', 'microsoft') }));
    assert.ok(isSoftwareAdapter({ ...info('anything'), isFallbackAdapter: true }));
    assert.ok(isSoftwareAdapter(info('anything'), true), 'the adapter-level fallback flag of older Dawn');
    assert.ok(!isSoftwareAdapter(info('NVIDIA H200', 'nvidia', 'hopper', '0x2335')));
    assert.ok(!isSoftwareAdapter(info('AMD Radeon RX 7900 XTX (RADV NAVI31)', 'amd', 'rdna-3')));
    assert.ok(!isSoftwareAdapter(info('Apple M2', 'apple', 'metal-3')));
    assert.ok(!isSoftwareAdapter({ ...info('Intel(R) Arc(tm) A770 Graphics (DG2)', 'intel', 'xe-hpg'), isFallbackAdapter: false }));
  });

  test('each adapter reports its limits; none found comes with a reason that names what to install', () => {
    for (const a of probe.adapters) {
      assert.ok(a.maxStorageBufferBindingSize >= 2 ** 27, `maxStorageBufferBindingSize ${a.maxStorageBufferBindingSize}`);
      assert.ok(a.maxBufferSize >= a.maxStorageBufferBindingSize);
      assert.equal(typeof a.shaderF16, 'boolean');
    }
    if (probe.adapters.length === 0) assert.ok(probe.problem && probe.problem.length > 0);
    assert.match(noAdapterProblem('darwin'), /Metal/);
    assert.match(noAdapterProblem('win32'), /D3D12/);
    assert.match(noAdapterProblem('linux'), /Vulkan|libvulkan/);
  });

  test('auto never picks a software adapter; an explicit --backend webgpu runs on one and says so', async (t) => {
    if (!needsAdapter(t)) return;
    const warnings: string[] = [];
    const auto = await initBackend('auto', null, (line) => warnings.push(line));
    const hasGpu = probe.adapters.some((a) => a.type === 'gpu');
    assert.equal(auto.name === 'webgpu', hasGpu, `auto chose ${auto.name} (${auto.detail})`);
    const explicit = await initBackend('webgpu', null);
    assert.equal(explicit.name, 'webgpu');
    assert.equal(tf.getBackend(), 'webgpu');
    if (!hasGpu) assert.match(explicit.detail, /software adapter: runs on the CPU/);
    assert.ok(explicit.maxTensorBytes !== null && explicit.maxTensorBytes >= 2 ** 27);
  });
});

describe('micro-batches', () => {
  test('a batch whose largest tensor exceeds the binding limit is split into equal pieces', () => {
    const model = buildNin({ imageSize: 224, seed: 0 });
    try {
      const perImage = largestTensorBytesPerImage(model);
      assert.equal(perImage, 54 * 54 * 96 * 4, "NiN's first block at 224px");
      const lavapipe = 134_217_728;
      const plan = planMicroBatches(lavapipe, perImage, 128);
      assert.ok(plan);
      assert.deepEqual([plan.pieces, plan.size], [2, 64]);
      assert.match(plan.note, /128 runs as 2 pieces of at most 64 images/);
      assert.equal(planMicroBatches(lavapipe, perImage, 119), null, '119 x 1.12 MB fits in 128 MiB');
      assert.equal(planMicroBatches(null, perImage, 4096), null, 'no limit: whole batches');
      const uneven = planMicroBatches(8 * perImage, perImage, 20)!;
      assert.deepEqual([uneven.pieces, uneven.size], [3, 7], '20 images, 8 fit: 7 + 7 + 6');
      const backend: BackendInfo = { name: 'webgpu', detail: '', threads: null, maxTensorBytes: lavapipe, precision: 'fp32', isa: null };
      assert.equal(microBatchPlan(backend, model, 128)?.size, 64);
      assert.equal(microBatchPlan({ ...backend, maxTensorBytes: null }, model, 128), null);
    } finally {
      model.dispose();
    }
  });

  test(`micro-batches give the same loss and gradients as one batch (${reference}, within 1e-4)`, async () => {
    await initBackend(reference, null);
    const size = 6;
    const { x, labels } = syntheticBatch(size, IMAGE_SIZE, 3);
    const whole = await recordStep(x, labels, size, undefined);
    for (const microBatchSize of [2, 4]) {
      const pieces = await recordStep(x, labels, size, microBatchSize);
      assert.ok(
        Math.abs(pieces.loss - whole.loss) <= 1e-4 * Math.abs(whole.loss),
        `loss ${pieces.loss} vs ${whole.loss} (micro-batch ${microBatchSize})`,
      );
      assert.equal(pieces.hits, whole.hits);
      for (const [name, g] of whole.grads) assertClose(pieces.grads.get(name)!, g, 1e-4, `${name} (micro-batch ${microBatchSize})`);
    }
  });
});

describe('kernels on webgpu against cpu', () => {
  // NiN's convolutions (11x11/4 valid, 5x5 and 3x3 same, 1x1) and pools, forward and both gradients; the filter
  // gradients of 8 or more input channels run nin's matmul form (kernels-conv.ts), the 11x11's TF.js's kernel.
  const convs = [
    { name: '11x11 stride 4 valid', x: [2, 67, 67, 1], filter: [11, 11, 1, 8], strides: 4, pad: 'valid' as const },
    { name: '5x5 same', x: [2, 13, 13, 8], filter: [5, 5, 8, 16], strides: 1, pad: 'same' as const },
    { name: '3x3 same', x: [3, 6, 6, 16], filter: [3, 3, 16, 10], strides: 1, pad: 'same' as const },
    { name: '1x1', x: [2, 15, 15, 8], filter: [1, 1, 8, 8], strides: 1, pad: 'valid' as const },
    // Not in NiN: strides and uneven padding through nin's matmul filter gradient (kernels-conv.ts).
    { name: '3x3 stride 2 same', x: [2, 8, 8, 8], filter: [3, 3, 8, 4], strides: 2, pad: 'same' as const },
    { name: '2x2 stride 2 valid, odd size', x: [1, 7, 7, 12], filter: [2, 2, 12, 5], strides: 2, pad: 'valid' as const },
  ];
  for (const c of convs) {
    test(`conv2d ${c.name}: output, and gradients for input and filter`, async (t) => {
      if (!needsAdapter(t)) return;
      const inputs = [random(c.x, 1), random(c.filter, 2)];
      const outShape = await shapeOn(inputs, (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad));
      const upstream = random(outShape, 3);
      await compare([...inputs, upstream], (x, w, dy) => {
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), dy));
        const [dx, dw] = tf.grads(f)([x, w]);
        return [tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad), dx, dw];
      });
    });
  }

  test("nin's filter gradient is the one webgpu runs (the conv cases above check its values)", async (t) => {
    if (!needsAdapter(t)) return;
    await initBackend('webgpu', null);
    assert.equal((tf.getKernel('Conv2DBackpropFilter', 'webgpu') as { nin?: boolean } | undefined)?.nin, true);
  });

  test('bilinear resize of 28x28 batches to 67px (half-pixel centres), as training resizes them on the GPU', async (t) => {
    if (!needsAdapter(t)) return;
    await compare([random([3, 28, 28, 1], 6)], (x) => [tf.image.resizeBilinear(x as tf.Tensor4D, [IMAGE_SIZE, IMAGE_SIZE], false, true)]);
  });

  test('max-pool 3x3/2 with its gradient, relu, global average pool, softmax cross-entropy', async (t) => {
    if (!needsAdapter(t)) return;
    const x = random([2, 15, 15, 8], 4);
    const oneHot = { shape: [2, NUM_CLASSES], values: new Float32Array(2 * NUM_CLASSES) };
    oneHot.values[1] = oneHot.values[NUM_CLASSES + 7] = 1;
    await compare([x, random([2, 10], 5), oneHot], (a, logits, y) => {
      const pool = (v: tf.Tensor) => tf.maxPool(tf.relu(v) as tf.Tensor4D, 3, 2, 'valid');
      const [dx] = tf.grads((v: tf.Tensor) => tf.sum(tf.mul(pool(v), pool(v))))([a]);
      const [dLogits] = tf.grads((l: tf.Tensor) => trainingLoss(y as tf.Tensor2D, l as tf.Tensor2D, 0))([logits]);
      return [pool(a), dx, tf.mean(a, [1, 2]), trainingLoss(y as tf.Tensor2D, logits as tf.Tensor2D, 0), dLogits];
    });
  });
});

describe('NiN on webgpu', () => {
  test(`one step from the same weights: loss and gradients equal ${reference}'s within 1e-3 relative`, async (t) => {
    if (!needsAdapter(t)) return;
    const parity = await stepParity({ imageSize: IMAGE_SIZE, batchSize: 4, reference });
    t.diagnostic(JSON.stringify(parity));
    assert.ok(parity.lossDifference <= STEP_TOLERANCE, `loss ${parity.loss.webgpu} vs ${parity.loss.reference}`);
    assert.ok(
      parity.gradientDifference <= STEP_TOLERANCE,
      `gradient ${parity.worstTensor} differs by ${parity.gradientDifference} of its largest value`,
    );
  });

  test(`the test pass sends 28x28 batches, resizes them on the device and scores as ${reference} does`, async (t) => {
    if (!needsAdapter(t)) return;
    const split = { ...fixtureSplit(12), count: 12 }; // batches of 8 and 4
    await initBackend(reference, null);
    const made = buildNin({ imageSize: IMAGE_SIZE, seed: 2, kernelInit: 'he', biasInit: 'zeros', classBias: 1 });
    const weights = made.getWeights().map((w) => ({ shape: w.shape, values: w.dataSync().slice() }));
    const scores: SplitScore[] = [];
    for (const name of [reference, 'webgpu'] as const) {
      await initBackend(name, null);
      assert.equal(hostImageSize(IMAGE_SIZE), name === 'webgpu' ? 28 : IMAGE_SIZE, `${name} prepares batches at`);
      const model = name === reference ? made : buildNin({ imageSize: IMAGE_SIZE, seed: 0 });
      if (model !== made) model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
      let score: SplitScore | null = null;
      const profile = await tf.profile(async () => {
        score = await scoreSplit(model, split, 8, IMAGE_SIZE);
      });
      assert.equal(profile.kernelNames.includes('ResizeBilinear'), name === 'webgpu', `${name} resizes on the device`);
      assert.ok(score !== null);
      scores.push(score);
      model.dispose();
    }
    throwIfGpuFault();
    const [cpu, gpu] = scores;
    assert.equal(gpu.examples, 12);
    assert.deepEqual(gpu.confusion, cpu.confusion);
    assert.ok(Math.abs(gpu.loss - cpu.loss) <= STEP_TOLERANCE * Math.abs(cpu.loss), `loss ${gpu.loss} vs ${cpu.loss}`);
  });

  test('tensor count and GPU memory stay flat over training steps', async (t) => {
    if (!needsAdapter(t)) return;
    await initBackend('webgpu', null);
    const model = buildNin({ imageSize: IMAGE_SIZE, seed: 1 });
    const optimizer = tf.train.sgd(0.05);
    const { x, labels } = syntheticBatch(2, IMAGE_SIZE, 21);
    const counts: { tensors: number; bytes: number }[] = [];
    for (let step = 0; step < 4; step++) {
      await gpuTrainingUpdate(model, optimizer, x, labels, 2);
      const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      counts.push({ tensors: memory.numTensors, bytes: memory.numBytesInGPU ?? memory.numBytes });
    }
    throwIfGpuFault();
    // The first step creates the optimizer's state; from then on nothing may accumulate.
    assert.deepEqual(counts.slice(2), [counts[1], counts[1]], JSON.stringify(counts));
    optimizer.dispose();
    model.dispose();
  });

  test(`a checkpoint trained on webgpu scores the same on ${reference}, and the reverse`, async (t) => {
    if (!needsAdapter(t)) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-webgpu-'));
    try {
      const train = syntheticBatch(4, IMAGE_SIZE, 31);
      const test = syntheticBatch(8, IMAGE_SIZE, 41);
      for (const [from, to] of [
        ['webgpu', reference],
        [reference, 'webgpu'],
      ] as const) {
        const backend = await initBackend(from, null);
        const model = buildNin({ imageSize: IMAGE_SIZE, seed: 2 });
        const optimizer = tf.train.sgd(0.05);
        if (from === 'webgpu') {
          for (let i = 0; i < 2; i++) await gpuTrainingUpdate(model, optimizer, train.x, train.labels, 4);
        } else {
          const trainer = makeTrainer(model, optimizer);
          for (let i = 0; i < 2; i++)
            await trainStep(trainer, train.x, train.labels, 4, {
              imageSize: IMAGE_SIZE,
              labelSmoothing: 0,
              weightDecay: 0,
              dropoutSeed: null,
            });
        }
        const before = await score(model, test.x, test.labels, 8);
        const target = path.join(dir, from);
        await saveCheckpoint(target, model, meta(backend.name), {});
        optimizer.dispose();
        model.dispose();

        await initBackend(to, null);
        const loaded = await loadCheckpoint(target);
        const after = await score(loaded.model, test.x, test.labels, 8);
        loaded.model.dispose();
        throwIfGpuFault();
        assert.equal(after.accuracy, before.accuracy, `${from} -> ${to}`);
        assertClose(after.logits, before.logits, STEP_TOLERANCE, `${from} -> ${to} logits`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GPU failures', () => {
  test('a tensor over the binding limit is reported as an error naming --batch-size, not read back as zeros', async (t) => {
    if (!needsAdapter(t)) return;
    const backend = await initBackend('webgpu', null);
    const limit = backend.maxTensorBytes!;
    if (limit > 2 ** 28) return t.skip(`this adapter binds ${limit} bytes; the test allocates 3 tensors of that size only up to 256 MiB`);
    const elements = limit / 4 + 1024;
    const big = tf.fill([elements], 1);
    const sum = tf.add(big, 1);
    // WebGPU rejects the kernel asynchronously, and the read still "succeeds" (with zeros): only the
    // recorded fault tells.
    await sum.data();
    tf.dispose([big, sum]);
    assert.throws(
      () => throwIfGpuFault(),
      (err: Error & { exitCode?: number }) =>
        err.name === 'GpuFaultError' && err.exitCode === 1 && /binding size/i.test(err.message) && /smaller --batch-size/.test(err.message),
    );
    closeBackend(); // the next test starts a fresh device, without this fault
  });
});

// ---- helpers ----

interface Input {
  shape: number[];
  values: Float32Array;
}

/** Deterministic values in [-1, 1) from a small LCG. */
function random(shape: number[], seed: number): Input {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed >>> 0 || 1;
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return { shape, values };
}

/** Every element within tolerance x the largest magnitude of `expected` (plus a tiny absolute floor); returns the worst relative difference. */
function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(
    worst <= tolerance * scale + 1e-7,
    `${what}: element ${at} differs by ${worst} (${actual[at]} vs ${expected[at]}; largest |expected| ${scale})`,
  );
  return scale > 0 ? worst / scale : worst;
}

/** The output shape of fn on the cpu backend. */
async function shapeOn(inputs: Input[], fn: (...t: tf.Tensor[]) => tf.Tensor): Promise<number[]> {
  await tf.setBackend('cpu');
  return tf.tidy(() => fn(...inputs.map((i) => tf.tensor(i.values, i.shape))).shape);
}

/** Runs fn on 'cpu' and on 'webgpu' (reading back asynchronously, as Node requires) and compares every output. */
async function compare(inputs: Input[], fn: (...t: tf.Tensor[]) => tf.Tensor[]): Promise<void> {
  const run = async (): Promise<Input[]> => {
    const outputs = tf.tidy(() => fn(...inputs.map((i) => tf.tensor(i.values, i.shape))));
    const values = await Promise.all(outputs.map((o) => o.data() as Promise<Float32Array>));
    const result = outputs.map((o, i) => ({ shape: o.shape, values: values[i] }));
    tf.dispose(outputs);
    return result;
  };
  await tf.setBackend('cpu');
  const expected = await run();
  await initBackend('webgpu', null);
  const before = tf.memory().numTensors;
  const actual = await run();
  throwIfGpuFault();
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  expected.forEach((e, i) => {
    assert.deepEqual(actual[i].shape, e.shape, `output ${i}: shape`);
    assertClose(actual[i].values, e.values, KERNEL_TOLERANCE, `output ${i}`);
  });
}

/**
 * One SGD update on webgpu with no read-back (dropout off). trainStep reads its loss with dataSync,
 * which webgpu in Node cannot do, so these tests update through the optimizer directly.
 */
async function gpuTrainingUpdate(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  x: Float32Array,
  labels: Int32Array,
  size: number,
): Promise<void> {
  const variables = trainableVariables(model);
  tf.tidy(() => {
    const input = tf.tensor4d(x, [size, IMAGE_SIZE, IMAGE_SIZE, 1]);
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES) as tf.Tensor2D;
    const { grads } = tf.variableGrads(() => trainingLoss(oneHot, forward(model, input, false), 0), variables);
    optimizer.applyGradients(grads);
  });
  // Waits for the GPU, so memory is measured after the step's work, not while it is queued.
  const probeTensor = variables[0].sum();
  await probeTensor.data();
  probeTensor.dispose();
}

/** Accuracy and logits of the model on a batch, in inference mode, read asynchronously. */
async function score(
  model: tf.LayersModel,
  x: Float32Array,
  labels: Int32Array,
  size: number,
): Promise<{ accuracy: number; logits: Float32Array }> {
  const logits = tf.tidy(() => forward(model, tf.tensor4d(x, [size, IMAGE_SIZE, IMAGE_SIZE, 1]), false));
  const values = (await logits.data()) as Float32Array;
  logits.dispose();
  let hits = 0;
  for (let i = 0; i < size; i++) {
    const row = Array.from(values.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES));
    if (row.indexOf(Math.max(...row)) === labels[i]) hits++;
  }
  return { accuracy: hits / size, logits: values };
}

function meta(backend: string) {
  return {
    formatVersion: FORMAT_VERSION,
    nin: 'test',
    createdAt: new Date(0).toISOString(),
    config: { ...DEFAULT_CONFIG, imageSize: IMAGE_SIZE },
    imageSize: IMAGE_SIZE,
    epoch: 1,
    metrics: null,
    backend,
    optimizer: null,
  };
}

/** trainStep on the current backend with an optimizer that records the gradients it is given, instead of applying them. */
async function recordStep(
  x: Float32Array,
  labels: Int32Array,
  size: number,
  microBatchSize: number | undefined,
): Promise<{ loss: number; hits: number; grads: Map<string, Float32Array> }> {
  const model = buildNin({ imageSize: IMAGE_SIZE, seed: 3 });
  const recorded = new Map<string, Float32Array>();
  const optimizer = new (class extends tf.Optimizer {
    applyGradients(grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
      for (const [name, g] of Object.entries(grads as tf.NamedTensorMap)) recorded.set(name, Float32Array.from(g.dataSync()));
    }
    getConfig() {
      return {};
    }
  })();
  const trainer = makeTrainer(model, optimizer);
  const result = await trainStep(trainer, x, labels, size, {
    imageSize: IMAGE_SIZE,
    labelSmoothing: 0,
    weightDecay: 0,
    dropoutSeed: null,
    microBatchSize,
  });
  // Names are per model instance (conv2d_1/kernel, ...); key by position so two models compare.
  const grads = new Map(trainer.variables.map((v, i) => [String(i), recorded.get(v.name)!]));
  model.dispose();
  return { loss: result.loss, hits: result.hits, grads };
}
