#!/usr/bin/env node
// Builds the oneDNN addon (native/) during `npm ci` / `npm rebuild` when libdnnl-dev is installed.
// Without oneDNN the install still succeeds: nin then runs on TF.js's pure-JS kernels and says how to fix it.
'use strict';
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const header = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find(existsSync);
if (!header) {
  console.warn('nin: oneDNN headers not found; skipping the native backend (apt-get install libdnnl-dev, then npm rebuild).');
  process.exit(0);
}
const root = path.join(__dirname, '..');
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
} catch {
  gyp = process.env.npm_config_node_gyp;
}
if (!gyp) {
  console.warn('nin: node-gyp not found; skipping the native backend (run npm ci with dev dependencies, then npm rebuild).');
  process.exit(0);
}
// Outside npm (no npm_config_nodedir), use the headers installed next to this node rather than downloading them.
const args = [gyp, 'rebuild'];
const prefix = path.dirname(path.dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, args, { cwd: path.join(root, 'native'), stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('nin: building the oneDNN addon failed (see above); nin will use the slow pure-JS backend.');
}
process.exit(0);
