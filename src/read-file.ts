// Reading a file nin did not necessarily write (a checkpoint, a picture, an IDX file, a log) without
// trusting it: regular files only (never a FIFO or /dev/zero that would block or never end), a size
// checked before a byte is read, and errors as one line in words, never raw errno.
import * as fs from 'node:fs';
import { NinError } from './errors';
import { describeFsError } from './safe-file';

export interface ReadLimits {
  maxBytes: number; // refuse bigger files before reading them
  fix: string; // what the user should do, ending each error line
  what?: string; // what the file should be, for "is a directory; <what>" (default: "a file")
  missing?: string; // the whole line for a file that does not exist (default: "<file> does not exist; <fix>")
}

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${bytes} bytes`;
}

/** The size of a regular file, or a NinError saying why `file` is not one. */
export function regularFileSize(file: string, limits: Pick<ReadLimits, 'fix' | 'what' | 'missing'>): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NinError(limits.missing ?? `${file} does not exist; ${limits.fix}`);
    throw describeFsError(err, `reading ${file}`, limits.fix);
  }
  if (stat.isDirectory()) throw new NinError(`${file} is a directory, not ${limits.what ?? 'a file'}; ${limits.fix}`);
  if (!stat.isFile()) throw new NinError(`${file} is not a regular file (a device, pipe or socket); ${limits.fix}`);
  return stat.size;
}

/** The whole content of a regular file of at most `maxBytes` bytes. */
export function readRegularFile(file: string, limits: ReadLimits): Buffer {
  const size = regularFileSize(file, limits);
  if (size > limits.maxBytes) {
    throw new NinError(
      `${file} is ${megabytes(size)}, more than the ${megabytes(limits.maxBytes)} nin reads for ${limits.what ?? 'such a file'}; ${limits.fix}`,
    );
  }
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    // Read what the size promised, at most: a file that grows meanwhile is not read past it.
    const buffer = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      const n = fs.readSync(fd, buffer, filled, size - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return filled === size ? buffer : buffer.subarray(0, filled);
  } catch (err) {
    throw describeFsError(err, `reading ${file}`, limits.fix);
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
