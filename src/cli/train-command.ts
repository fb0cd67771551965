// `nin train`'s options (the key table's recipe and runtime rows, and the run's own), their combinations, and the
// config it resolves: --recipe or --config, then the flags given; --resume refuses recipe flags.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { addConfigOptions, configOption, givenConfig, real, RESUME_REFUSES } from './config-options';
import { readConfigFile } from '../config/check';
import { RECIPE_KEYS } from '../config/config';
import { UsageError } from '../sys/errors';
import {
  DEFAULT_RECIPE_NAME,
  RECIPE_NAMES,
  RECIPES,
  type RecipeName,
  type ResolvedConfig,
  resolveConfigFile,
  resolveRecipe,
} from '../config/recipes';
import { architectureOf, checkArchitecture } from '../model/architecture';
import { addEngineOptions, parseDuration, type Printer } from './shared';

/** A recipe option the user gave, as typed: `--no-nesterov` rather than `--nesterov` when it set false. */
function givenFlag(cmd: Command, attribute: string): string {
  const negated = cmd.getOptionValue(attribute) === false;
  const option =
    cmd.options.find((o) => o.attributeName() === attribute && o.negate === negated) ??
    cmd.options.find((o) => o.attributeName() === attribute);
  return option?.long ?? attribute;
}

/** Options of `nin train` that cannot go together, and --resume with recipe options (exit 2). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function checkTrainCombinations(opts: any, cmd: Command): void {
  if (opts.resume && opts.run) throw new UsageError('--run and --resume exclude each other: --resume takes the run directory');
  if (opts.resume && opts.initWeights)
    throw new UsageError("--init-weights starts a new run; --resume continues from the run's own last/ checkpoint: drop one");
  if (!opts.resume) return;
  const given = RESUME_REFUSES.filter((a) => cmd.getOptionValueSource(a) === 'cli').map((a) => givenFlag(cmd, a));
  if (given.length) {
    throw new UsageError(
      `--resume continues a run with its own recipe (its config.json), so ${given.join(', ')} cannot change: drop ${given.length === 1 ? 'it' : 'them'}, or start a new run from it with --init-weights ${opts.resume}`,
    );
  }
}

/**
 * The config a `nin train` would run: --config's file (paths in it relative to the file) or --recipe's,
 * then the flags given. A file is a whole config, so --recipe beside it is refused; --resume runs its
 * own config.json, so --config and --print-config are refused beside it (exit 2).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function resolveTrainConfig(opts: any, cmd: Command): ResolvedConfig {
  if (opts.resume && (opts.config || opts.printConfig))
    throw new UsageError(
      `--resume continues a run with its own config.json, so ${opts.config ? '--config' : '--print-config'} cannot go with it: read ${path.join(opts.resume, 'config.json')} instead`,
    );
  if (!opts.config) return resolveRecipe(opts.recipe as RecipeName, givenConfig(cmd));
  if (cmd.getOptionValueSource('recipe') === 'cli')
    throw new UsageError('--config and --recipe exclude each other: the file is a whole config; drop one');
  const file = path.resolve(opts.config);
  const saved = readConfigFile(file, "fix the file, or pass a run's config.json to --config");
  const relative = (p: string | null) => (p === null ? null : path.resolve(path.dirname(file), p));
  return resolveConfigFile({ ...saved, dataDir: relative(saved.dataDir), initWeights: relative(saved.initWeights) }, givenConfig(cmd));
}

export function trainCommand(printer: Printer): Command {
  const command = new Command('train')
    .description(
      "train NiN with d2l's recipe (train_ch6 defaults, shown below) or a named --recipe, writing checkpoints and logs to <out>/<run>/",
    )
    .addOption(
      new Option(
        '--recipe <name>',
        `start from a named recipe; flags given beside it override it: ${RECIPE_NAMES.map((n) => `${n} (${RECIPES[n].summary})`).join('; ')}`,
      )
        .choices(RECIPE_NAMES)
        .default(DEFAULT_RECIPE_NAME),
    )
    .option(
      '--config <file>',
      "start from a config file (a run's config.json works) instead of a --recipe; flags given beside it override it",
    )
    .option('--print-config', 'print the resolved config as JSON (what config.json would hold) and exit without training');
  addConfigOptions(command, RECIPE_KEYS)
    .option('--out <dir>', 'directory for runs (relative to the current directory)', 'checkpoints')
    .option('--run <name>', 'run name (default: a timestamp)')
    .option(
      '--resume <runDir>',
      'continue a run from its last/ checkpoint, with its own recipe (only --epochs and the engine options may change)',
    )
    .option(
      '--log-every <seconds>',
      'when stderr is not a terminal, a progress line every this many seconds (0: none)',
      real('--log-every', 0, 86400),
      30,
    )
    .option(
      '--save-every <duration>',
      'also save last/ mid-epoch this often (e.g. 90s, 10m, 1h), so a kill -9 loses at most that long',
      parseDuration,
    )
    .option('--tensorboard [dir]', 'write TensorBoard event files (default dir: <run>/tensorboard)');
  addEngineOptions(command).addOption(configOption('dataDir'));
  return command.action(async (opts, cmd: Command) => {
    checkTrainCombinations(opts, cmd);
    const { config, sources } = resolveTrainConfig(opts, cmd);
    if (config.initWeights && !fs.existsSync(config.initWeights))
      throw new UsageError(
        `--init-weights ${opts.initWeights ?? config.initWeights} does not exist; pass a checkpoint or run directory, or a weights manifest (.json)`,
      );
    checkArchitecture(architectureOf(config), config.imageSize);
    if (opts.printConfig) {
      printer.out(JSON.stringify(config, null, 2));
      return;
    }
    if (opts.tensorboard === '')
      throw new UsageError("--tensorboard '' names no directory; pass a directory, or --tensorboard alone for <run>/tensorboard");
    const { train } = await import('../train/train');
    await train({
      config,
      sources,
      out: path.resolve(opts.out),
      run: opts.run,
      resume: opts.resume ? path.resolve(opts.resume) : undefined,
      resumeEpochs: cmd.getOptionValueSource('epochs') === 'cli' ? opts.epochs : undefined,
      terminal: Boolean(process.stderr.isTTY),
      logEvery: opts.logEvery,
      saveEvery: opts.saveEvery,
      tensorboard: opts.tensorboard === undefined ? undefined : opts.tensorboard === true ? '' : path.resolve(opts.tensorboard),
      handleSignals: true,
      log: printer.err,
      print: printer.out,
    });
  });
}
