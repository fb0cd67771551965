#!/usr/bin/env node
// Prints README's table of config keys from the key table (src/config/keys.ts), for pasting between README's
// <!-- config-keys --> markers after a row changes; test/cli/flag-table.test.ts fails until it is pasted.
'use strict';
const { flagTable } = require('../dist/src/cli/flag-table');
process.stdout.write(`${flagTable()}\n`);
