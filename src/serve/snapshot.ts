// A checkpoint as nin serve hands it to a browser: meta.json, model.json and weights.bin read together
// from one landed checkpoint directory and checked (checkpoint.ts), kept in memory under an id, so the
// model.json a page loads and the weights.bin it asks for next always belong to the same save, even
// while nin train swaps a new checkpoint into place between the two requests.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CheckpointMeta, readCheckpointFiles, resolveCheckpointDir } from '../checkpoint';
import { NinError } from '../errors';
import { HttpError } from './http';

export interface CheckpointSnapshot {
  id: string; // content hash of the weights: the weights URL names it
  dir: string; // the checkpoint directory it was read from
  identity: string; // that directory's path and identity when it was read
  meta: CheckpointMeta;
  modelJson: (weightsPath: string) => string; // model.json, its weights path pointing at this snapshot
  weights: Uint8Array;
}

const ATTEMPTS = 8; // a checkpoint swapped while it is read is read again; saves are seconds apart
const KEPT = 6; // snapshots kept for their weights: a page loading one while a newer one lands still gets its own

/** The identity of a directory: a checkpoint swap puts a new directory (another inode) in place. */
function identity(dir: string): string | null {
  try {
    const stat = fs.statSync(dir);
    return `${stat.dev}:${stat.ino}:${stat.mtimeMs}:${stat.ctimeMs}`; // a rename changes ctime: a directory swapped out and back in is noticed
  } catch {
    return null;
  }
}

/**
 * Reads a checkpoint directory whole, or throws. The directory's identity is taken before and after
 * the files are read: when it changed, a save landed meanwhile and the files may mix two saves, so
 * they are read again. `inside` is the real path of the run: a checkpoint reached through a symlink
 * that leads out of it is refused.
 */
export function readSnapshot(checkpointDir: string, inside: string, cache?: SnapshotCache): CheckpointSnapshot {
  for (let attempt = 1; ; attempt++) {
    const last = attempt === ATTEMPTS;
    let dir: string;
    try {
      // best/, or its .best.old twin in the instant between a save's two renames.
      dir = resolveCheckpointDir(checkpointDir);
    } catch (err) {
      if (!last) continue;
      if (!fs.existsSync(checkpointDir)) throw new HttpError(404, `no ${path.basename(checkpointDir)}/ checkpoint in this run yet`);
      throw err;
    }
    const before = identity(dir);
    if (before === null) {
      if (last) break;
      continue;
    }
    if (!isInside(fs.realpathSync(dir), inside))
      throw new HttpError(403, 'this checkpoint is a link out of its run; nin serve does not follow it');
    // The same directory, untouched since it was read: its files are the same (a save makes a new directory).
    const known = cache?.byIdentity(dir, before);
    if (known) return known;
    let files;
    try {
      files = readCheckpointFiles(dir);
    } catch (err) {
      // A file missing or half-there mid-swap reads as damage; the next attempt sees the new save.
      if (identity(dir) !== before && !last) continue;
      throw err;
    }
    if (identity(dir) !== before) {
      if (last) break;
      continue;
    }
    const weights = new Uint8Array(files.weightData);
    const id = createHash('sha256').update(weights).digest('hex').slice(0, 16);
    const { topology, specs, meta } = files;
    const snapshot: CheckpointSnapshot = {
      id,
      identity: `${dir}\n${before}`,
      dir: files.dir,
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
  throw new NinError(`${checkpointDir} kept changing while it was read (a save every few milliseconds?); try again`);
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
