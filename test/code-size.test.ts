// The size limits of nin's sources (issue 23): no file in src/ over 400 lines, no function over 80
// (scripts/code-size.js measures them with the TypeScript parser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { REPO_ROOT } from './helpers/cli';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain Node script, shared with the command line
const codeSize = require(path.join(REPO_ROOT, 'scripts', 'code-size.js')) as {
  offenders(dirs: string[], root: string): { kind: 'file' | 'function'; where: string; lines: number }[];
};

test('no file in src/ over 400 lines and no function over 80', () => {
  const found = codeSize.offenders(['src'], REPO_ROOT);
  assert.deepEqual(
    found.map((o) => `${o.kind} ${o.where}: ${o.lines} lines`),
    [],
    'split these at their seams (node scripts/code-size.js --all lists the largest)',
  );
});
