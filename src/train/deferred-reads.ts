// Small per-batch results (a step's loss and hits, a test batch's predictions) left on the device and
// read back many batches at a time. On a GPU every read waits for all queued work and leaves the GPU
// idle until the CPU queues more, so reading once per batch costs a pipeline drain per batch; on a CPU
// backend a read is free and this changes nothing but when the numbers arrive.
import * as tf from '@tensorflow/tfjs';

export class DeferredReads {
  private readonly pending: tf.Tensor[] = [];
  // On a GPU, the queued batches' work is still to run, and a stop (signals.ts) waits for it.
  private readonly queuedWork = tf.getBackend() === 'webgpu';
  private secondsPerBatch = 0; // measured by the last read: from its first batch's push to its values
  private firstPush = 0n;

  /**
   * `limit`: how many batches may wait before `full` says to read (bounds memory and detection latency).
   * `maxSeconds`: on a GPU, also read before the waiting batches add up to this long (a software adapter
   * takes seconds a batch), and after the first batch, which times them.
   */
  constructor(
    readonly limit: number,
    private readonly maxSeconds = Infinity,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  }

  /** Batches waiting to be read. */
  get count(): number {
    return this.pending.length;
  }

  get full(): boolean {
    if (this.pending.length >= this.limit) return true;
    if (!this.queuedWork || this.maxSeconds === Infinity || this.pending.length === 0) return false;
    return this.secondsPerBatch === 0 || this.pending.length * this.secondsPerBatch > this.maxSeconds;
  }

  /** Takes ownership of one batch's values (any shape; read back flattened as float32). */
  push(values: tf.Tensor): void {
    if (this.pending.length === 0) this.firstPush = process.hrtime.bigint();
    this.pending.push(values);
  }

  /**
   * Every waiting batch's values in push order, read with one GPU->CPU transfer; the tensors are freed
   * whether or not the read succeeds.
   */
  async take(): Promise<Float32Array[]> {
    if (this.pending.length === 0) return [];
    const taken = this.pending.splice(0);
    const sizes = taken.map((t) => t.size);
    const joined = tf.tidy(() => tf.concat(taken.map((t) => tf.cast(t.flatten(), 'float32'))));
    try {
      const values = (await joined.data()) as Float32Array;
      this.secondsPerBatch = Number(process.hrtime.bigint() - this.firstPush) / 1e9 / taken.length;
      let offset = 0;
      return sizes.map((n) => values.subarray(offset, (offset += n)));
    } finally {
      tf.dispose([joined, ...taken]);
    }
  }

  /** Frees what is waiting, unread (a run that ends with an error). */
  dispose(): void {
    tf.dispose(this.pending.splice(0));
  }
}
