// The onednn backend object: TF.js's pure-JS CPU backend (its storage and every kernel not replaced) whose tensors
// may live in the addon's layouts. A native kernel writes its output in the layout its primitive chose (oneDNN's
// blocked layouts, bfloat16 under --precision bf16) and the next native kernel reads it as it is; a tensor becomes
// TF.js's float32 array only when JavaScript reads it (dataSync, data, a checkpoint, a JS kernel), and is
// converted into another layout only when a kernel reads a layout it does not have. Conversions are counted.
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { cpuBackendValues, setCpuBackendValues } from '../../sys/tfjs-internals';
import { type Addon, type LayoutBuffer, type LayoutInfo, type LayoutRole, requireAddon } from './addon';
import { BufferPool } from './pool';

/** A tensor's values in one of the addon's layouts. */
export interface NativeCopy {
  layout: number;
  data: LayoutBuffer;
}

/**
 * A copy and whether it holds the tensor's values exactly: what a kernel wrote, or a conversion that loses nothing. A
 * bfloat16 copy of a float32 tensor (a weight as a bf16 convolution reads it) is not exact: nothing but a reader of
 * that very layout, or of another bfloat16 one (the same rounding), may take it for the tensor.
 */
interface StoredCopy extends NativeCopy {
  exact: boolean;
}

/** Where max pooling found each window's maximum, for a tensor it wrote: one byte per element of `layout`. */
export interface MaximaRecord {
  layout: number; // the pooled output's layout when it was recorded
  where: Uint8Array;
}

/** Conversions since the last reset: into TF.js's float32 arrays, and from one native layout into another. */
export interface Conversions {
  toJavaScript: number;
  betweenLayouts: number;
}

export class OnednnBackend extends MathBackendCPU {
  private readonly native: Addon = requireAddon();
  readonly pool = new BufferPool(
    (buffer) => this.native.alignment(buffer),
    (buffer) => this.native.hugePages(buffer),
  );
  readonly conversions: Conversions = { toJavaScript: 0, betweenLayouts: 0 };
  // Per dataId, its values in native layouts: the one its producer wrote, and those converted since (a weight's
  // copy in a convolution's layout is made once per version of the weight, and kept as long as that version).
  private readonly copies = new Map<object, StoredCopy[]>();
  private readonly layoutInfo = new Map<number, LayoutInfo>();
  // Per dataId, an upper bound on |value| that also says every value is finite (absent: unknown). Native kernels
  // keep it as they go (a ReLU pass measures it, pooling keeps it, a convolution multiplies it by its filter's L1
  // norm): a convolution whose input bound proves that no sum can overflow, hence no NaN arise, may apply ReLU inside
  // oneDNN's kernel (which turns NaN into 0) instead of in a pass of its own (kernels-conv.ts).
  private readonly bounds = new Map<object, number>();
  // Per max-pooled output's dataId, where each window's maximum lies (kernels-pool.ts), for its gradient.
  private readonly maxima = new Map<object, MaximaRecord>();
  // The L1 norm of a buffer's values (a filter as a convolution reads it), computed once per buffer.
  private readonly norms = new WeakMap<LayoutBuffer, number>();
  private readonly derivedLayouts = new Map<string, number>();
  // Per `from>to` layout pair, whether oneDNN reorders it only with its reference code (asked once per pair).
  private readonly referenceReorders = new Map<string, boolean>();

  /** A registered layout's description (ids never change meaning within a process, so it is asked once). */
  layout(id: number): LayoutInfo {
    let info = this.layoutInfo.get(id);
    if (info === undefined) {
      info = this.native.layout(id);
      this.layoutInfo.set(id, info);
    }
    return info;
  }

  /** TF.js's own layout for a tensor of `dims` (N, C, H, W or O, I, H, W; C for vectors) in `role`. */
  plainLayout(role: LayoutRole, dims: number[]): number {
    const key = `p${role}:${dims.join(',')}`;
    let id = this.derivedLayouts.get(key);
    if (id === undefined) {
      id = this.native.plainLayout(this.native.LayoutRole[role], dims);
      this.derivedLayouts.set(key, id);
    }
    return id;
  }

  /** A layout arranged as `id` with `dims` and element type (0 when the pooling loops do not walk `id`). */
  layoutLike(id: number, dims: number[], bf16: boolean): number {
    const key = `l${id}:${dims.join(',')}:${bf16 ? 1 : 0}`;
    let like = this.derivedLayouts.get(key);
    if (like === undefined) {
      like = this.native.layoutLike(id, dims, bf16);
      this.derivedLayouts.set(key, like);
    }
    return like;
  }

  /** Whether `id` is TF.js's own layout of its tensor (then the tensor's values are its data). */
  isPlain(id: number): boolean {
    return this.layout(id).plain === id;
  }

  /** The native copies of a tensor (empty for one that lives only in TF.js's values). */
  copiesOf(dataId: object): readonly NativeCopy[] {
    return this.copies.get(dataId) ?? [];
  }

  /**
   * The layout the tensor's producer wrote it in, with its data: its first exact native copy, or undefined when it is
   * TF.js's own values (a tensor JavaScript made, or a kernel wrote in a plain layout).
   */
  producedCopy(dataId: object): NativeCopy | undefined {
    return this.copies.get(dataId)?.find((c) => c.exact);
  }

  /**
   * TF.js's float32 values of a tensor: converted from its native copy the first time JavaScript needs them (then
   * kept beside it). This is the boundary: every read of a tensor by JavaScript passes here.
   */
  values(dataId: object): tf.backend_util.BackendValues {
    // A tensor made on another backend is moved here first, as TF.js's own kernels get it (DataStorage.get moves).
    if (cpuBackendValues(this, dataId) === undefined && this.copies.get(dataId) === undefined) this.data.get(dataId);
    const values = cpuBackendValues(this, dataId);
    if (values !== undefined) return values;
    const copy = this.producedCopy(dataId);
    if (copy === undefined) throw new Error('onednn: a tensor has neither values nor a native copy (this is a bug)');
    const plain = this.layout(copy.layout).plain;
    const out = this.pool.takeLayout(this.layout(plain).bytes, false) as Float32Array;
    this.native.reorder(copy.layout, copy.data, plain, out);
    this.conversions.toJavaScript++;
    setCpuBackendValues(this, dataId, out);
    return out;
  }

  /**
   * The tensor's data in `layout`, converted (and kept on the tensor for later readers) when it has no copy there:
   * from a native copy of the same tensor, or from TF.js's values.
   */
  acquire(t: tf.TensorInfo, layout: number): LayoutBuffer {
    const copies = this.copies.get(t.dataId);
    const found = copies?.find((c) => c.layout === layout);
    if (found !== undefined) return found.data;
    const info = this.layout(layout);
    if (info.plain === layout) return this.values(t.dataId) as Float32Array;
    // From a copy of this tensor (same plain twin) that holds it exactly, or into bfloat16 from any bfloat16 copy
    // (which rounded the same values the same way: half the bytes to read), else from TF.js's values. Not from a
    // bfloat16 copy oneDNN reorders only with its reference code: from float32 is then 10-100x faster.
    const sameTensor = (c: StoredCopy) => this.layout(c.layout).plain === info.plain;
    const source =
      (info.bf16
        ? copies?.find((c) => sameTensor(c) && this.layout(c.layout).bf16 && !this.referenceReorder(c.layout, layout))
        : undefined) ?? copies?.find((c) => sameTensor(c) && c.exact);
    const data = this.pool.takeLayout(info.bytes, info.bf16);
    if (source !== undefined) {
      this.native.reorder(source.layout, source.data, layout, data);
    } else {
      this.native.reorder(info.plain, this.values(t.dataId) as Float32Array, layout, data);
    }
    this.conversions.betweenLayouts++;
    // Exact unless it rounded float32 values to bfloat16.
    const exact = !info.bf16 || (source !== undefined ? source.exact && this.layout(source.layout).bf16 : false);
    this.attach(t.dataId, { layout, data, exact });
    return data;
  }

  /** Whether oneDNN has only its slow reference code for reordering `from` into `to` (see layouts.cc). */
  private referenceReorder(from: number, to: number): boolean {
    const key = `${from}>${to}`;
    let reference = this.referenceReorders.get(key);
    if (reference === undefined) {
      reference = this.native.reorderIsReference(from, to);
      this.referenceReorders.set(key, reference);
    }
    return reference;
  }

  /**
   * The tensor's data arranged as the float32 layout `f32` in either element type, without converting when it has
   * such a copy (its values count when `f32` is plain); otherwise converted into `f32` itself.
   */
  acquireArrangement(t: tf.TensorInfo, f32: number): NativeCopy {
    const copy = this.copies.get(t.dataId)?.find((c) => c.exact && this.layout(c.layout).f32 === f32);
    if (copy !== undefined) return copy;
    return { layout: f32, data: this.acquire(t, f32) };
  }

  /** The bound on |value| of a tensor (see `bounds`), or undefined when unknown. */
  bound(dataId: object): number | undefined {
    return this.bounds.get(dataId);
  }

  /** Records a tensor's bound; a non-finite one (NaN, infinity) says nothing and is not kept. */
  setBound(dataId: object, bound: number | undefined): void {
    if (bound !== undefined && Number.isFinite(bound)) this.bounds.set(dataId, bound);
  }

  /** The sum of |v| over a buffer (NaN or infinity when one is), computed once per buffer. */
  l1Norm(data: LayoutBuffer): number {
    let norm = this.norms.get(data);
    if (norm === undefined) {
      norm = this.native.absSum(data);
      this.norms.set(data, norm);
    }
    return norm;
  }

  /** Where max pooling found each window's maximum for the tensor it wrote (undefined when not recorded). */
  maximaOf(dataId: object): MaximaRecord | undefined {
    return this.maxima.get(dataId);
  }

  setMaxima(dataId: object, record: MaximaRecord): void {
    this.maxima.set(dataId, record);
  }

  /** An output buffer for a tensor in `layout`. */
  allocate(layout: number): LayoutBuffer {
    const info = this.layout(layout);
    return this.pool.takeLayout(info.bytes, info.bf16);
  }

  /** Gives back a buffer allocate() lent that no tensor took (a kernel that handed its call to TF.js). */
  release(data: LayoutBuffer): void {
    if (this.pool.lentOut(data)) this.pool.give(data);
  }

  /** A float32 tensor of `shape` whose data a native kernel wrote in `layout`: TF.js's values when plain. */
  output(shape: number[], layout: number, data: LayoutBuffer): tf.TensorInfo {
    if (this.isPlain(layout)) return this.makeTensorInfo(shape, 'float32', data as Float32Array);
    const info = this.makeTensorInfo(shape, 'float32', undefined);
    this.attach(info.dataId, { layout, data, exact: true });
    return info;
  }

  private attach(dataId: object, copy: StoredCopy): void {
    const copies = this.copies.get(dataId);
    if (copies === undefined) this.copies.set(dataId, [copy]);
    else copies.push(copy);
  }

  override disposeData(dataId: object, force = false): boolean {
    const values = cpuBackendValues(this, dataId);
    const released = super.disposeData(dataId, force);
    if (released) {
      if (this.pool.lentOut(values)) {
        this.norms.delete(values);
        this.pool.give(values);
      }
      for (const copy of this.copies.get(dataId) ?? []) {
        this.norms.delete(copy.data);
        this.pool.give(copy.data);
      }
      this.copies.delete(dataId);
      this.bounds.delete(dataId);
      this.maxima.delete(dataId);
    }
    return released;
  }

  // dataSync()/data() hand the backend's array to the caller, who may keep it: give them a copy of pooled ones.
  override readSync(dataId: object): tf.backend_util.BackendValues {
    this.values(dataId);
    const values = super.readSync(dataId);
    return this.pool.lentOut(values) ? values.slice() : values;
  }

  override dispose(): void {
    this.pool.clear();
    this.copies.clear();
    this.bounds.clear();
    this.maxima.clear();
    super.dispose();
  }
}

export type KernelArgs = Parameters<tf.KernelFunc>[0];
export type Tensor4Shape = [number, number, number, number];

/** A native kernel returns undefined for inputs it does not handle; the JS 'cpu' kernel then runs. */
export type NativeKernel = (args: KernelArgs, native: Addon, backend: OnednnBackend) => tf.TensorInfo | undefined;

/** The Float32Array of TF.js's values of a tensor (converted from a native copy if need be), or undefined. */
export function floats(backend: OnednnBackend, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (t === undefined || t.dtype !== 'float32') return undefined;
  const values = backend.values(t.dataId);
  return values instanceof Float32Array ? values : undefined;
}

/** An output array for a native kernel that writes TF.js's own float32 layout. */
export function output(backend: OnednnBackend, length: number): Float32Array {
  return backend.pool.take(length);
}

/** After a JS kernel: an output that shares memory with a pooled input (Slice returns views) pins that input. */
export function pinAliasedInputs(backend: MathBackendCPU, inputs: tf.NamedTensorInfoMap, result: tf.TensorInfo | tf.TensorInfo[]): void {
  if (!(backend instanceof OnednnBackend)) return;
  const outputs = Array.isArray(result) ? result : [result];
  for (const input of Object.values(inputs)) {
    if (input == null) continue;
    const values = cpuBackendValues(backend, input.dataId);
    if (!backend.pool.lentOut(values)) continue;
    for (const out of outputs) {
      if (out.dataId === input.dataId) continue;
      const outValues = cpuBackendValues(backend, out.dataId);
      if (outValues !== undefined && ArrayBuffer.isView(outValues) && outValues.buffer === values.buffer) backend.pool.pin(values);
    }
  }
}
