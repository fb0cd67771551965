// bf16 mixed precision on the onednn backend (--precision bf16): each convolution kernel agrees with its float32
// self within bf16's rounding, a NiN step's loss and gradients agree with float32's, nothing leaks, a bf16 run
// resumes to the same numbers as an uninterrupted one, and --precision is checked where it cannot run. Also the
// per-step savings of the same issue: weights reordered once for many inference batches, never served stale.
// The kernel tests skip, saying why, on a CPU without native bf16; the checks of the choice itself run anywhere.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { resolvePrecision } from '../../src/backend';
import {
  RELU_BIAS_GRAD,
  onednnConvPrecision,
  onednnKernelCalls,
  onednnStatus,
  onednnTimers,
  registerOnednnBackend,
  setOnednnConvPrecision,
  type ConvPrecision,
} from '../../src/backend/onednn';
import { buildNin } from '../../src/model/nin';
import { makeTrainer, trainStep } from '../../src/train/step';
import { assertOneLineError, lines, runNin } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';

const status = onednnStatus();
const SKIP = !status.available
  ? `the oneDNN addon is unavailable (${status.reason})`
  : !status.nativeBf16
    ? `this CPU has no native bf16 (oneDNN dispatches ${status.isa}); --precision bf16 refuses to run here`
    : false;

// bf16 keeps 8 bits of mantissa: each input is off by up to 2^-9 relative, and a sum of many such products
// lands within about that of the float32 sum (errors of random sign partly cancel).
const KERNEL_TOLERANCE = 1e-2;

after(removeTempDirs);

function randomValues(size: number, seed: number, scale = 1): Float32Array {
  const values = new Float32Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = (state / 2 ** 32 - 0.5) * 2 * scale;
  }
  return values;
}

function normRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] ** 2;
    nb += b[i] ** 2;
  }
  return dot / Math.max(Math.sqrt(na * nb), 1e-30);
}

/** Runs `f` with the addon's convolutions in `precision`, back to float32 after. */
function inPrecision<T>(precision: ConvPrecision, f: () => T): T {
  setOnednnConvPrecision(precision);
  try {
    return f();
  } finally {
    setOnednnConvPrecision('fp32');
  }
}

describe('bf16 convolutions on onednn', { skip: SKIP }, () => {
  before(async () => {
    registerOnednnBackend();
    await tf.setBackend('onednn');
  });

  after(async () => {
    setOnednnConvPrecision('fp32');
    await tf.setBackend('cpu');
  });

  // NiN's kinds of layer: its 11x11/4 stem, a 1x1, the 5x5 'same', and 3x3 'same' layers on small images and into
  // 10 channels. Their weight gradients take each way the addon has: oneDNN's direct kernels, its gemm (bf16 without
  // AMX), and with AMX a matmul (1x1) or a forward convolution (images of at most 100 pixels).
  const shapes = [
    { name: '11x11 stride 4, 1 -> 96', x: [2, 67, 67, 1], filter: [11, 11, 1, 96], strides: 4, pad: 'valid' },
    { name: '1x1, 96 -> 96', x: [2, 15, 15, 96], filter: [1, 1, 96, 96], strides: 1, pad: 'valid' },
    { name: '5x5 same, 96 -> 256', x: [2, 7, 7, 96], filter: [5, 5, 96, 256], strides: 1, pad: 'same' },
    { name: '3x3 same on 4x4, 256 -> 384 (gemm weight gradient)', x: [2, 4, 4, 256], filter: [3, 3, 256, 384], strides: 1, pad: 'same' },
    { name: '3x3 same, 384 -> 10 (gemm weight gradient)', x: [3, 5, 5, 384], filter: [3, 3, 384, 10], strides: 1, pad: 'same' },
    { name: '5x5 same on 12x12, 32 -> 48 (direct weight gradient)', x: [2, 12, 12, 32], filter: [5, 5, 32, 48], strides: 1, pad: 'same' },
  ] as const;

  for (const shape of shapes) {
    test(`${shape.name}: forward, input and weight gradients within ${KERNEL_TOLERANCE} of float32`, () => {
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(
        randomValues(tf.util.sizeFromShape(shape.x as unknown as number[]), 1),
        shape.x as unknown as number[] as never,
      );
      const filter = tf.tensor4d(randomValues(tf.util.sizeFromShape(shape.filter as unknown as number[]), 2, 0.1), [...shape.filter]);
      const bias = tf.tensor1d(randomValues(shape.filter[3], 3, 0.1));
      const run = () =>
        tf.tidy(() => {
          const y = tf.fused.conv2d({ x, filter, bias, strides: shape.strides, pad: shape.pad, activation: 'relu' });
          const dyOut = tf.tensor4d(randomValues(y.size, 4), y.shape);
          // The backward of conv + bias + ReLU as fused-conv.ts runs it: ReLU's and the bias gradients in one kernel,
          // masked here by one tensor in both precisions (a mask from y would differ where bf16 moved a value
          // across zero, which is the forward's rounding, not the gradients').
          const mask = tf.tensor4d(randomValues(y.size, 6), y.shape);
          const [dy, dbias] = tf.engine().runKernel(RELU_BIAS_GRAD, { dy: dyOut, x: mask }) as tf.Tensor[];
          const attrs = { strides: shape.strides, pad: shape.pad, dataFormat: 'NHWC' };
          const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
            ...attrs,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          const dfilter = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
            ...attrs,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          return [y, dx, dfilter, dbias].map((t) => t.dataSync().slice());
        });
      const calls = () => onednnKernelCalls()[tf.Conv2DBackpropFilter].native + onednnKernelCalls()[RELU_BIAS_GRAD].native;
      const nativeBefore = calls();
      const expected = run();
      const actual = inPrecision('bf16', run);
      assert.equal(calls(), nativeBefore + 4, 'both runs took the native kernels');
      const names = ['y', 'dx', 'dfilter', 'dbias'];
      let rounded = 0;
      for (let i = 0; i < names.length; i++) {
        const error = normRelativeError(actual[i], expected[i]);
        assert.ok(error <= KERNEL_TOLERANCE, `${names[i]}: relative error ${error}`);
        if (error > 1e-6) rounded++;
      }
      assert.ok(rounded >= 3, 'bf16 rounding shows in the results: the bf16 kernels ran');
      tf.dispose([x, filter, bias]);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
    });
  }

  test("d2l's NiN at 96px, batch 16: a training step's loss within 1e-2 of float32, its update alike, no leak", async () => {
    const imageSize = 96;
    const batchSize = 16;
    const x = randomValues(batchSize * imageSize * imageSize, 5).map((v) => v * 0.5 + 0.5);
    const labels = Int32Array.from({ length: batchSize }, (_, i) => (i * 3) % 10);
    const step = async (precision: ConvPrecision) => {
      const model = buildNin({ imageSize, seed: 2 });
      const trainer = makeTrainer(model, tf.train.sgd(0.05));
      setOnednnConvPrecision(precision);
      try {
        const options = { imageSize, labelSmoothing: 0, weightDecay: 0, dropoutSeed: 3 };
        const initial = trainer.variables.map((v) => v.dataSync().slice());
        const counted = tf.memory().numTensors;
        const { loss } = await trainStep(trainer, x, labels, batchSize, options);
        assert.equal(tf.memory().numTensors, counted, `${precision}: a step leaves no tensor behind`);
        const updates = trainer.variables.map((v, i) => v.dataSync().map((w, k) => w - initial[i][k]));
        return { loss, updates };
      } finally {
        setOnednnConvPrecision('fp32');
        model.dispose();
        trainer.optimizer.dispose();
      }
    };
    const fp32 = await step('fp32');
    const bf16 = await step('bf16');
    assert.ok(Number.isFinite(fp32.loss));
    assert.ok(Math.abs(bf16.loss - fp32.loss) <= 1e-2 * Math.abs(fp32.loss), `loss: bf16 ${bf16.loss}, fp32 ${fp32.loss}`);
    // At initialisation NiN's gradients are small sums of large terms of both signs, so bf16's rounding moves
    // the early layers' gradients by 30-50% (relative norm) in PyTorch's autocast as here (seed 2, batch 16:
    // 0.46 for the first kernel in PyTorch, 0.43 in nin), and less towards the output (0.014 and 0.018 for the last).
    // So: the last layer's update within 5e-2, and every update pointing the same way (cosine above 0.8).
    const last = fp32.updates.length - 2;
    const lastError = normRelativeError(bf16.updates[last], fp32.updates[last]);
    assert.ok(lastError <= 5e-2, `last kernel's update: relative error ${lastError}`);
    for (let i = 0; i < fp32.updates.length; i++) {
      const c = cosine(bf16.updates[i], fp32.updates[i]);
      assert.ok(c >= 0.8, `update of weights ${i}: cosine ${c} with float32's`);
    }
    assert.equal(onednnConvPrecision(), 'fp32');
  });
});

describe('bf16 convolutions keep NaN and infinities where float32 TF.js has them', { skip: SKIP }, () => {
  before(async () => {
    registerOnednnBackend();
    await tf.setBackend('onednn');
  });

  after(async () => {
    setOnednnConvPrecision('fp32');
    await tf.setBackend('cpu');
  });

  // One of each way the weight gradient is computed (see weight_gradient_method in native/src/conv.cc), padded and
  // not: padded taps must stay skipped as TF.js skips them, so an infinite value next to the padding gives no NaN
  // that TF.js does not give (oneDNN's AMX kernels multiply the padding; the addon hands those calls to TF.js).
  const cases = [
    { name: '1x1 (weight gradient: matmul on AMX)', x: [2, 6, 6, 32], filter: [1, 1, 32, 16], pad: 'valid' },
    { name: '3x3 same on 4x4 (weight gradient: forward convolution on AMX)', x: [2, 4, 4, 32], filter: [3, 3, 32, 16], pad: 'same' },
    { name: '5x5 same on 12x12 (weight gradient: the primitive)', x: [2, 12, 12, 32], filter: [5, 5, 32, 16], pad: 'same' },
  ] as const;
  const passes = [
    ['forward', 'x'],
    ['forward', 'filter'],
    ['input gradient', 'dy'],
    ['input gradient', 'filter'],
    ['weight gradient', 'x'],
    ['weight gradient', 'dy'],
  ] as const;
  for (const c of cases) {
    for (const [pass, where] of passes) {
      test(`${c.name}: ${pass}, specials in ${where}`, async () => {
        const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
        const outShape = [c.x[0], c.x[1], c.x[2], c.filter[3]];
        const values = {
          x: randomValues(size(c.x), 11),
          filter: randomValues(size(c.filter), 12, 0.1),
          dy: randomValues(size(outShape), 13),
        };
        const specials = values[where];
        // Corners and the middle: next to the padding and away from it.
        [NaN, Infinity, -Infinity].forEach((v, i) => (specials[[0, Math.floor(specials.length / 2), specials.length - 1][i]] = v));
        const attrs = { strides: 1, pad: c.pad, dataFormat: 'NHWC' };
        const run = () =>
          tf.tidy(() => {
            const x = tf.tensor(values.x, [...c.x]) as tf.Tensor4D;
            const filter = tf.tensor(values.filter, [...c.filter]) as tf.Tensor4D;
            const dy = tf.tensor(values.dy, outShape);
            const engine = tf.engine();
            const result =
              pass === 'forward'
                ? tf.conv2d(x, filter, 1, c.pad)
                : pass === 'input gradient'
                  ? (engine.runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
                      ...attrs,
                      inputShape: c.x,
                    } as unknown as tf.NamedAttrMap) as tf.Tensor)
                  : (engine.runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
                      ...attrs,
                      filterShape: c.filter,
                    } as unknown as tf.NamedAttrMap) as tf.Tensor);
            return result.dataSync().slice();
          });
        await tf.setBackend('cpu');
        const expected = run();
        await tf.setBackend('onednn');
        const actual = inPrecision('bf16', run);
        let special = 0;
        for (let i = 0; i < expected.length; i++) {
          const where = `at ${i}: bf16 ${actual[i]}, cpu ${expected[i]}`;
          if (Number.isFinite(expected[i])) {
            assert.ok(Number.isFinite(actual[i]), where);
          } else {
            special++;
            assert.ok(Object.is(actual[i], expected[i]), where);
          }
        }
        assert.ok(special > 0, 'no NaN or Inf reached the output');
      });
    }
  }
});

describe('bf16 copies reordered from float32 where oneDNN has only reference code', { skip: SKIP }, () => {
  before(async () => {
    registerOnednnBackend();
    await tf.setBackend('onednn');
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  // A weight's bf16 copy for one convolution pass is made from its copy for another when oneDNN reorders between the
  // two quickly, else from its float32 values (backend.ts's acquire): both round the same float32 values the same
  // way, so the two sources must give the same bits. Here every bf16 copy is refused as a source, as if every such
  // reorder were oneDNN's reference code, and two steps must match the normal run exactly.
  test('two steps give the same bits whichever source each bf16 copy is made from', async () => {
    const imageSize = 67;
    const backend = tf.backend() as unknown as { native: { reorderIsReference(from: number, to: number): boolean } };
    const run = async (refuseBf16Sources: boolean) => {
      const native = backend.native;
      const original = native.reorderIsReference;
      const referenceReorders = (backend as unknown as { referenceReorders: Map<string, boolean> }).referenceReorders;
      referenceReorders.clear();
      if (refuseBf16Sources) native.reorderIsReference = () => true;
      setOnednnConvPrecision('bf16');
      const model = buildNin({ imageSize, seed: 8 });
      const trainer = makeTrainer(model, tf.train.sgd(0.05));
      try {
        const x = randomValues(4 * imageSize * imageSize, 9).map((v) => v + 0.5);
        const labels = new Int32Array([1, 3, 5, 7]);
        const options = { imageSize, labelSmoothing: 0, weightDecay: 0, dropoutSeed: null };
        const losses = [];
        for (let i = 0; i < 2; i++) losses.push((await trainStep(trainer, x, labels, 4, options)).loss);
        return { losses, weights: model.getWeights().map((w) => w.dataSync().slice()) };
      } finally {
        native.reorderIsReference = original;
        referenceReorders.clear();
        setOnednnConvPrecision('fp32');
        trainer.optimizer.dispose();
        model.dispose();
      }
    };
    const normal = await run(false);
    const fromFloat32 = await run(true);
    assert.deepEqual(fromFloat32.losses, normal.losses);
    fromFloat32.weights.forEach((w, i) => assert.deepEqual(w, normal.weights[i], `weight ${i}`));
  });
});

describe('reordered weights kept between inference batches', { skip: status.available ? false : status.reason }, () => {
  before(async () => {
    registerOnednnBackend();
    await tf.setBackend('onednn');
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const precision of ['fp32', 'bf16'] as const) {
    test(
      `${precision}: each weight is reordered once for several batches, and new weights are never served stale`,
      {
        skip: precision === 'bf16' && SKIP,
      },
      async () => {
        const imageSize = 67;
        const model = buildNin({ imageSize, seed: 4 });
        const x = tf.tensor4d(
          randomValues(2 * imageSize * imageSize, 6).map((v) => v + 0.5),
          [2, imageSize, imageSize, 1],
        );
        const predict = () => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice());
        setOnednnConvPrecision(precision);
        try {
          const first = predict();
          const reorders = () => onednnTimers().reorderWeights.calls;
          const before = reorders();
          const again = predict();
          assert.equal(reorders(), before, 'no weight reordered again for the next batch');
          assert.deepEqual(again, first);
          // New values for every weight (as an optimizer step gives): the next batch must see them.
          const fresh = buildNin({ imageSize, seed: 5 });
          model.setWeights(fresh.getWeights());
          const changed = predict();
          assert.ok(reorders() > before, 'new weights were reordered');
          await tf.setBackend('cpu');
          const expected = predict();
          await tf.setBackend('onednn');
          const tolerance = precision === 'bf16' ? 5e-2 : 1e-4;
          assert.ok(
            normRelativeError(changed, expected) <= tolerance,
            `onednn after new weights vs cpu: ${normRelativeError(changed, expected)}`,
          );
          assert.ok(normRelativeError(changed, first) > 10 * tolerance, 'the new weights give other outputs');
          fresh.dispose();
        } finally {
          setOnednnConvPrecision('fp32');
          x.dispose();
          model.dispose();
        }
      },
    );
  }
});

describe('--precision on the command line', () => {
  test('--precision bf16 on another backend: exit 2, one line naming the fix', async () => {
    const r = await runNin(['bench', '--backend', 'cpu', '--precision', 'bf16', '--image-size', '67', '--batch-size', '1', '--steps', '1']);
    assertOneLineError(r, 2, /--precision bf16 runs on the onednn backend only, not cpu/, /--backend onednn/, /--precision fp32/);
  });

  test('an unknown --precision: exit 2', async () => {
    const r = await runNin(['bench', '--precision', 'fp16']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--precision/);
  });

  test('auto is bf16 on onednn only where the CPU runs it natively; fp32 asks nothing of the CPU', () => {
    const native = { available: true, isa: 'avx512_core_bf16', nativeBf16: true };
    const plain = { available: true, isa: 'avx512_core', nativeBf16: false };
    assert.equal(resolvePrecision('auto', 'onednn', native), 'bf16');
    assert.equal(resolvePrecision('auto', 'onednn', plain), 'fp32');
    assert.equal(resolvePrecision('auto', 'webgpu', native), 'fp32');
    assert.equal(resolvePrecision('fp32', 'onednn', native), 'fp32');
    assert.equal(resolvePrecision('bf16', 'onednn', native), 'bf16');
    assert.throws(
      () => resolvePrecision('bf16', 'onednn', plain),
      /needs a CPU with bf16 instructions.*avx512_core here: use --precision fp32/,
    );
    assert.throws(() => resolvePrecision('bf16', 'tensorflow', native), /onednn backend only, not tensorflow/);
  });

  const SMALL = ['--backend', 'onednn', '--image-size', '67', '--train-limit', '64', '--test-limit', '32', '--batch-size', '16'];
  const TIMEOUT = 180_000;

  test(
    'a bf16 run: config.json records it, and --resume in bf16 ends with the numbers of an uninterrupted bf16 run',
    { skip: SKIP },
    async () => {
      const out = tempDir('nin-bf16-');
      const run = path.join(out, 'r');
      const started = await runNin(['train', ...SMALL, '--precision', 'bf16', '--epochs', '2', '--out', out, '--run', 'r'], {
        timeoutMs: TIMEOUT,
      });
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stderr, /backend: onednn \(.*bf16 on /);
      assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).precision, 'bf16');
      const resumed = await runNin(['train', '--resume', run, '--epochs', '3', '--backend', 'onednn', '--precision', 'bf16'], {
        timeoutMs: TIMEOUT,
      });
      assert.equal(resumed.code, 0, resumed.stderr);
      const straight = await runNin(['train', ...SMALL, '--precision', 'bf16', '--epochs', '3', '--out', out, '--run', 's'], {
        timeoutMs: TIMEOUT,
      });
      assert.equal(straight.code, 0, straight.stderr);
      const metrics = (dir: string) =>
        lines(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).map((l) => {
          const { epoch, loss, trainAcc, testAcc } = JSON.parse(l);
          return { epoch, loss, trainAcc, testAcc };
        });
      assert.deepEqual(metrics(run), metrics(path.join(out, 's')));
      // Precision is the runtime's: the same run continues in float32 (its checkpoints are float32).
      const fp32 = await runNin(['train', '--resume', run, '--epochs', '4', '--backend', 'onednn', '--precision', 'fp32'], {
        timeoutMs: TIMEOUT,
      });
      assert.equal(fp32.code, 0, fp32.stderr);
      assert.match(fp32.stderr, /fp32 on /);
      // Its checkpoint evaluates in either precision: the same images, the same accuracy but for a rounding-close call.
      const evals = await Promise.all(
        ['fp32', 'bf16'].map(async (precision) => {
          const r = await runNin(['eval', run, '--test-limit', '256', '--backend', 'onednn', '--precision', precision, '--json'], {
            timeoutMs: TIMEOUT,
          });
          assert.equal(r.code, 0, r.stderr);
          return JSON.parse(r.stdout) as { examples: number; accuracy: number; loss: number };
        }),
      );
      assert.equal(evals[0].examples, evals[1].examples);
      assert.ok(
        Math.abs(evals[0].accuracy - evals[1].accuracy) <= 2 / evals[0].examples,
        `accuracy ${evals[0].accuracy} vs ${evals[1].accuracy}`,
      );
      assert.ok(Math.abs(evals[0].loss - evals[1].loss) <= 1e-2 * evals[0].loss, `loss ${evals[0].loss} vs ${evals[1].loss}`);
    },
  );
});
