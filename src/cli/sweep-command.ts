// `nin sweep`: a search space run as trials, each an ordinary run directory under one sweep directory
// (src/sweep/). `start` runs them on this machine, `run` runs one (a Slurm array task, a Kubernetes Indexed
// Job's pod), `report` tabulates them, `best` writes the space that trains the best one on several seeds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { RUNTIME_KEYS, type Runtime } from '../config/config';
import { UsageError } from '../sys/errors';
import { configOption, givenConfig, integer } from './config-options';
import { addEngineOptions, JSON_HELP, parseDuration, type Printer } from './shared';

/** The engine flags a sweep command was given on its command line (not their defaults): they override the space's "engine". */
function givenRuntime(cmd: Command): Partial<Runtime> {
  const given = givenConfig(cmd);
  return Object.fromEntries(RUNTIME_KEYS.filter((k) => given[k] !== undefined).map((k) => [k, given[k]])) as Partial<Runtime>;
}

const MAX_TRIAL = 9999;

function startCommand(printer: Printer): Command {
  const start = new Command('start')
    .description(
      'run every trial of the sweep that has not ended, --workers at a time on this machine; the same command continues a stopped sweep',
    )
    .argument('[space]', 'search space file (JSON, see README); not needed to continue a sweep whose --dir holds it')
    .requiredOption('--dir <dir>', 'the sweep directory (space.json, trials/NNNN run directories, logs/)')
    .option(
      '--workers <n>',
      'trials trained at once, each in its own process with the cores split between them',
      integer('--workers', 1, 256),
      1,
    )
    .option('--save-every <duration>', "also save each trial's last/ that often mid-epoch (as nin train --save-every)", parseDuration)
    .addOption(configOption('dataDir'));
  return addEngineOptions(start).action(async (space: string | undefined, opts, cmd: Command) => {
    const { readSpaceFile } = await import('../sweep/space');
    const { openSweep } = await import('../sweep/sweep-dir');
    const { startSweep } = await import('../sweep/pool');
    const { sweepReport, formatSweepReport } = await import('../sweep/report');
    const opened = openSweep(opts.dir, space ? readSpaceFile(space) : null, printer.err);
    try {
      await startSweep(opened, { workers: opts.workers, runtime: givenRuntime(cmd), saveEvery: opts.saveEvery, log: printer.err });
    } finally {
      printer.out(formatSweepReport(sweepReport(opened)));
    }
  });
}

function runCommand(printer: Printer): Command {
  const runOne = new Command('run')
    .description(
      'run one trial (default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX); an ended trial, or one another live process runs, is skipped with exit 0',
    )
    .argument('<sweep>', 'the sweep directory, or the space file with --dir (the first task creates the directory)')
    .option('--dir <dir>', 'the sweep directory, when <sweep> is the space file')
    .option('--trial <i>', 'the trial index', integer('--trial', 0, MAX_TRIAL))
    .option('--save-every <duration>', "also save the trial's last/ that often mid-epoch", parseDuration)
    .option('--no-wait', "skip a trial another host's process holds, instead of waiting until it ends or its lock is stale")
    .addOption(configOption('dataDir'));
  return addEngineOptions(runOne).action(async (target: string, opts, cmd: Command) => {
    const { readSpaceFile } = await import('../sweep/space');
    const { openSweep } = await import('../sweep/sweep-dir');
    const { checkTrialIndex, runTrial, scheduledIndex } = await import('../sweep/trial');
    const isFile = fs.existsSync(target) && !fs.statSync(target).isDirectory();
    if (isFile && !opts.dir) throw new UsageError(`${target} is a space file; pass the sweep directory too: --dir DIR`);
    if (!isFile && opts.dir) throw new UsageError(`--dir is for a space file; ${target} is the sweep directory itself`);
    const index = opts.trial !== undefined ? { index: opts.trial as number, from: '--trial' } : scheduledIndex();
    if (!index)
      throw new UsageError(
        'no trial to run: pass --trial i, or run under a Slurm job array ($SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX)',
      );
    // The space is read and the index checked before anything is created.
    const space = isFile ? readSpaceFile(target) : null;
    if (space && (index.index < 0 || index.index >= space.trials))
      throw new UsageError(`${index.from} ${index.index} is out of range: the space holds trials 0 to ${space.trials - 1}`);
    const opened = openSweep(isFile ? opts.dir : target, space, printer.err);
    checkTrialIndex(opened, index.index, index.from);
    const outcome = await runTrial(opened, index.index, {
      runtime: givenRuntime(cmd),
      log: printer.err,
      saveEvery: opts.saveEvery,
      handleSignals: true,
      waitForOtherHost: opts.wait,
    });
    printer.out(outcome.message);
  });
}

function reportCommand(printer: Printer): Command {
  return new Command('report')
    .description(
      "a table of the sweep's trials: varied keys, state, final and best accuracy, parameters, time; mean ± sd over seeds per configuration",
    )
    .argument('<dir>', 'the sweep directory')
    .option('--json', JSON_HELP)
    .option('--out <file>', 'also draw final accuracy against each varied key: an .svg, or a .png drawn by resvg')
    .action(async (dir: string, opts) => {
      const { openSweep } = await import('../sweep/sweep-dir');
      const { sweepReport, formatSweepReport, renderSweepSvg } = await import('../sweep/report');
      const result = sweepReport(openSweep(dir, null, printer.err));
      if (opts.out) {
        const out = path.resolve(opts.out);
        const { checkOutputFile } = await import('../sys/output-path');
        const format = checkOutputFile(out, { flag: '--out', command: 'nin sweep report', formats: ['svg', 'png'] });
        const svg = renderSweepSvg(result);
        if (format === 'png') {
          const { svgToPng } = await import('../report/plot');
          svgToPng(svg, out);
        } else {
          const { writeFileAtomic } = await import('../sys/safe-file');
          writeFileAtomic(out, svg);
        }
        printer.err(`picture: ${out}`);
      }
      printer.out(opts.json ? JSON.stringify(result) : formatSweepReport(result));
    });
}

function bestCommand(printer: Printer): Command {
  return new Command('best')
    .description(
      "the sweep's best configuration (its done trials' final accuracy, the mean over seeds when the seed varies) as a space file on stdout that trains it on --seeds seeds, for nin sweep start",
    )
    .argument('<dir>', 'the sweep directory')
    .option('--seeds <n>', 'train it on seeds 0 to n-1', integer('--seeds', 1, 100), 5)
    .addOption(configOption('epochs', { help: "epochs of each seed's run (default: the sweep's)", default: null }))
    .action(async (dir: string, opts: { seeds: number; epochs?: number }) => {
      const { openSweep } = await import('../sweep/sweep-dir');
      const { bestConfiguration, describeBest } = await import('../sweep/best');
      const { seedsSpaceFile } = await import('../sweep/space');
      const sweep = openSweep(dir, null, printer.err);
      const best = bestConfiguration(sweep);
      const space = seedsSpaceFile(sweep.space, best.values, { seeds: opts.seeds, epochs: opts.epochs });
      printer.err(describeBest(best));
      printer.out(JSON.stringify(space, null, 2));
    });
}

export function sweepCommand(printer: Printer): Command {
  const sweep = new Command('sweep').description(
    'a hyperparameter sweep: grid or seeded random search over recipe keys (architecture keys included) and seeds; trials are run directories under one sweep directory',
  );
  for (const sub of [startCommand, runCommand, reportCommand, bestCommand]) sweep.addCommand(sub(printer));
  return sweep;
}
