// Finding a checkpoint's directory and reading it as ONE save. nin train replaces a checkpoint by
// renaming a new directory into place (save.ts), so a reader that opens meta.json, then
// weights.bin, then optimizer.bin by name may get files of two saves while a run is saving. Every
// reader (nin eval, predict, --init-weights, --resume, nin serve) goes through readConsistent: it
// resolves the directory, notes its identity, reads, and reads again when a save landed meanwhile.
// Links: the CLI follows the path the user typed (followUserPath: their links are theirs), and
// nothing below it: a link nin finds in a run or checkpoint (nin train makes none) is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NinError } from '../../sys/errors';
import { linkRefused, LinkRefusedError } from '../../sys/read-file';
import { describeFsError } from '../../sys/safe-file';
import { checkpointFile, oldName, RUN_CHECKPOINTS } from '../layout';

/** No checkpoint where one was asked for (nin serve answers 404 when the directory is not there). */
export class NoCheckpointError extends NinError {
  constructor(message: string) {
    super(message);
    this.name = 'NoCheckpointError';
  }
}

// A checkpoint swapped while it is read is read again; saves are at least a second apart (--save-every
// 1s), a read takes a fraction of that, so two tries nearly always do; the pauses let a swap finish.
const ATTEMPTS = 8;
const PAUSE_MS = 10;

const LINK_FIX = 'replace the link with the directory or file it points to, or pass that checkpoint directory itself';

/** lstat, or null when nothing is there. */
function entry(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw describeFsError(err, `reading ${file}`, 'check the path and its permissions');
  }
}

/** Whether `dir` is a directory (a link is refused) holding a model.json. */
function holdsModel(dir: string): boolean {
  const stat = entry(dir);
  if (!stat) return false;
  if (stat.isSymbolicLink()) throw linkRefused(dir, LINK_FIX);
  return stat.isDirectory() && entry(checkpointFile(dir, 'model')) !== null;
}

/** `dir` if it holds a model, else its `.old` twin when a save is between its two renames. */
function landedCheckpoint(dir: string): string | null {
  if (holdsModel(dir)) return dir;
  if (entry(dir) === null && holdsModel(oldName(dir))) return oldName(dir);
  return null;
}

/**
 * A checkpoint directory, or a run directory (then its best/, else last/). Read-only: a swap a
 * crash interrupted is read from its `.old` side, never repaired here, so evaluating a run while it
 * trains cannot disturb its saves (training repairs its own directories on --resume). No link is
 * followed, `target` included: the CLI resolves the user's own path first (followUserPath).
 */
export function resolveCheckpointDir(target: string): string {
  const landed = landedCheckpoint(target);
  if (landed) return landed;
  const stat = entry(target);
  if (!stat) throw new NoCheckpointError(`${target} does not exist; pass a checkpoint directory (with model.json) or a run directory`);
  if (!stat.isDirectory())
    throw new NinError(`${target} is not a directory; pass a checkpoint directory (with model.json) or a run directory`);
  for (const sub of RUN_CHECKPOINTS) {
    const dir = landedCheckpoint(path.join(target, sub));
    if (dir) return dir;
  }
  throw new NoCheckpointError(
    `${target} has no model.json (and no best/ or last/ checkpoint); pass a checkpoint directory written by nin train`,
  );
}

/** The directory's identity: a save puts a new directory (another inode, a new ctime) in place. Null: gone or not a directory. */
function identity(dir: string): string | null {
  try {
    const stat = fs.lstatSync(dir);
    return stat.isDirectory() ? `${stat.dev}:${stat.ino}:${stat.mtimeMs}:${stat.ctimeMs}` : null;
  } catch {
    return null;
  }
}

/** Where `target` resolves now, or null. */
function resolvedNow(target: string): string | null {
  try {
    return resolveCheckpointDir(target);
  } catch {
    return null;
  }
}

/** Waits a little, synchronously (readers are synchronous): a save between its renames finishes meanwhile. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export interface ConsistentRead<T> {
  dir: string; // the checkpoint directory read (best/, last/, or its .old twin mid-save)
  identity: string; // its identity while it was read: unchanged from before the first file to after the last
  value: T;
}

/**
 * `read(dir)` of the checkpoint `target` resolves to, such that every file it read belongs to one
 * save: the directory's identity and `target`'s resolution are the same before and after the read,
 * else it is read again. A read that failed while a save landed (a file of the old directory
 * removed under it) is read again too; a failure of an unchanged directory is the checkpoint's own.
 * `reuse` may answer for a directory already read with this very identity (nin serve's cache).
 */
export function readConsistent<T>(
  target: string,
  read: (dir: string) => T,
  reuse?: (dir: string, identity: string) => T | undefined,
): ConsistentRead<T> {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const last = attempt === ATTEMPTS;
    if (attempt > 1) pause(PAUSE_MS * (attempt - 1));
    let dir: string;
    try {
      dir = resolveCheckpointDir(target);
    } catch (err) {
      // Between a save's two renames a reader may miss both names for an instant; a missing target, a link or a file is final.
      const nothing = entry(target) === null && entry(oldName(target)) === null;
      if (last || !(err instanceof NoCheckpointError) || nothing) throw err;
      continue;
    }
    const before = identity(dir);
    if (before === null) continue;
    const known = reuse?.(dir, before);
    if (known !== undefined) return { dir, identity: before, value: known };
    const changed = () => identity(dir) !== before || resolvedNow(target) !== dir;
    let value: T;
    try {
      value = read(dir);
    } catch (err) {
      if (!last && !(err instanceof LinkRefusedError) && changed()) continue;
      throw err;
    }
    if (!changed()) return { dir, identity: before, value };
  }
  throw new NinError(`${target} kept changing while it was read (a save every few milliseconds?); try again`);
}

/**
 * A checkpoint or run path the user typed, absolute, with the links in it followed: a link the user
 * made is theirs to follow. Everything nin finds below it is read without following links. A path
 * that does not exist is returned as typed (absolute), for the error that names it.
 */
export function followUserPath(typed: string): string {
  const absolute = path.resolve(typed);
  try {
    return fs.realpathSync(absolute);
  } catch {
    return absolute;
  }
}
