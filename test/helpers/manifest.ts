// Writes TF.js weights manifests (the format `nin train --init-weights` reads) for tests: the
// formula weights of the parity test and hand-made manifests of the checkpoint tests share it, so
// both exercise the same file layout.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ManifestWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * Writes `<dir>/init.json` and its weight bytes, split into `shards` files (`init.bin` when one,
 * else `init.bin.0`, `.1`, ...) at 4-byte boundaries, so a shard can end inside a weight as
 * tfjs's own writer does. Returns the manifest's path.
 */
export function writeWeightsManifest(dir: string, weights: ManifestWeight[], shards = 1): string {
  fs.mkdirSync(dir, { recursive: true });
  const bytes = Buffer.concat(weights.map((w) => Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength)));
  const cut = Math.floor(bytes.length / shards / 4) * 4;
  const paths = shards === 1 ? ['init.bin'] : Array.from({ length: shards }, (_, i) => `init.bin.${i}`);
  paths.forEach((p, i) => fs.writeFileSync(path.join(dir, p), bytes.subarray(i * cut, i === shards - 1 ? bytes.length : (i + 1) * cut)));
  const specs = weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' }));
  const file = path.join(dir, 'init.json');
  fs.writeFileSync(file, JSON.stringify({ weightsManifest: [{ paths, weights: specs }] }));
  return file;
}
