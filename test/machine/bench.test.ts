// `nin bench` as a function: speeds on synthetic input, and what it says about device memory on a CPU backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TEST_BACKEND } from '../helpers/small-run';
import { bench } from '../../src/machine/bench';
import { formatBench } from '../../src/cli/format';

const BACKEND = TEST_BACKEND;

test('bench: positive speeds, no device memory on a CPU backend (null, with the reason), no tensor left', async () => {
  const before = tf.memory().numTensors;
  const r = await bench({ imageSize: 67, batchSize: 2, steps: 2, backend: BACKEND, threads: null, log: () => {} });
  assert.ok(r.trainImagesPerSec > 0 && r.inferImagesPerSec > 0, JSON.stringify(r));
  assert.equal(r.gpuBytesAllocated, null);
  assert.match(r.gpuBytesAllocatedNote ?? '', /runs on the CPU/);
  assert.doesNotMatch(formatBench(r), /GPU memory/);
  assert.match(formatBench({ ...r, gpuBytesAllocated: 3 * 2 ** 20 }), /GPU memory 3 MiB$/);
  assert.equal(tf.memory().numTensors, before);
});
