// DeferredReads (src/deferred-reads.ts): per-batch values kept on the device and read back together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DeferredReads } from '../../src/train/deferred-reads';

test('values come back in push order, one read for all, flattened to float32; nothing is left behind', async () => {
  const before = tf.memory().numTensors;
  const pending = new DeferredReads(3);
  pending.push(tf.tensor1d([1.5, 2]));
  pending.push(tf.tensor2d([[3, 4]], [1, 2], 'int32'));
  assert.equal(pending.full, false);
  pending.push(tf.scalar(NaN));
  assert.equal(pending.count, 3);
  assert.equal(pending.full, true);
  const reads = { count: 0 };
  const data = tf.Tensor.prototype.data;
  tf.Tensor.prototype.data = function (this: tf.Tensor) {
    reads.count++;
    return data.call(this) as never;
  };
  try {
    const values = await pending.take();
    assert.deepEqual(
      values.map((v) => Array.from(v)),
      [[1.5, 2], [3, 4], [NaN]],
    );
    assert.ok(values.every((v) => v instanceof Float32Array));
  } finally {
    tf.Tensor.prototype.data = data;
  }
  assert.equal(reads.count, 1);
  assert.equal(pending.count, 0);
  assert.deepEqual(await pending.take(), []);
  pending.push(tf.scalar(1));
  pending.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => new DeferredReads(0), /positive integer/);
});
