#!/usr/bin/env node
// The `nin` executable: runs the compiled CLI (npm ci builds it into dist/).
'use strict';
let cli;
try {
  cli = require('../dist/src/cli.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli.js')) {
    process.stderr.write('nin: not built yet; run npm ci (or npm run build) in the nin directory\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
