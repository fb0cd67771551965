// `nin bench` as a function: speeds on synthetic input, and what it says about device memory on a CPU backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKEND } from '../helpers/small-run';
import { bench } from '../../src/machine/bench';
import { formatBench } from '../../src/cli/format';
import { benchMemoryEstimate } from '../../src/model/shapes';

const BACKEND = TEST_BACKEND;

test('bench: positive speeds, no device memory on a CPU backend (null, with the reason), no tensor left', async () => {
  const before = tf.memory().numTensors;
  const r = await bench({ imageSize: 67, batchSize: 2, steps: 2, backend: BACKEND, threads: null, log: () => {} });
  assert.ok(r.trainImagesPerSec > 0 && r.inferImagesPerSec > 0, JSON.stringify(r));
  assert.equal(r.gpuBytesAllocated, null);
  assert.match(r.gpuBytesAllocatedNote ?? '', /runs on the CPU/);
  assert.doesNotMatch(formatBench(r), /GPU memory/);
  assert.match(
    formatBench({ ...r, gpuBytesAllocated: 3 * 2 ** 20 }),
    /GPU memory 3 MiB \(the step's tensors \d+ MiB by nin shapes' estimate\)$/,
  );
  // The measured peak beside the estimate of the same step: the process holds at least the step's tensors.
  const estimate = benchMemoryEstimate({ imageSize: 67, batchSize: 2, precision: r.precision }).bytes;
  assert.equal(r.memory.estimateBytes, estimate);
  assert.ok(r.memory.peakRssBytes > estimate, JSON.stringify(r.memory));
  assert.match(formatBench(r), /, peak RSS [\d,]+ MiB \(the step's tensors \d+ MiB by nin shapes' estimate\)$/);
  assert.equal(tf.memory().numTensors, before);
});

test(
  'bench --breakdown on onednn: wall and CPU parts add up to the step, conversions counted, the peak measured',
  { skip: BACKEND !== 'onednn' && 'needs the onednn backend' },
  async () => {
    const r = await bench({ imageSize: 67, batchSize: 4, steps: 2, backend: 'onednn', threads: 1, breakdown: true, log: () => {} });
    const b = r.breakdown;
    assert.ok(b, 'no breakdown');
    const sum = (parts: Partial<Record<string, number>>) => Object.values(parts).reduce((a: number, v) => a + (v ?? 0), 0);
    for (const [parts, update, other, step] of [
      [b.nativeMs, b.updateMs, b.otherMs, b.stepMs],
      [b.nativeCpuMs, b.updateCpuMs, b.otherCpuMs, b.stepCpuMs],
    ] as const) {
      for (const v of [...Object.values(parts), update, other]) assert.ok((v ?? 0) >= 0, JSON.stringify(b));
      // The update is timed apart from the steps, so the parts may exceed the step by it (and by rounding), never fall short.
      assert.ok(sum(parts) + update + other >= step - 0.05, JSON.stringify(b));
    }
    assert.ok(b.convGflopPerStep > 0);
    assert.ok(b.conversionsPerStep !== null && b.conversionsPerStep.toJavaScript >= 0 && b.conversionsPerStep.betweenLayouts > 0);
    assert.ok(b.convPeak !== null && b.convPeak.gflopPerSec > 0 && /^block\d_conv\d$/.test(b.convPeak.layer), JSON.stringify(b.convPeak));
    assert.ok(b.convPeakFraction !== null && b.convPeakFraction > 0);
    assert.ok(b.stepPeakFraction !== null && b.stepPeakFraction > 0 && b.stepPeakFraction <= b.convPeakFraction);
    const text = formatBench(r);
    assert.match(text, /conversions per step: /);
    assert.match(text, /whole step: \d+% of the peak/);
  },
);
