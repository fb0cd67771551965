#!/usr/bin/env node
// README's exercise table from sweep directories: one row per configuration of each sweep (its seeds
// pooled), with the variant's parameters, multiply-adds and training memory from `nin shapes`, the
// images/s its trials trained at, the final test accuracy as mean ± sample sd over the seeds, and the
// same over the seeds that did not collapse (the report's count: a run that ends with nine of the ten
// classes dead is at chance, NiN's known failure).
//
//   node scripts/exercise-table.js SWEEP_DIR... > table.md
//
// It reads what `nin sweep report --json` and `nin shapes --json` print, so it shows what anyone can
// rerun; trials not yet ended are counted in the "runs" column and left out of the accuracy.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const NIN = path.join(__dirname, '..', 'bin', 'nin.js');
// The architecture keys and their flags from the key table itself (the build's), not a copy here.
const { ARCHITECTURE_KEYS } = require('../dist/src/model/architecture');
const { CONFIG_RULES } = require('../dist/src/config/check');

function nin(args) {
  return JSON.parse(execFileSync(process.execPath, [NIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
}

/** The config of a trial's run (config.json), for its image size, batch and architecture. */
function trialConfig(dir, trial) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'trials', String(trial).padStart(4, '0'), 'config.json'), 'utf8'));
}

/** Median images/s over the epochs of the given trials (metrics.jsonl's examplesPerSec). */
function imagesPerSec(dir, trials) {
  const speeds = [];
  for (const trial of trials) {
    const file = path.join(dir, 'trials', String(trial).padStart(4, '0'), 'metrics.jsonl');
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) if (line.trim()) speeds.push(JSON.parse(line).examplesPerSec);
  }
  speeds.sort((a, b) => a - b);
  return speeds.length ? speeds[Math.floor(speeds.length / 2)] : null;
}

/** Mean ± sample sd as the table writes it, '-' for none. */
function formatMeanSd({ mean, sd }) {
  if (mean === null) return '-';
  return sd === null ? mean.toFixed(3) : `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
}

const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;
const millions = (n) => `${(n / 1e6).toFixed(2)} M`;

const rows = [];
for (const dir of process.argv.slice(2)) {
  const report = nin(['sweep', 'report', dir, '--json']);
  for (const group of report.groups) {
    const config = trialConfig(dir, group.trials[0]);
    const flags = ['--image-size', String(config.imageSize), '--batch-size', String(config.batchSize), '--json'];
    for (const key of ARCHITECTURE_KEYS)
      if (config[key] !== null && config[key] !== undefined) flags.push(CONFIG_RULES[key].flag, String(config[key]));
    const shapes = nin(['shapes', ...flags]);
    const variant = Object.entries(group.values)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const ended = report.trials.filter((t) => group.trials.includes(t.trial) && t.state === 'done').map((t) => t.testAcc);
    const accuracy = formatMeanSd(group);
    const speed = imagesPerSec(dir, group.trials);
    rows.push(
      `| ${variant} | ${shapes.description} | ${millions(shapes.totalParams)} | ${millions(shapes.totalMultiplyAdds)} | ` +
        `${mib(shapes.memory.training.fp32.total[config.optimizer] ?? shapes.memory.training.fp32.total.sgd)} at batch ${config.batchSize} | ` +
        `${speed === null ? '-' : Math.round(speed)} | ${accuracy} | ${ended.map((a) => a.toFixed(3)).join(', ')} (${group.n}/${group.trials.length}) | ` +
        `${group.collapsed} | ${formatMeanSd(group.others)} |`,
    );
  }
}
console.log(
  '| varied | network | parameters | multiply-adds per image | training memory (fp32, nin shapes) | images/s | test acc (mean ± sd) | per seed (ended/runs) | collapsed | test acc of the others |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
