// The command line: declares commands and options, checks values at the edge, calls the typed
// command functions, prints their results (stdout) and turns errors into one line and an exit code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES, PRECISION_CHOICES } from './backend';
import { followUserPath } from './checkpoint-read';
import { CONFIG_RULES, describeRange, readConfigFile } from './config-check';
import { type BackendChoice, DEFAULT_CONFIG, type OptimizerName, type PrecisionChoice, type Runtime, type TrainConfig } from './config';
import { InterruptedError, NinError, UsageError } from './errors';
import { describeFsError } from './safe-file';
import { formatBench, formatEval, formatInfo, formatLrFind, formatPlot, formatPrediction, formatShapes, printable } from './format';
import {
  DEFAULT_RECIPE_NAME,
  RECIPE_NAMES,
  RECIPES,
  type RecipeName,
  type ResolvedConfig,
  resolveConfigFile,
  resolveRecipe,
} from './recipes';
import { NIN_VERSION } from './version';
import { SCHEDULES, type ScheduleName } from './schedule';
import { BIAS_INITS, type BiasInit, KERNEL_INITS, type KernelInit, MIN_IMAGE_SIZE } from './model';
import * as architecture from './architecture';

/** Decimal notation only: Number() alone would also take 0x10, 0b1, 0o7 and a padded " 16 ". */
const DECIMAL_INTEGER = /^\+?\d+$/;
const DECIMAL_REAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = DECIMAL_INTEGER.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be ${describeRange('integer', min, max)}.`);
    return n;
  };
}

function real(name: string, min: number, max: number, minExclusive = false) {
  return (value: string): number => {
    const n = DECIMAL_REAL.test(value) ? Number(value) : NaN;
    const low = minExclusive ? n > min : n >= min;
    if (!Number.isFinite(n) || !low || n > max)
      throw new InvalidArgumentError(`${name} must be ${describeRange('real', min, max, minExclusive)}.`);
    return n;
  };
}

/** `90s`, `10m`, `1.5h` or plain seconds, as seconds; decimal digits only. */
function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!(seconds >= 1 && seconds <= 7 * 86400))
    throw new InvalidArgumentError('--save-every must be a duration such as 90s, 10m or 1h (from 1s to 7 days).');
  return seconds;
}

/** The parser of a config key's flag, from the one table of ranges (config-check.ts) that also checks config.json. */
function configParser(key: keyof TrainConfig): (value: string) => number {
  const rule = CONFIG_RULES[key];
  if (rule.kind === 'integer') return integer(rule.flag, rule.min, rule.max);
  if (rule.kind === 'real') return real(rule.flag, rule.min, rule.max, rule.minExclusive);
  throw new Error(`${key} is not a number (this is a bug)`);
}

const parseBatchSize = configParser('batchSize');
const parseImageSize = configParser('imageSize');
const parseThreads = configParser('threads');
const parseTestLimit = configParser('testLimit');

function backendOption() {
  return new Option(
    '--backend <name>',
    'engine: auto picks a GPU (webgpu on a hardware adapter, then tfjs-node-gpu on CUDA), then onednn, then cpu; webgpu also runs on a software adapter such as lavapipe',
  )
    .choices(BACKEND_CHOICES as string[])
    .default('auto');
}

const JSON_HELP = 'print one JSON object';
const DATA_DIR_HELP = 'Fashion-MNIST directory (IDX files, .gz or raw)';

/** The engine options every command that runs the model shares. */
function addEngineOptions(command: Command): Command {
  return command
    .addOption(backendOption())
    .addOption(new Option('--threads <n>', 'CPU threads for onednn (default: all cores)').argParser(parseThreads))
    .addOption(
      new Option(
        '--precision <p>',
        'convolutions in fp32, or bf16 mixed precision as PyTorch autocast (onednn on a CPU with AVX512-BF16 or AMX); auto: bf16 where native',
      )
        .choices(PRECISION_CHOICES as string[])
        .default(DEFAULT_CONFIG.precision),
    );
}

/** The runtime part of the config from the engine options and --data-dir (see config.ts). */
function runtimeOf(opts: { backend: string; threads?: number; dataDir?: string; precision: string }): Runtime {
  return {
    backend: opts.backend as BackendChoice,
    threads: opts.threads ?? null,
    precision: opts.precision as PrecisionChoice,
    dataDir: opts.dataDir ? path.resolve(opts.dataDir) : null,
  };
}

interface Printer {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** `nin train`'s options that make up the recipe: fixed for a run, so --resume refuses them. */
const RECIPE_ATTRIBUTES = [
  'recipe',
  'lr',
  'batchSize',
  'imageSize',
  'optimizer',
  'momentum',
  'nesterov',
  'schedule',
  'warmupEpochs',
  'augment',
  'labelSmoothing',
  'weightDecay',
  'seed',
  'biasInit',
  'kernelInit',
  'classBias',
  'trainLimit',
  'testLimit',
  'valSplit',
  'earlyStop',
];

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
  const given = RECIPE_ATTRIBUTES.filter((a) => cmd.getOptionValueSource(a) === 'cli').map((a) => givenFlag(cmd, a));
  if (given.length) {
    throw new UsageError(
      `--resume continues a run with its own recipe (its config.json), so ${given.join(', ')} cannot change: drop ${given.length === 1 ? 'it' : 'them'}, or start a new run from it with --init-weights ${opts.resume}`,
    );
  }
}

/** The config values the user gave as flags: they override the recipe (d2l's defaults, or --recipe's). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function givenConfig(opts: any, cmd: Command): Partial<TrainConfig> {
  const flags: Partial<TrainConfig> = {
    learningRate: opts.lr,
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    imageSize: opts.imageSize,
    optimizer: opts.optimizer as OptimizerName,
    momentum: opts.momentum,
    nesterov: opts.nesterov,
    schedule: opts.schedule as ScheduleName,
    warmupEpochs: opts.warmupEpochs,
    augment: opts.augment,
    labelSmoothing: opts.labelSmoothing,
    weightDecay: opts.weightDecay,
    seed: opts.seed,
    biasInit: opts.biasInit as BiasInit,
    kernelInit: opts.kernelInit as KernelInit,
    classBias: opts.classBias ?? null,
    initWeights: opts.initWeights ? path.resolve(opts.initWeights) : null,
    trainLimit: opts.trainLimit ?? null,
    testLimit: opts.testLimit ?? null,
    valSplit: opts.valSplit,
    earlyStop: opts.earlyStop ?? null,
    ...runtimeOf(opts),
  };
  const attribute = (key: string) => (key === 'learningRate' ? 'lr' : key);
  for (const key of Object.keys(flags) as (keyof TrainConfig)[]) if (cmd.getOptionValueSource(attribute(key)) !== 'cli') delete flags[key];
  return flags;
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
  if (!opts.config) return resolveRecipe(opts.recipe as RecipeName, givenConfig(opts, cmd));
  if (cmd.getOptionValueSource('recipe') === 'cli')
    throw new UsageError('--config and --recipe exclude each other: the file is a whole config; drop one');
  const file = path.resolve(opts.config);
  const saved = readConfigFile(file, "fix the file, or pass a run's config.json to --config");
  const relative = (p: string | null) => (p === null ? null : path.resolve(path.dirname(file), p));
  return resolveConfigFile(
    { ...saved, dataDir: relative(saved.dataDir), initWeights: relative(saved.initWeights) },
    givenConfig(opts, cmd),
  );
}

function trainCommand(printer: Printer): Command {
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
    .option('--print-config', 'print the resolved config as JSON (what config.json would hold) and exit without training')
    .option('--lr <number>', 'learning rate', configParser('learningRate'), DEFAULT_CONFIG.learningRate)
    .option('--epochs <n>', 'epochs to train', configParser('epochs'), DEFAULT_CONFIG.epochs)
    .option('--batch-size <n>', 'minibatch size', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option('--image-size <n>', `images are resized to n x n (at least ${MIN_IMAGE_SIZE})`, parseImageSize, DEFAULT_CONFIG.imageSize)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'momentum', 'adam']).default(DEFAULT_CONFIG.optimizer))
    .option('--momentum <number>', 'momentum (with --optimizer momentum)', configParser('momentum'), DEFAULT_CONFIG.momentum)
    .option('--nesterov', 'Nesterov momentum (with --optimizer momentum)')
    .option('--no-nesterov', 'plain momentum (to override a recipe)')
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES as string[]).default(DEFAULT_CONFIG.schedule))
    .option(
      '--warmup-epochs <number>',
      'linear learning-rate warm-up, in epochs',
      configParser('warmupEpochs'),
      DEFAULT_CONFIG.warmupEpochs,
    )
    .option('--augment', 'random horizontal flip and padded random crop, per batch')
    .option('--no-augment', 'no augmentation (to override a recipe)')
    .option(
      '--label-smoothing <number>',
      'label smoothing of the cross-entropy target',
      configParser('labelSmoothing'),
      DEFAULT_CONFIG.labelSmoothing,
    )
    .option(
      '--weight-decay <number>',
      'L2 weight decay, as PyTorch SGD weight_decay',
      configParser('weightDecay'),
      DEFAULT_CONFIG.weightDecay,
    )
    .option('--seed <n>', 'seed for initialisation, shuffling and dropout', configParser('seed'), DEFAULT_CONFIG.seed)
    .addOption(
      new Option(
        '--bias-init <kind>',
        "conv biases: pytorch (PyTorch's default, uniform in +-1/sqrt(fan_in), which d2l's code keeps), or zeros",
      )
        .choices(BIAS_INITS as string[])
        .default(DEFAULT_CONFIG.biasInit),
    )
    .addOption(
      new Option('--kernel-init <kind>', "conv kernels: xavier (Xavier-uniform, d2l's), or he (Kaiming-uniform for ReLU)")
        .choices(KERNEL_INITS as string[])
        .default(DEFAULT_CONFIG.kernelInit),
    )
    .option(
      '--class-bias <number>',
      "start the last convolution's biases (one per class) at this value, e.g. 1 so every class's channel starts active (default: as --bias-init)",
      configParser('classBias'),
    )
    .option(
      '--init-weights <path>',
      'start from these weights instead of the seeded initialisation: a checkpoint or run directory, or a TF.js weights manifest (.json), e.g. from scripts/torch-init-weights.py',
    )
    .option('--train-limit <n>', 'use the first n training examples', configParser('trainLimit'))
    .option('--test-limit <n>', 'use the first n test examples', parseTestLimit)
    .option(
      '--val-split <n>',
      "hold out n training examples (seeded, same class proportions); best/ is then chosen on their accuracy, not the test set's",
      configParser('valSplit'),
      DEFAULT_CONFIG.valSplit,
    )
    .option(
      '--early-stop <patience>',
      'stop after this many epochs without a better val acc (test acc without --val-split)',
      configParser('earlyStop'),
    )
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
  addEngineOptions(command).option('--data-dir <dir>', DATA_DIR_HELP);
  return command.action(async (opts, cmd: Command) => {
    checkTrainCombinations(opts, cmd);
    const { config, sources } = resolveTrainConfig(opts, cmd);
    if (config.initWeights && !fs.existsSync(config.initWeights))
      throw new UsageError(
        `--init-weights ${opts.initWeights ?? config.initWeights} does not exist; pass a checkpoint or run directory, or a weights manifest (.json)`,
      );
    if (opts.printConfig) {
      printer.out(JSON.stringify(config, null, 2));
      return;
    }
    if (opts.tensorboard === '')
      throw new UsageError("--tensorboard '' names no directory; pass a directory, or --tensorboard alone for <run>/tensorboard");
    const { train } = await import('./train');
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

function evalCommand(printer: Printer): Command {
  const command = new Command('eval')
    .description('test accuracy, loss, per-class accuracy and confusion matrix of a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .option('--test-limit <n>', 'use the first n test examples', parseTestLimit)
    .option('--batch-size <n>', "evaluation batch size (default: the run's)", parseBatchSize)
    .option('--data-dir <dir>', DATA_DIR_HELP);
  return addEngineOptions(command)
    .option('--json', JSON_HELP)
    .action(async (checkpoint: string, opts) => {
      const { evaluate } = await import('./eval');
      const runtime = runtimeOf(opts);
      // The path typed is followed if it is a link (the user's own); nothing inside the checkpoint is.
      const result = await evaluate(
        followUserPath(checkpoint),
        {
          testLimit: opts.testLimit,
          batchSize: opts.batchSize,
          dataDir: runtime.dataDir ?? undefined,
          backend: runtime.backend,
          threads: runtime.threads,
          precision: runtime.precision,
          handleSignals: true,
        },
        printer.err,
      );
      printer.out(opts.json ? JSON.stringify(result) : formatEval(result));
    });
}

function shapesCommand(printer: Printer): Command {
  // The architecture's flags, from its rows (src/architecture.ts); the lead's config refactor will derive them for train too.
  const { ARCHITECTURE_RULES: rules, DEFAULT_ARCHITECTURE: d2l, DEPTH_NAMES, HEADS, MAX_BLOCK_CONVS } = architecture;
  return new Command('shapes')
    .description(
      "each layer's output shape, parameters and multiply-adds, as d2l's notebook prints them, and the memory of training and prediction, for d2l's NiN or a variant",
    )
    .option('--image-size <n>', `input size (at least ${MIN_IMAGE_SIZE})`, parseImageSize, DEFAULT_CONFIG.imageSize)
    .option('--batch-size <n>', 'batch size of the memory estimates', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option(
      '--block-convs <n>',
      `1x1 convolutions after each block's first (0-${MAX_BLOCK_CONVS})`,
      integer(rules.blockConvs.flag, 0, MAX_BLOCK_CONVS),
      d2l.blockConvs,
    )
    .option(
      '--block-kernel <n>',
      "those convolutions' kernel: 1 or 3 (3x3, 'same' padding)",
      integer(rules.blockKernel.flag, 1, 3),
      d2l.blockKernel,
    )
    .addOption(
      new Option('--head <name>', 'gap: global average pooling over the class channels (d2l), or dense: flatten + one dense layer')
        .choices(HEADS as string[])
        .default(d2l.head),
    )
    .option(
      '--width <x>',
      "factor on the blocks' 96/256/384 channels, rounded",
      real(rules.width.flag, 0, architecture.MAX_WIDTH, true),
      d2l.width,
    )
    .option(
      '--bottleneck <k>',
      'the last block goes 384 -> k -> 10 instead of 384 -> 10',
      integer(rules.bottleneck.flag, 1, architecture.MAX_BOTTLENECK),
    )
    .addOption(
      new Option('--depth <name>', "nin-12 is d2l's NiN; nin-18 and nin-24 repeat the NiN blocks of stages 2 and 3 (VGG's way)")
        .choices(DEPTH_NAMES)
        .default(d2l.depth),
    )
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { shapes } = await import('./shapes');
      const result = shapes({
        imageSize: opts.imageSize,
        batchSize: opts.batchSize,
        architecture: architecture.architectureOf({ ...opts, bottleneck: opts.bottleneck ?? null }),
      });
      printer.out(opts.json ? JSON.stringify(result) : formatShapes(result));
    });
}

function dataCommand(printer: Printer): Command {
  return new Command('data')
    .description(
      'where Fashion-MNIST was found (looked up in --data-dir, $NIN_DATA_DIR, /usr/share/datasets/fashion-mnist, then the download cache) and whether its checksums hold; --download fetches it',
    )
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option(
      '--download',
      'download the four official files, verified, into --data-dir, else $NIN_DATA_DIR, else $XDG_CACHE_HOME/nin/fashion-mnist (default ~/.cache/nin/fashion-mnist)',
    )
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const data = await import('./data');
      const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : undefined;
      let dir: string;
      let files;
      if (opts.download) {
        dir = data.defaultDownloadDir(dataDir);
        files = await data.downloadFashionMnist(dir, process.env.NIN_MIRROR_URL || undefined, printer.err);
      } else {
        dir = data.findDatasetDir(dataDir);
        files = data.checkDataset(dir);
      }
      const ok = files.every((f) => f.ok);
      if (opts.json) printer.out(JSON.stringify({ dir, ok, files }));
      else {
        printer.out(`Fashion-MNIST: ${dir}`);
        for (const f of files) printer.out(`  ${f.ok ? 'ok ' : 'BAD'} ${f.name}  sha256 ${f.sha256}`);
      }
      if (!ok)
        throw new NinError(
          `checksums do not match the official Fashion-MNIST files in ${dir}; download them again with nin data --download`,
        );
    });
}

function benchCommand(printer: Printer): Command {
  const command = new Command('bench')
    .description('training and inference images/s on synthetic input (as scripts/reference/torch_bench.py measures PyTorch)')
    .option('--image-size <n>', 'input size', parseImageSize, DEFAULT_CONFIG.imageSize)
    .option('--batch-size <n>', 'batch size', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option('--steps <n>', 'timed steps after one warm-up', integer('--steps', 1, 10000), 3)
    .option('--breakdown', "where a training step's time goes: each kind of native work, the optimizer update, and the rest (TF.js)");
  return addEngineOptions(command)
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { bench } = await import('./bench');
      const { backend, threads, precision } = runtimeOf(opts);
      const result = await bench(
        {
          imageSize: opts.imageSize,
          batchSize: opts.batchSize,
          steps: opts.steps,
          backend,
          threads,
          precision,
          breakdown: Boolean(opts.breakdown),
          handleSignals: true,
        },
        printer.err,
      );
      printer.out(opts.json ? JSON.stringify(result) : formatBench(result));
    });
}

function plotCommand(printer: Printer): Command {
  return new Command('plot')
    .description("training curves (train loss, train acc, test acc per epoch, as d2l's plot) of one run, or several in one figure")
    .argument('<runDir...>', 'run directories (each holds metrics.jsonl)')
    .option('--out <file>', 'output file (default: <first run>/curves.svg, or comparison.svg for several runs)')
    .option('--png', 'write PNG instead of SVG, drawn by resvg with DejaVu Sans or the font file in $NIN_FONT (implied by --out *.png)')
    .option('--json', JSON_HELP)
    .action(async (runDirs: string[], opts) => {
      const { plot } = await import('./plot');
      const result = plot(runDirs, { out: opts.out ? path.resolve(opts.out) : undefined, png: Boolean(opts.png) });
      printer.out(opts.json ? JSON.stringify(result) : formatPlot(result));
    });
}

function predictCommand(printer: Printer): Command {
  const command = new Command('predict')
    .description('classify pictures (PNG, JPEG, WebP, GIF, TIFF, AVIF) with a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .argument('<image...>', 'picture files, any size and colour; EXIF orientation is applied')
    .option('--top <n>', 'classes to show per picture', integer('--top', 1, 10), 3)
    .option('--invert', 'for dark objects on a light background (Fashion-MNIST is light on black)');
  return addEngineOptions(command)
    .option('--json', JSON_HELP)
    .action(async (checkpoint: string, images: string[], opts) => {
      const { predict } = await import('./predict');
      const { backend, threads, precision } = runtimeOf(opts);
      const result = await predict(followUserPath(checkpoint), images, {
        top: opts.top,
        invert: Boolean(opts.invert),
        backend,
        threads,
        precision,
        handleSignals: true,
      });
      if (opts.json) printer.out(JSON.stringify(result));
      else for (const p of result.predictions) printer.out(formatPrediction(p));
      for (const f of result.failures) printer.err(`nin: ${printable(f.error)}`);
      if (result.interruptedBy) {
        const n = result.predictions.length;
        throw new InterruptedError(
          result.interruptedBy,
          n ? `${n} of ${images.length} pictures classified (above)` : `no picture classified of ${images.length}`,
        );
      }
      if (result.failures.length) {
        throw new NinError(
          `${result.failures.length} of ${images.length} file${images.length === 1 ? '' : 's'} could not be classified (see above)`,
        );
      }
    });
}

function lrFindCommand(printer: Printer): Command {
  const command = new Command('lr-find')
    .description(
      "learning-rate range test (fastai's lr_find): a fresh NiN trains while the rate grows exponentially from --start-lr to --end-lr, stopping when the loss explodes; prints the suggested rate and plots loss against rate",
    )
    .option(
      '--image-size <n>',
      `images are resized to n x n (at least ${MIN_IMAGE_SIZE}); 96px is about a fifth of 224px's work`,
      parseImageSize,
      96,
    )
    .option('--batch-size <n>', 'minibatch size (the one you will train with)', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option('--steps <n>', 'training steps at most, one rate each (fastai: 100)', integer('--steps', 2, 10000), 100)
    .option('--start-lr <number>', 'rate of the first step', real('--start-lr', 0, 1e4, true), 1e-5)
    .option(
      '--end-lr <number>',
      'rate of the last step (fastai: 10); the test stops earlier once the loss explodes',
      real('--end-lr', 0, 1e4, true),
      10,
    )
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'momentum', 'adam']).default(DEFAULT_CONFIG.optimizer))
    .option('--momentum <number>', 'momentum (with --optimizer momentum)', configParser('momentum'), DEFAULT_CONFIG.momentum)
    .option('--nesterov', 'Nesterov momentum (with --optimizer momentum)')
    .option('--seed <n>', 'seed for initialisation, shuffling and dropout', configParser('seed'), DEFAULT_CONFIG.seed)
    .option('--train-limit <n>', 'use the first n training examples', configParser('trainLimit'))
    .option('--out <file>', 'plot of loss against learning rate: SVG, or PNG for a name ending in .png', 'lr-find.svg')
    .addOption(
      new Option(
        '--recipe <name>',
        "test the rate for a named recipe: its image size, batch size, optimizer, initialisation, label smoothing and weight decay (flags given beside it override them); without it d2l's, at 96px",
      ).choices(RECIPE_NAMES),
    );
  addEngineOptions(command).option('--data-dir <dir>', DATA_DIR_HELP);
  return command.option('--json', JSON_HELP).action(async (opts, cmd: Command) => {
    if (opts.startLr >= opts.endLr) throw new UsageError(`--start-lr ${opts.startLr} must be below --end-lr ${opts.endLr}`);
    // A recipe's values where the user gave no flag; the recipe's learning rate is what the test looks for.
    const recipe = opts.recipe ? resolveRecipe(opts.recipe as RecipeName, {}).config : null;
    const pick = <K extends keyof TrainConfig>(attribute: string, key: K): TrainConfig[K] =>
      recipe && cmd.getOptionValueSource(attribute) !== 'cli' ? recipe[key] : opts[attribute];
    const { lrFind } = await import('./lr-find');
    const result = await lrFind(
      {
        imageSize: pick('imageSize', 'imageSize'),
        batchSize: pick('batchSize', 'batchSize'),
        steps: opts.steps,
        startLr: opts.startLr,
        endLr: opts.endLr,
        optimizer: pick('optimizer', 'optimizer'),
        momentum: pick('momentum', 'momentum'),
        nesterov: Boolean(pick('nesterov', 'nesterov')),
        init: recipe ?? undefined,
        labelSmoothing: recipe?.labelSmoothing,
        weightDecay: recipe?.weightDecay,
        seed: opts.seed,
        trainLimit: opts.trainLimit ?? null,
        out: path.resolve(opts.out),
        ...runtimeOf(opts),
        handleSignals: true,
      },
      printer.err,
    );
    printer.out(opts.json ? JSON.stringify(result) : formatLrFind(result));
    if (result.interruptedBy) {
      const n = result.points.length;
      const kept = `the curve of its first ${n} step${n === 1 ? '' : 's'} is above${result.plot ? ` and in ${result.plot}` : ''}`;
      throw new InterruptedError(result.interruptedBy, kept);
    }
  });
}

function serveCommand(printer: Printer): Command {
  const command = new Command('serve')
    .description(
      "a local web page over training runs: live curves, each checkpoint's report (nin eval) with its misclassified test images, and a playground that runs the model in the browser",
    )
    .argument('[runDir...]', 'run directories to serve, or one sweep directory (its trials); default: every run in --out, as they appear')
    .option('--port <n>', 'port to listen on (0: any free port)', integer('--port', 0, 65535), 8080)
    .option(
      '--host <address>',
      'address to listen on; anything but a loopback address (127.0.0.1, ::1, localhost) lets other machines read the runs',
      '127.0.0.1',
    )
    .option('--open', 'open the page in the default browser')
    .option('--out <dir>', 'directory of runs (relative to the current directory)', 'checkpoints')
    .option('--test-limit <n>', "reports use the first n test examples (default: each run's own --test-limit, else all)", parseTestLimit)
    .option('--data-dir <dir>', DATA_DIR_HELP);
  return addEngineOptions(command).action(async (runDirs: string[], opts) => {
    let dirs = runDirs.map((d) => path.resolve(d));
    // A sweep directory (nin sweep): its trials are the runs, as they appear.
    const sweepTrials = dirs.length === 1 ? path.join(dirs[0], 'trials') : null;
    if (sweepTrials && fs.existsSync(path.join(dirs[0], 'space.json')) && fs.existsSync(sweepTrials)) {
      opts.out = sweepTrials;
      dirs = [];
    }
    for (const dir of dirs) {
      if (!fs.existsSync(path.join(dir, 'config.json')))
        throw new UsageError(
          `${dir} is not a nin run directory (no config.json); pass <out>/<run> directories, or none to serve every run in --out`,
        );
    }
    const out = path.resolve(opts.out);
    if (!dirs.length && !fs.existsSync(out)) printer.err(`note: ${out} does not exist yet; runs appear here as nin train writes them`);
    const { serve } = await import('./serve/server');
    const { backend, threads, precision, dataDir } = runtimeOf(opts);
    const handle = await serve({
      runs: dirs,
      out,
      host: opts.host,
      port: opts.port,
      dataDir: dataDir ?? undefined,
      testLimit: opts.testLimit,
      backend,
      threads,
      precision,
      log: printer.err,
    });
    // Told by the address listened on, however --host spelled it.
    if (!handle.loopback) {
      printer.err(
        `WARNING: --host ${opts.host} lets every machine that can reach this one read these runs, their configs and checkpoints, without a password; use the default 127.0.0.1 unless you mean it`,
      );
    }
    printer.out(handle.url);
    if (opts.open) {
      const { spawn } = await import('node:child_process');
      const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
      spawn(opener, [handle.url], { detached: true, stdio: 'ignore' })
        .on('error', () => printer.err(`note: could not start ${opener}; open ${handle.url} yourself`))
        .unref();
    }
    // Ctrl-C, SIGTERM or a closed terminal stop the server cleanly: exit 0, nothing to save. A second
    // signal, or a server still busy GRACE_SECONDS later, ends nin at once (signals.ts).
    const { takeOverSignals } = await import('./signals');
    const stop = takeOverSignals({ acknowledge: 'stopping the server', kept: 'serve changes nothing in the runs' }, printer.err);
    await stop.stopped;
    await handle.close().catch(() => {});
    stop.quiet();
    stop.release();
    printer.err('nin serve: stopped');
  });
}

function infoCommand(printer: Printer): Command {
  return new Command('info')
    .description('versions, CPU features, threads, available backends and the dataset: what this machine offers nin')
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { info } = await import('./info');
      const result = await info({ dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined });
      printer.out(opts.json ? JSON.stringify(result) : formatInfo(result));
    });
}

/** The engine flags a sweep command was given on its command line (not their defaults): they override the space's "engine". */
function givenRuntime(opts: { backend: string; threads?: number; precision: string; dataDir?: string }, cmd: Command): Partial<Runtime> {
  const runtime: Partial<Runtime> = {};
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  if (given('backend')) runtime.backend = opts.backend as BackendChoice;
  if (given('threads')) runtime.threads = opts.threads;
  if (given('precision')) runtime.precision = opts.precision as PrecisionChoice;
  if (opts.dataDir) runtime.dataDir = path.resolve(opts.dataDir);
  return runtime;
}

/**
 * `nin sweep`: a search space run as trials, each an ordinary run directory under one sweep directory
 * (src/sweep/). `start` runs them on this machine, `run` runs one (a Slurm array task, a Kubernetes
 * Indexed Job's pod), `report` tabulates them.
 */
function sweepCommand(printer: Printer): Command {
  const sweep = new Command('sweep').description(
    'a hyperparameter sweep: grid or seeded random search over recipe keys, architecture keys and seeds; trials are run directories under one sweep directory',
  );
  const maxTrial = 9999;
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
    .option('--data-dir <dir>', DATA_DIR_HELP);
  addEngineOptions(start).action(async (space: string | undefined, opts, cmd: Command) => {
    const { readSpaceFile } = await import('./sweep/space');
    const { openSweep } = await import('./sweep/sweep-dir');
    const { startSweep } = await import('./sweep/pool');
    const { sweepReport, formatSweepReport } = await import('./sweep/report');
    const opened = openSweep(opts.dir, space ? readSpaceFile(space) : null, printer.err);
    const runtime = givenRuntime(opts, cmd);
    try {
      await startSweep(opened, { workers: opts.workers, runtime, saveEvery: opts.saveEvery, log: printer.err });
    } finally {
      printer.out(formatSweepReport(sweepReport(opened)));
    }
  });
  const runOne = new Command('run')
    .description(
      'run one trial (default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX); an ended trial, or one another live process runs, is skipped with exit 0',
    )
    .argument('<sweep>', 'the sweep directory, or the space file with --dir (the first task creates the directory)')
    .option('--dir <dir>', 'the sweep directory, when <sweep> is the space file')
    .option('--trial <i>', 'the trial index', integer('--trial', 0, maxTrial))
    .option('--save-every <duration>', "also save the trial's last/ that often mid-epoch", parseDuration)
    .option('--no-wait', "skip a trial another host's process holds, instead of waiting until it ends or its lock is stale")
    .option('--data-dir <dir>', DATA_DIR_HELP);
  addEngineOptions(runOne).action(async (target: string, opts, cmd: Command) => {
    const { readSpaceFile } = await import('./sweep/space');
    const { openSweep } = await import('./sweep/sweep-dir');
    const { checkTrialIndex, runTrial, scheduledIndex } = await import('./sweep/trial');
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
      runtime: givenRuntime(opts, cmd),
      log: printer.err,
      saveEvery: opts.saveEvery,
      handleSignals: true,
      waitForOtherHost: opts.wait,
    });
    printer.out(outcome.message);
  });
  const report = new Command('report')
    .description(
      "a table of the sweep's trials: varied keys, state, final and best accuracy, parameters, time; mean ± sd over seeds per configuration",
    )
    .argument('<dir>', 'the sweep directory')
    .option('--json', JSON_HELP)
    .option('--out <file>', 'also draw final accuracy against each varied key: an .svg, or a .png drawn by resvg');
  report.action(async (dir: string, opts) => {
    const { openSweep } = await import('./sweep/sweep-dir');
    const { sweepReport, formatSweepReport, renderSweepSvg } = await import('./sweep/report');
    const opened = openSweep(dir, null, printer.err);
    const result = sweepReport(opened);
    if (opts.out) {
      const out = path.resolve(opts.out);
      const { checkOutputFile } = await import('./output-path');
      const format = checkOutputFile(out, { flag: '--out', command: 'nin sweep report', formats: ['svg', 'png'] });
      const svg = renderSweepSvg(result);
      if (format === 'png') {
        const { svgToPng } = await import('./plot');
        svgToPng(svg, out);
      } else {
        const { writeFileAtomic } = await import('./safe-file');
        writeFileAtomic(out, svg);
      }
      printer.err(`picture: ${out}`);
    }
    printer.out(opts.json ? JSON.stringify(result) : formatSweepReport(result));
  });
  for (const sub of [start, runOne, report]) sweep.addCommand(sub);
  return sweep;
}

export function buildProgram(
  printer: Printer = { out: (t) => process.stdout.write(t + '\n'), err: (t) => process.stderr.write(t + '\n') },
): Command {
  const program = new Command('nin')
    .description("Train d2l's Network-in-Network on Fashion-MNIST with TensorFlow.js")
    .version(NIN_VERSION)
    .option('--verbose', 'show stack traces of errors')
    .exitOverride()
    // Usage errors are one line, like every other error: "nin: <problem> (run with --help for usage)".
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      outputError: (s, write) =>
        write(
          `nin: ${printable(
            s
              .replace(/^error: /, '')
              .trim()
              .replace(/\s*\n\s*/g, ' '),
          )} (run with --help for usage)\n`,
        ),
    });
  for (const command of [
    trainCommand,
    evalCommand,
    shapesCommand,
    dataCommand,
    benchCommand,
    plotCommand,
    predictCommand,
    infoCommand,
    lrFindCommand,
    serveCommand,
    sweepCommand,
  ]) {
    // Subcommands (and theirs: nin sweep start) inherit the program's exit override and one-line error output.
    const sub = command(printer).exitOverride().configureOutput(program.configureOutput());
    for (const nested of sub.commands) nested.exitOverride().configureOutput(program.configureOutput());
    program.addCommand(sub);
  }
  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with code 0; every other commander error is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof NinError) {
      // Names in it (paths typed or found on disk) may hold newlines or terminal escapes: escaped, it stays one line.
      process.stderr.write(`nin: ${printable(err.message)}\n`);
      if (verbose && err.stack) process.stderr.write(err.stack + '\n');
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(
      `nin: internal error: ${printable(String(e?.message ?? err))} (this is a bug; rerun with --verbose for the stack)\n`,
    );
    if (verbose && e?.stack) process.stderr.write(e.stack + '\n');
    return 1;
  } finally {
    // A GPU device keeps the process alive until it is released.
    const { closeBackend } = await import('./backend');
    closeBackend();
  }
}

/**
 * A reader that stops early (`nin shapes | head -1`, `nin eval ... | head -1`) closes the pipe, and
 * the next write fails with EPIPE. That is the reader's choice, not a failure of the command: the
 * output stops quietly and the command ends as it would have (a training run keeps saving), with its
 * own exit code, 0 for a read-only command. Any other failure to write the output is one line.
 */
function quietOnClosedPipes(): void {
  let reported = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || reported) return;
      reported = true;
      const line = describeFsError(
        err,
        `writing to ${stream === process.stdout ? 'stdout' : 'stderr'}`,
        'check where the output goes (a full disk?)',
      ).message;
      if (stream !== process.stderr && !process.stderr.destroyed) process.stderr.write(`nin: ${line}\n`);
      process.exitCode = 1;
    });
  }
}

export function main(argv: string[]): void {
  quietOnClosedPipes();
  run(argv).then((code) => {
    // The command's own code, unless it succeeded but its output could not be written.
    process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
    // TF.js keeps no handles open, but an interrupted run should not linger.
    if (code === 129 || code === 130 || code === 143) setImmediate(() => process.exit(code));
  });
}
