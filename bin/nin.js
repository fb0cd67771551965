#!/usr/bin/env node
// The `nin` executable: runs the compiled CLI (npm ci builds it into dist/).
'use strict';
let cli;
try {
  // First of all, so that a Ctrl-C while the CLI loads (TF.js takes a few hundred ms) is one line, not silence.
  require('../dist/src/sys/signals.js').exitOnSignals();
  cli = require('../dist/src/cli/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && /dist\/src\/(sys\/signals|cli\/main)\.js/.test(String(err.message))) {
    process.stderr.write('nin: not built yet; run npm ci (or npm run build) in the nin directory\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
