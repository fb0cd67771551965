// A checkpoint as nin serve hands it to a browser: meta.json, model.json and weights.bin of one save,
// read and checked by checkpoint.ts's one reader (checkpoint-read.ts keeps them of one save), kept in
// memory under an id, so the model.json a page loads and the weights.bin it asks for next always
// belong to the same save, even while nin train swaps a new checkpoint into place between the two
// requests. What is HTTP here: the reader's failures as 403 and 404.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CheckpointFiles, readCheckpointFiles } from '../run/checkpoint/load';
import type { CheckpointMeta } from '../run/checkpoint/meta';
import { NoCheckpointError } from '../run/checkpoint/read';
import { LinkRefusedError } from '../sys/read-file';
import { HttpError } from './http';

export interface CheckpointSnapshot {
  id: string; // content hash of the weights: the weights URL names it
  dir: string; // the checkpoint directory it was read from
  identity: string; // that directory's path and identity when it was read
  files: CheckpointFiles; // what was read, for the cache
  meta: CheckpointMeta;
  modelJson: (weightsPath: string) => string; // model.json, its weights path pointing at this snapshot
  weights: Uint8Array;
}

const KEPT = 6; // snapshots kept for their weights: a page loading one while a newer one lands still gets its own

/**
 * Reads a checkpoint directory whole (all of one save: checkpoint-read.ts), or throws: 404 when the
 * run has no such checkpoint yet, 403 for a link (the checkpoint, or a file in it: nin serve serves
 * nothing from outside the run), else the checkpoint's own one-line problem. `inside` is the real
 * path of the run: a run directory that became a link to elsewhere since it was found is refused too.
 */
export function readSnapshot(checkpointDir: string, inside: string, cache?: SnapshotCache): CheckpointSnapshot {
  const refused = () => new HttpError(403, 'this checkpoint is, or holds, a link; nin serve follows no link inside a run');
  let run: string;
  try {
    run = fs.realpathSync(path.dirname(checkpointDir));
  } catch {
    throw new HttpError(404, 'this run is no longer there');
  }
  if (!isInside(run, inside)) throw refused();
  let files: CheckpointFiles;
  try {
    files = readCheckpointFiles(checkpointDir, { reuse: cache && ((dir, identity) => cache.byIdentity(dir, identity)?.files) });
  } catch (err) {
    if (err instanceof LinkRefusedError) throw refused();
    if (err instanceof NoCheckpointError && !fs.existsSync(checkpointDir))
      throw new HttpError(404, `no ${path.basename(checkpointDir)}/ checkpoint in this run yet`);
    throw err;
  }
  const known = cache?.byIdentity(files.dir, files.identity);
  if (known) return known;
  const weights = new Uint8Array(files.weightData);
  const id = createHash('sha256').update(weights).digest('hex').slice(0, 16);
  const { topology, specs, meta } = files;
  const snapshot: CheckpointSnapshot = {
    id,
    identity: `${files.dir}\n${files.identity}`,
    dir: files.dir,
    files,
    meta,
    weights,
    modelJson: (weightsPath) =>
      JSON.stringify({
        format: 'layers-model',
        generatedBy: `nin ${meta.nin}`,
        convertedBy: null,
        modelTopology: topology,
        weightsManifest: [{ paths: [weightsPath], weights: specs }],
      }),
  };
  cache?.add(snapshot);
  return snapshot;
}

/** Whether the real path `file` is `root` or inside it. */
export function isInside(file: string, root: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** The last few snapshots by id, for the weights requests that follow a model.json. */
export class SnapshotCache {
  private readonly byId = new Map<string, CheckpointSnapshot>();

  add(snapshot: CheckpointSnapshot): void {
    this.byId.delete(snapshot.id);
    this.byId.set(snapshot.id, snapshot);
    while (this.byId.size > KEPT) this.byId.delete(this.byId.keys().next().value as string);
  }

  get(id: string): CheckpointSnapshot | undefined {
    return this.byId.get(id);
  }

  byIdentity(dir: string, identity: string): CheckpointSnapshot | undefined {
    const key = `${dir}\n${identity}`;
    return [...this.byId.values()].find((s) => s.identity === key);
  }
}
