// A run's one-writer lock (<run>/.lock): `pid@host` of the process training it, taken by linking a file into
// place so two processes never both hold it, taken over from a process that is gone (on another host: one that
// stopped rewriting it, the heartbeat), and read without trusting it (a lock nin cannot have written is one
// line, never a hang). Several hosts may share a run directory (nin sweep on a cluster's shared file system).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NinError } from '../sys/errors';
import { MissingFileError, readRegularFile } from '../sys/read-file';
import { describeFsError, temporaryName, writeDurable } from '../sys/safe-file';
import { RUN_FILES } from './layout';
import { resumeCommand } from './resume-command';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * Whether a process has ended but not been reaped (Linux: state Z in /proc/<pid>/stat). A trainer killed
 * with -9 whose parent died too stays a zombie wherever nothing reaps orphans (a container whose pid 1 is
 * not an init), and signal 0 still reaches it; it trains nothing. Elsewhere (no /proc) this says false.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/**
 * How often a training process rewrites its lock, and how long a lock of another host may go without it
 * before it counts as left behind (its host crashed or lost the shared directory). A pid means nothing on
 * another host, so there the lock's age is all there is; the margin covers a step or save that holds the
 * JS thread for minutes (the heartbeat is a timer on it) and clocks a little apart. Ages are measured on
 * the file system's own clock where nin can (a file it has just written), not this host's.
 */
export const LOCK_HEARTBEAT_SECONDS = 60;
export const LOCK_STALE_SECONDS = 600;
/** `pid@host` and a newline: a host name holds at most 255 bytes. */
const MAX_LOCK_BYTES = 300;
/** What a lock holds: the pid, then the host (absent in locks written before hosts were recorded: this host). */
const LOCK_LINE = /^(\d{1,10})(?:@([^\s@]{1,255}))?\s*$/;

/** Who holds a run's lock, read from the file. */
export interface LockOwner {
  pid: number;
  host: string; // os.hostname() of the process holding it
  local: boolean; // on this host, so its pid can be checked; otherwise only the lock's age tells
  ageSeconds: number; // since its holder last wrote it (a heartbeat), as of the read
}

interface LockFile extends LockOwner {
  ino: number; // which file it was: a takeover removes only the lock it judged
}

/** The text of this process's lock. */
export function lockText(): string {
  return `${process.pid}@${os.hostname()}\n`;
}

function isOurs(owner: LockOwner): boolean {
  return owner.local && owner.pid === process.pid;
}

/** Whether the lock's holder may still be training: its pid lives (this host), or it wrote the lock lately (another host). */
function isLive(owner: LockOwner): boolean {
  return owner.local ? isAlive(owner.pid) : owner.ageSeconds < LOCK_STALE_SECONDS;
}

/**
 * The lock's owner; null when there is no lock or it names no owner (a crash before its write). A lock nin
 * cannot have written (a FIFO, a directory, a link, a device, a huge file) is a one-line NinError: it is read
 * without blocking, following no link, and never past MAX_LOCK_BYTES. `now` is the time its age is measured
 * against, in ms (by default this host's clock).
 */
function readLock(lock: string, now = Date.now()): LockFile | null {
  let text: string;
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(lock, { throwIfNoEntry: false });
    text = readRegularFile(lock, {
      maxBytes: MAX_LOCK_BYTES,
      what: 'a lock file',
      noFollow: true,
      fix: `nin train writes its pid@host there; remove it if no nin train is running on ${path.dirname(lock)}`,
    }).toString('utf8');
  } catch (err) {
    if (err instanceof MissingFileError) return null;
    throw err;
  }
  const match = LOCK_LINE.exec(text);
  const pid = match ? Number(match[1]) : NaN;
  if (!stat || !Number.isSafeInteger(pid) || pid <= 0) return null;
  const host = match?.[2] ?? os.hostname();
  return { pid, host, local: host === os.hostname(), ageSeconds: Math.max(0, (now - stat.mtimeMs) / 1000), ino: stat.ino };
}

/** Who is training the run now, or null: no lock, its process is gone (or silent too long on another host), or the lock is no lock. */
export function lockHolder(runDir: string): LockOwner | null {
  let owner: LockFile | null;
  try {
    owner = readLock(path.join(runDir, RUN_FILES.lock));
  } catch {
    return null;
  }
  if (owner === null || !isLive(owner)) return null;
  const { pid, host, local, ageSeconds } = owner;
  return { pid, host, local, ageSeconds };
}

/** The pid of the process training the run now, or null (see lockHolder); on another host, a pid of that host. */
export function trainingPid(runDir: string): number | null {
  return lockHolder(runDir)?.pid ?? null;
}

/** A run another live process is training (or taking over right now): `owner` says who, when known. */
export class RunLockedError extends NinError {
  constructor(
    message: string,
    readonly owner: LockOwner | null,
  ) {
    super(message);
    this.name = 'RunLockedError';
  }
}

/** "process 123" on this host, "process 123 on node-7 (its lock written 40 s ago)" on another. */
export function describeLockOwner(owner: LockOwner): string {
  return owner.local
    ? `process ${owner.pid}`
    : `process ${owner.pid} on ${owner.host} (its lock written ${Math.round(owner.ageSeconds)} s ago)`;
}

/** A takeover that has not finished within this long was cut short (its process died): the next may go ahead. */
const BREAK_STALE_SECONDS = 60;

/**
 * Removes the lock `seen` judged left behind, unless it changed since. Takeovers go one at a time through
 * `.lock.break` (a link of the taker's own lock file, so it knows it by its inode): otherwise two processes
 * that both judged the same lock dead could each remove it, the second removing the first one's new lock,
 * and both would train. Taking the lock when none is there needs no turn (the link into place is atomic).
 */
function breakLock(lock: string, seen: LockFile | null, tmp: string, now: number): void {
  const breaker = `${lock}.break`;
  try {
    fs.linkSync(tmp, breaker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process is taking over now; unless its takeover was cut short, it wins and we look again.
    const other = readLock(breaker, now);
    if (other === null || (other.local ? !isAlive(other.pid) : other.ageSeconds >= BREAK_STALE_SECONDS))
      fs.rmSync(breaker, { force: true });
    return;
  }
  const ours = fs.statSync(tmp).ino;
  try {
    const current = readLock(lock, now);
    const same = seen === null ? current === null : current !== null && current.ino === seen.ino;
    if (same) fs.rmSync(lock, { force: true });
  } finally {
    if (fs.lstatSync(breaker, { throwIfNoEntry: false })?.ino === ours) fs.rmSync(breaker, { force: true });
  }
}

/**
 * Takes the run's lock: a file holding our pid@host, linked into place so two processes can never both
 * hold it. A lock whose process is gone (kill -9, a crash), or on another host that stopped writing it
 * LOCK_STALE_SECONDS ago, is taken over.
 */
export function acquireLock(runDir: string): void {
  const lock = path.join(runDir, RUN_FILES.lock);
  const tmp = temporaryName(lock);
  try {
    writeDurable(tmp, lockText());
    // The file system's clock, which also stamped the other hosts' heartbeats.
    const now = fs.statSync(tmp).mtimeMs;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(tmp, lock);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readLock(lock, now); // a lock that is no regular file is refused here, in one line
      if (owner !== null && !isOurs(owner) && isLive(owner)) {
        const stop = owner.local
          ? `wait for it to finish or stop it (kill ${owner.pid}), then ${resumeCommand(runDir)}`
          : `wait for it to finish or stop it there; if that host is gone, nin takes the run over once the lock is ${LOCK_STALE_SECONDS / 60} minutes old`;
        throw new RunLockedError(`${runDir} is being trained by ${describeLockOwner(owner)}; ${stop}`, owner);
      }
      breakLock(lock, owner, tmp, now); // its process is gone
    }
    throw new RunLockedError(`${runDir} is being taken over by another process; try again`, null);
  } catch (err) {
    throw describeFsError(err, `locking ${runDir}`, 'free some space, or pass a run directory you can write to');
  } finally {
    // Also after a failed write (a full disk): no `.lock.tmp-PID` is left behind.
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Rewrites our lock in place (same bytes, so its time is the file system's now), through one descriptor
 * opened without following a link: only while it still names us. Failures are ignored: the next beat tries again.
 */
function rewriteLock(lock: string): void {
  let fd: number;
  try {
    fd = fs.openSync(lock, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const stat = fs.fstatSync(fd);
    const ours = lockText();
    if (!stat.isFile() || stat.size !== Buffer.byteLength(ours)) return;
    const buffer = Buffer.alloc(stat.size);
    if (fs.readSync(fd, buffer, 0, stat.size, 0) !== stat.size || buffer.toString('utf8') !== ours) return;
    fs.writeSync(fd, buffer, 0, buffer.length, 0);
  } catch {
    // A full disk or a vanished file: the lock ages, and that is all.
  } finally {
    fs.closeSync(fd);
  }
}

/** The heartbeat of a run this process trains: rewrites its lock while it still names us. */
export function refreshLock(runDir: string): void {
  rewriteLock(path.join(runDir, RUN_FILES.lock));
}

/** Removes the run's lock if this process holds it (a lock someone replaced is not ours to remove). */
export function releaseLock(runDir: string): void {
  const lock = path.join(runDir, RUN_FILES.lock);
  try {
    const owner = readLock(lock);
    if (owner !== null && isOurs(owner)) fs.rmSync(lock, { force: true });
  } catch {
    // Not our lock any more (someone replaced it): it is not ours to remove.
  }
}

/**
 * Whether `file` in a run directory is a fresh `.lock.tmp-PID`: another process trying the lock right now (it
 * removes its own; one killed while trying leaves it, and it is old by the next open). --resume's clean-up of
 * temporary files leaves it alone.
 */
export function isFreshLockAttempt(file: string): boolean {
  if (!path.basename(file).startsWith(`.${RUN_FILES.lock}.tmp-`)) return false;
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  return stat !== undefined && Math.abs(Date.now() - stat.mtimeMs) < BREAK_STALE_SECONDS * 1000;
}
