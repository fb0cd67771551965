// Writing files so that a crash, a full disk or a kill -9 never leaves a half-written one: durable
// writes, atomic replacement (temporary name, fsync, rename), and a mkdir -p that works everywhere.
// File-system failures become one NinError line that names the file and the fix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NinError } from './errors';

/** The temporary name a file or directory is written under before it is renamed into place. */
export function temporaryName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
}

/** Leftovers of a killed writer: `.<name>.tmp-<pid>` (and the older `<name>.tmp-<pid>`). */
export const TEMPORARY_PATTERN = /\.tmp-\d+$/;

/** Why a file-system call failed, in words instead of errno. */
const PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  EISDIR: 'a directory stands where a file should be',
  ENOTDIR: 'a file stands where a directory should be',
  ENOTEMPTY: 'something already exists there',
  EEXIST: 'something already exists there',
  ENOENT: 'a directory on the way is missing',
  EMFILE: 'too many open files',
  EIO: 'an input/output error from the device',
  ENAMETOOLONG: 'a file name is too long',
  ELOOP: 'too many symbolic links on the way',
  ENXIO: 'no such device or address',
};

/**
 * One line for a failed file-system call: `<problem> while <doing>; <fix>`, e.g. "no space left on
 * device while saving runs/a/last; free some space ...". A NinError passes through unchanged.
 */
export function describeFsError(err: unknown, doing: string, fix = 'check the path and its permissions'): NinError {
  if (err instanceof NinError) return err;
  const e = err as NodeJS.ErrnoException;
  const problem = (e?.code && PROBLEMS[e.code]) || `an unexpected error (${e?.message ?? String(err)})`;
  return new NinError(`${problem} while ${doing}; ${fix}`);
}

/** Writes a file and flushes it to disk, so a rename after it never exposes a half-written file. */
export function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data as Uint8Array);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes a directory's entries (a rename inside it) to disk, where the file system allows it. */
export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/** Replaces `file` whole: readers see the old content or the new one, never a mix. */
export function writeFileAtomic(file: string, data: string | Uint8Array, fix?: string): void {
  const tmp = temporaryName(file);
  try {
    writeDurable(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw describeFsError(err, `writing ${file}`, fix);
  }
  fsyncDir(path.dirname(file));
}

/**
 * mkdir -p, one level at a time: Node 20's recursive mkdirSync spins forever under /proc, where
 * creating a directory fails with ENOENT although its parent exists.
 */
export function makeDirs(dir: string): void {
  if (fs.existsSync(dir)) return;
  const parent = path.dirname(dir);
  if (parent !== dir) makeDirs(parent);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    // Another process made it since the check above (sweep array tasks creating one sweep together): that is
    // what was asked. Anything else there (a file) is still an error.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(dir).isDirectory()) throw err;
  }
}
