// Reading a checkpoint's files without trusting them: every file is checked before it is used, as strictly as
// the CLI checks flags. Sizes are checked before bytes are read, weight specs before TF.js decodes them, and
// no NaN or infinity gets past: a bad checkpoint is one line, exit 1. Shared by meta.json, the model files,
// the optimizer state and foreign weight manifests (the other files of this folder).
import * as tf from '@tensorflow/tfjs';
import { NinError } from '../../sys/errors';
import type { FieldChecker } from '../../sys/field-check';
import { readJsonFile, readRegularFile } from '../../sys/read-file';

/** A tensor with its name, as tf.Optimizer.getWeights() returns them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** The fix every error about a checkpoint of a run ends with. */
export const USE_ANOTHER = 'use another checkpoint, e.g. best/ or last/ of the run';
const MAX_JSON_BYTES = 16e6; // model.json and meta.json are kilobytes
export const MAX_WEIGHT_BYTES = 256e6; // NiN's weights are 8 MB, Adam's state twice that
const MAX_WEIGHT_ENTRIES = 10_000;

/** A checkpoint's JSON file (a link refused: nin writes none), or a weights manifest the user named (`follow`). */
export function readCheckpointJson(file: string, fix: string, missing?: string, follow = false): unknown {
  return readJsonFile(file, { maxBytes: MAX_JSON_BYTES, fix, missing, noFollow: !follow });
}

/** A checkpoint's .bin file of exactly `expectedBytes` bytes: the size is compared before anything is read. */
export function readBin(file: string, expectedBytes: number, fix: string = USE_ANOTHER): ArrayBuffer {
  const buf = readRegularFile(file, {
    fix,
    what: 'a weights file',
    missing: `${file} is missing; the checkpoint is incomplete, ${fix}`,
    noFollow: true,
    maxBytes: expectedBytes,
    checkSize: (size) => {
      if (size !== expectedBytes)
        throw new NinError(`${file} has ${size} bytes, its manifest says ${expectedBytes}: the file is truncated or corrupt; ${fix}`);
    },
  });
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4 };

export function manifestBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[s.dtype], 0);
}

/**
 * A weights manifest's entries, each checked: a unique name, a shape of whole numbers, a dtype nin
 * writes, no quantization, and all of them together within MAX_WEIGHT_BYTES.
 */
export function checkSpecs(
  value: unknown,
  c: FieldChecker,
  key: string,
  dtypes: readonly ('float32' | 'int32')[],
  names = new Set<string>(),
): tf.io.WeightsManifestEntry[] {
  const list = c.array(key, value, MAX_WEIGHT_ENTRIES);
  let bytes = 0;
  return list.map((entry, i) => {
    const k = `${key}[${i}]`;
    const e = c.object(k, entry);
    const name = c.string(`${k}.name`, e.name);
    if (names.has(name)) c.fail(`${k}.name`, name, 'a name no other weight has');
    names.add(name);
    const shape = c.array(`${k}.shape`, e.shape, 8).map((d, j) => c.integer(`${k}.shape[${j}]`, d, 0, 2 ** 31 - 1));
    const dtype = c.choice(`${k}.dtype`, e.dtype, dtypes);
    if (e.quantization !== undefined) c.fail(`${k}.quantization`, e.quantization, 'absent (nin reads unquantized weights only)');
    bytes += shape.reduce((a, b) => a * b, DTYPE_BYTES[dtype]);
    if (bytes > MAX_WEIGHT_BYTES)
      c.fail(key, `${(bytes / 1e6).toFixed(0)} MB of weights`, `at most ${MAX_WEIGHT_BYTES / 1e6} MB (NiN's weights are 8 MB)`);
    return { name, shape, dtype };
  });
}

/** The first weight holding NaN or an infinity, and how many such values there are in all. */
export function nonFinite(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): { name: string; count: number } | null {
  let offset = 0;
  let first: string | null = null;
  let count = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.dtype === 'float32') {
      const values = new Float32Array(data, offset, n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(values[i])) {
          count++;
          first ??= s.name;
        }
      }
    }
    offset += n * DTYPE_BYTES[s.dtype];
  }
  return first === null ? null : { name: first, count };
}

export function refuseNonFinite(file: string, data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], fix: string): void {
  const bad = nonFinite(data, specs);
  if (bad) {
    throw new NinError(
      `${file} holds ${bad.count} NaN or infinite value${bad.count === 1 ? '' : 's'} (first in ${bad.name}): its run diverged or the file is damaged; ${fix}`,
    );
  }
}
