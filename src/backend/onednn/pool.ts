// Buffers for native kernels' outputs and converted copies, 64-byte aligned and reused. Aligned: V8 puts a large
// ArrayBuffer 16 bytes past a page boundary (malloc's header), and oneDNN's kernels ran 1.4-4x slower from there (a
// vector load straddles two cache lines; AMX's tile loads suffer most), so each buffer is a view that starts at the
// first aligned address of a slightly larger ArrayBuffer; one of 2 MiB or more starts at a 2 MiB boundary and
// asks for transparent huge pages, which made a training step about 3% faster (fewer TLB misses). Reused: fresh
// multi-megabyte arrays cost page faults on first write, several times the cost of a ReLU over them, so disposed
// tensors refill a pool, kept by byte length (one buffer serves float32 and bfloat16 tensors alike).
import * as os from 'node:os';
import type { LayoutBuffer } from './addon';

const ALIGNMENT = 64;
const POOL_MIN_BYTES = 64 * 1024; // smaller arrays are cheap to allocate (but aligned too)
// Huge pages for buffers of one page or more (the addon's hugePages): with a page of slack, a whole page always fits
// past the first 2 MiB boundary, and the slack before it is address space only, never written.
const HUGE_PAGE = 2 * 2 ** 20;
const POOL_MAX_FREE_BYTES = Math.min(3 * 2 ** 30, os.totalmem() / 4);

/** An ArrayBuffer with room for `bytes` from its first 64-byte aligned (or 2 MiB) address, and that address's offset. */
interface Aligned {
  buffer: ArrayBuffer;
  offset: number;
}

export class BufferPool {
  private readonly free = new Map<number, Aligned[]>();
  // Buffers handed out to a live tensor that may come back (with their offset); a buffer leaves this map for good
  // when it is pinned (something else may still reference it) or returned.
  private readonly lent = new WeakMap<ArrayBuffer, number>();
  private freeBytes = 0;

  /**
   * @param alignment the addon's: bytes from an ArrayBuffer's start to its first 64-byte aligned address.
   * @param hugePages the addon's: advises a new buffer's whole 2 MiB pages for huge pages, before their first write,
   * and gives the offset of the first (-1: none).
   */
  constructor(
    private readonly alignment: (buffer: ArrayBuffer) => number,
    private readonly hugePages: (buffer: ArrayBuffer) => number,
  ) {}

  /** A float32 array of `length` elements. */
  take(length: number): Float32Array {
    const { buffer, offset } = this.takeBytes(length * 4);
    return new Float32Array(buffer, offset, length);
  }

  /** A buffer of `bytes` bytes for float32 or (bf16) bfloat16 elements. */
  takeLayout(bytes: number, bf16: boolean): LayoutBuffer {
    const { buffer, offset } = this.takeBytes(bytes);
    return bf16 ? new Uint16Array(buffer, offset, bytes / 2) : new Float32Array(buffer, offset, bytes / 4);
  }

  private takeBytes(bytes: number): Aligned {
    const list = bytes >= POOL_MIN_BYTES ? this.free.get(bytes) : undefined;
    const reused = list?.pop();
    if (list !== undefined && list.length === 0) this.free.delete(bytes);
    if (reused !== undefined) this.freeBytes -= bytes;
    const aligned = reused ?? this.allocate(bytes);
    if (bytes >= POOL_MIN_BYTES) this.lent.set(aligned.buffer, aligned.offset);
    return aligned;
  }

  private allocate(bytes: number): Aligned {
    const huge = bytes >= HUGE_PAGE;
    const buffer = new ArrayBuffer(bytes + (huge ? HUGE_PAGE : ALIGNMENT) - 1);
    const offset = huge ? this.hugePages(buffer) : -1;
    return { buffer, offset: offset >= 0 ? offset : this.alignment(buffer) };
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
    const offset = this.lent.get(buffer);
    if (offset === undefined) return;
    this.lent.delete(buffer);
    const bytes = values.byteLength;
    if (this.freeBytes + bytes > POOL_MAX_FREE_BYTES) return;
    const list = this.free.get(bytes);
    if (list) list.push({ buffer, offset });
    else this.free.set(bytes, [{ buffer, offset }]);
    this.freeBytes += bytes;
  }

  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}
