// Reused buffers for native kernels' outputs and converted copies: fresh multi-megabyte arrays cost page faults on
// first write, several times the cost of a ReLU over them, so they come from a pool that disposed tensors refill.
// Kept by byte length, so one buffer serves float32 and bfloat16 tensors alike.
import * as os from 'node:os';
import type { LayoutBuffer } from './addon';

const POOL_MIN_BYTES = 64 * 1024; // smaller arrays are cheap to allocate
const POOL_MAX_FREE_BYTES = Math.min(3 * 2 ** 30, os.totalmem() / 4);

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  // Buffers handed out to a live tensor that may come back; a buffer leaves this set for good when it is
  // pinned (something else may still reference it) or returned.
  private readonly lent = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  /** A float32 array of `length` elements. */
  take(length: number): Float32Array {
    return new Float32Array(this.takeBytes(length * 4));
  }

  /** A buffer of `bytes` bytes for float32 or (bf16) bfloat16 elements. */
  takeLayout(bytes: number, bf16: boolean): LayoutBuffer {
    const buffer = this.takeBytes(bytes);
    return bf16 ? new Uint16Array(buffer) : new Float32Array(buffer);
  }

  private takeBytes(bytes: number): ArrayBuffer {
    if (bytes < POOL_MIN_BYTES) return new ArrayBuffer(bytes);
    const list = this.free.get(bytes);
    const reused = list?.pop();
    if (list !== undefined && list.length === 0) this.free.delete(bytes);
    if (reused !== undefined) this.freeBytes -= bytes;
    const buffer = reused ?? new ArrayBuffer(bytes);
    this.lent.add(buffer);
    return buffer;
  }

  lentOut(values: unknown): values is LayoutBuffer {
    return (values instanceof Float32Array || values instanceof Uint16Array) && this.lent.has(values.buffer as ArrayBuffer);
  }

  /** Never take this array's buffer back: a view of it may outlive its tensor. */
  pin(values: LayoutBuffer): void {
    this.lent.delete(values.buffer as ArrayBuffer);
  }

  /** Called when the array's tensor is gone; keeps its buffer for reuse within the pool's budget. */
  give(values: LayoutBuffer): void {
    const buffer = values.buffer as ArrayBuffer;
    if (!this.lent.has(buffer)) return;
    this.lent.delete(buffer);
    if (this.freeBytes + buffer.byteLength > POOL_MAX_FREE_BYTES) return;
    const list = this.free.get(buffer.byteLength);
    if (list) list.push(buffer);
    else this.free.set(buffer.byteLength, [buffer]);
    this.freeBytes += buffer.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}
