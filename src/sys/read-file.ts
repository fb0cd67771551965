// Reading a file nin did not necessarily write (a checkpoint, a picture, an IDX file, a log, a lock)
// without trusting it: opened without blocking (a FIFO never hangs nin), checked on the open
// descriptor (what is read is what was checked, even if the name is swapped meanwhile), regular
// files only (never /dev/zero or a pipe), a size limit before a byte is read, links refused where
// nin never makes one, JSON refused when it nests deeper than nin's own files, and errors as one
// line in words, never raw errno.
import * as fs from 'node:fs';
import { NinError } from './errors';
import { describeFsError } from './safe-file';

export interface ReadLimits {
  maxBytes: number; // refuse bigger files before reading them
  fix: string; // what the user should do, ending each error line
  what?: string; // what the file should be, for "is a directory; <what>" (default: "a file")
  missing?: string; // the whole line for a file that does not exist (default: "<file> does not exist; <fix>")
  noFollow?: boolean; // a symbolic link is refused, not followed (files inside a run or checkpoint: nin makes none)
  checkSize?: (size: number) => void; // throws when the size is not the one expected (a weights file's manifest size)
}

/** A file that is not there (ENOENT): callers for whom absence is normal (a lock) tell it from damage. */
export class MissingFileError extends NinError {
  constructor(message: string) {
    super(message);
    this.name = 'MissingFileError';
  }
}

/** A symbolic link where nin follows none: nin serve answers it with 403, the CLI with one line. */
export class LinkRefusedError extends NinError {
  constructor(message: string) {
    super(message);
    this.name = 'LinkRefusedError';
  }
}

/** The line for a link found where nin never makes one. */
export function linkRefused(file: string, fix: string): LinkRefusedError {
  return new LinkRefusedError(`${file} is a symbolic link; nin follows no link inside a run or checkpoint (nin train makes none): ${fix}`);
}

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${bytes} bytes`;
}

// O_NONBLOCK: opening a FIFO for reading waits for a writer, forever; with it the open returns at
// once and fstat says what it is. Regular files ignore the flag.
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

type Checks = Pick<ReadLimits, 'fix' | 'what' | 'missing' | 'noFollow'>;

/** Opens `file` for reading and checks, on the descriptor, that it is a regular file; returns it with its size. */
function openRegular(file: string, limits: Checks): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS | (limits.noFollow ? fs.constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MissingFileError(limits.missing ?? `${file} does not exist; ${limits.fix}`);
    if (code === 'ELOOP' && limits.noFollow) throw linkRefused(file, limits.fix);
    // ENXIO: a socket, or a device with nothing behind it.
    if (code === 'ENXIO' || code === 'ENODEV') throw notRegular(file, limits);
    throw describeFsError(err, `reading ${file}`, limits.fix);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new NinError(`${file} is a directory, not ${limits.what ?? 'a file'}; ${limits.fix}`);
    if (!stat.isFile()) throw notRegular(file, limits);
    return { fd, size: stat.size };
  } catch (err) {
    fs.closeSync(fd);
    throw describeFsError(err, `reading ${file}`, limits.fix);
  }
}

function notRegular(file: string, limits: Checks): NinError {
  return new NinError(`${file} is not a regular file (a device, pipe or socket); ${limits.fix}`);
}

/** The size of a regular file, or a NinError saying why `file` is not one. */
export function regularFileSize(file: string, limits: Checks): number {
  const { fd, size } = openRegular(file, limits);
  fs.closeSync(fd);
  return size;
}

/** The whole content of a regular file of at most `maxBytes` bytes. */
export function readRegularFile(file: string, limits: ReadLimits): Buffer {
  const { fd, size } = openRegular(file, limits);
  try {
    limits.checkSize?.(size);
    if (size > limits.maxBytes) {
      throw new NinError(
        `${file} is ${megabytes(size)}, more than the ${megabytes(limits.maxBytes)} nin reads for ${limits.what ?? 'such a file'}; ${limits.fix}`,
      );
    }
    // Read what fstat promised, at most: a file that grows meanwhile is not read past it.
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
    fs.closeSync(fd);
  }
}

/**
 * Deepest nesting of objects and arrays any JSON nin reads may have: its own files nest at most
 * 8 levels (a layer's initializer in model.json). JSON.parse takes any depth, but printing or
 * walking a 200,000-deep value overflows the stack.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` nests objects and arrays more than `limit` deep (brackets inside strings do not count). */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** JSON text from `where` (a file, or a file's line), parsed: one line for invalid or over-deep JSON. */
export function parseJson(text: string, where: string, fix: string, invalid = 'is not valid JSON (corrupt or truncated)'): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH))
    throw new NinError(`${where} nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep, which no nin file does; ${fix}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new NinError(`${where} ${invalid}; ${fix}`);
  }
}

/** A JSON file read as readRegularFile reads (size first, regular files only) and parsed by parseJson. */
export function readJsonFile(file: string, limits: ReadLimits): unknown {
  return parseJson(readRegularFile(file, { what: 'a JSON file', ...limits }).toString('utf8'), file, limits.fix);
}
