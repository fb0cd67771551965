// makeDirs (mkdir -p) when another process creates the same directory between its check and its mkdir, as two
// Slurm array tasks creating one sweep at the same moment do (CI saw "something already exists there").
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { makeDirs } from '../../src/sys/safe-file';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

// The fs module object itself (an ES namespace import is read-only); src/ reads its properties at each call.
const nodeFs = createRequire(__filename)('node:fs') as { existsSync: typeof fs.existsSync };

/** Runs f while fs.existsSync says `hidden` is missing: what a process sees just before another one makes it. */
function unseen<T>(hidden: string, f: () => T): T {
  const existsSync = nodeFs.existsSync;
  nodeFs.existsSync = (p) => (p === hidden ? false : existsSync(p));
  try {
    return f();
  } finally {
    nodeFs.existsSync = existsSync;
  }
}

describe('makeDirs', () => {
  test('a directory another process made after the check is what was asked: no error', () => {
    const dir = path.join(tempDir('nin-makedirs-'), 'sweep', 'trials');
    fs.mkdirSync(dir, { recursive: true });
    unseen(dir, () => makeDirs(dir));
    assert.ok(fs.statSync(dir).isDirectory());
  });

  test('a file in its place is still an error', () => {
    const file = path.join(tempDir('nin-makedirs-'), 'sweep');
    fs.writeFileSync(file, 'x');
    assert.throws(() => unseen(file, () => makeDirs(file)), { code: 'EEXIST' });
  });
});
