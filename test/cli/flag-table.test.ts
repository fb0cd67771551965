// README's table of config keys is the key table's (config/keys.ts): a row added, changed or removed in one
// and not the other fails here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { flagTable } from '../../src/cli/flag-table';
import { CONFIG_KEY_NAMES } from '../../src/config/keys';
import { REPO_ROOT } from '../helpers/cli';

test("README's config-key table is the one src/config/keys.ts prints (node scripts/config-table.js)", () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const match = /<!-- config-keys:begin[^>]*-->\n([\s\S]*?)\n<!-- config-keys:end -->/.exec(readme);
  assert.ok(match, 'README lost its <!-- config-keys:begin --> ... <!-- config-keys:end --> markers');
  assert.equal(match[1], flagTable());
});

test('the table has one line per config key, each naming its key', () => {
  const rows = flagTable().split('\n').slice(2);
  assert.equal(rows.length, CONFIG_KEY_NAMES.length);
  CONFIG_KEY_NAMES.forEach((key, i) => assert.ok(rows[i].includes(`| \`${key}\` |`), rows[i]));
});
