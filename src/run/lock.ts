// A run's one-writer lock (<run>/.lock): the pid of the process training it, taken by linking a file into
// place so two processes never both hold it, taken over from a process that is gone, and read without
// trusting it (a lock nin cannot have written is one line, never a hang).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NinError } from '../sys/errors';
import { MissingFileError, readRegularFile } from '../sys/read-file';
import { describeFsError, temporaryName, writeDurable } from '../sys/safe-file';
import { RUN_FILES } from './layout';
import { resumeCommand } from './resume-command';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const MAX_LOCK_BYTES = 64; // a pid and a newline

/**
 * The pid a run's lock names; null when there is no lock or it names no pid (a crash before its
 * write). A lock nin cannot have written (a FIFO, a directory, a link, a device, a huge file) is a
 * one-line NinError: it is read without blocking, following no link, and never past 64 bytes.
 */
function lockOwner(lock: string): number | null {
  let text: string;
  try {
    text = readRegularFile(lock, {
      maxBytes: MAX_LOCK_BYTES,
      what: 'a lock file',
      noFollow: true,
      fix: `nin train writes a pid there; remove it if no nin train is running on ${path.dirname(lock)}`,
    }).toString('utf8');
  } catch (err) {
    if (err instanceof MissingFileError) return null;
    throw err;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** The pid of the process training the run now, or null: no lock, its process is gone, or the lock is no lock. */
export function trainingPid(runDir: string): number | null {
  let owner: number | null;
  try {
    owner = lockOwner(path.join(runDir, RUN_FILES.lock));
  } catch {
    return null;
  }
  return owner !== null && isAlive(owner) ? owner : null;
}

/**
 * Takes the run's lock: a file holding our pid, linked into place so two processes can never both
 * hold it. A lock whose process is gone (kill -9, a crash) is taken over.
 */
export function acquireLock(runDir: string): void {
  const lock = path.join(runDir, RUN_FILES.lock);
  const tmp = temporaryName(lock);
  try {
    writeDurable(tmp, `${process.pid}\n`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(tmp, lock);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = lockOwner(lock); // a lock that is no regular file is refused here, in one line
      if (owner !== null && owner !== process.pid && isAlive(owner)) {
        throw new NinError(
          `${runDir} is being trained by process ${owner}; wait for it to finish or stop it (kill ${owner}), then ${resumeCommand(runDir)}`,
        );
      }
      fs.rmSync(lock, { force: true }); // its process is gone
    }
    throw new NinError(`${runDir} is being taken over by another process; try again`);
  } catch (err) {
    throw describeFsError(err, `locking ${runDir}`, 'free some space, or pass a run directory you can write to');
  } finally {
    // Also after a failed write (a full disk): no `.lock.tmp-PID` is left behind.
    fs.rmSync(tmp, { force: true });
  }
}

/** Removes the run's lock if this process holds it (a lock someone replaced is not ours to remove). */
export function releaseLock(runDir: string): void {
  const lock = path.join(runDir, RUN_FILES.lock);
  try {
    if (lockOwner(lock) === process.pid) fs.rmSync(lock, { force: true });
  } catch {
    // Not our lock any more (someone replaced it): it is not ours to remove.
  }
}
