// Reused output arrays for native kernels: fresh multi-megabyte Float32Arrays cost page faults on first
// write, several times the cost of a ReLU over them, so outputs come from a pool that disposed tensors refill.
import * as os from 'node:os';

const POOL_MIN_LENGTH = 16 * 1024; // smaller arrays are cheap to allocate
const POOL_MAX_FREE_BYTES = Math.min(3 * 2 ** 30, os.totalmem() / 4);

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  // Arrays handed out to a live tensor that may come back; an array leaves this set for good when it is
  // pinned (something else may still reference it) or returned.
  private readonly lent = new WeakSet<Float32Array>();
  private freeBytes = 0;

  take(length: number): Float32Array {
    if (length < POOL_MIN_LENGTH) return new Float32Array(length);
    const list = this.free.get(length);
    const reused = list?.pop();
    if (list !== undefined && list.length === 0) this.free.delete(length);
    if (reused !== undefined) this.freeBytes -= reused.byteLength;
    const array = reused ?? new Float32Array(length);
    this.lent.add(array);
    return array;
  }

  lentOut(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.lent.has(values);
  }

  /** Never take this array back: a view of it may outlive its tensor. */
  pin(values: Float32Array): void {
    this.lent.delete(values);
  }

  /** Called when the array's tensor is gone; keeps it for reuse within the pool's budget. */
  give(values: Float32Array): void {
    if (!this.lent.has(values)) return;
    this.lent.delete(values);
    if (this.freeBytes + values.byteLength > POOL_MAX_FREE_BYTES) return;
    const list = this.free.get(values.length);
    if (list) list.push(values);
    else this.free.set(values.length, [values]);
    this.freeBytes += values.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}
