// The command line: declares commands and options, checks values at the edge, calls the typed
// command functions, prints their results (stdout) and turns errors into one line and an exit code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES } from './backend';
import { type BackendChoice, DEFAULT_CONFIG, MIN_IMAGE_SIZE, type OptimizerName, resolveConfig } from './config';
import { describeRange } from './config-check';
import { NinError, UsageError } from './errors';
import { describeFsError } from './safe-file';
import { NIN_VERSION } from './version';
import { SCHEDULES, type ScheduleName } from './schedule';
import { BIAS_INITS, type BiasInit } from './model';

const REPO_ROOT = path.join(__dirname, '..', '..');

/** Decimal notation only: Number() alone would also take 0x10, 0b1, 0o7 and a padded " 16 ". */
const DECIMAL_INTEGER = /^\+?\d+$/;
const DECIMAL_REAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = DECIMAL_INTEGER.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be ${describeRange('integer', min, max)}.`);
    return n;
  };
}

function real(name: string, min: number, max: number, minExclusive = false) {
  return (value: string): number => {
    const n = DECIMAL_REAL.test(value) ? Number(value) : NaN;
    const low = minExclusive ? n > min : n >= min;
    if (!Number.isFinite(n) || !low || n > max) throw new InvalidArgumentError(`${name} must be ${describeRange('real', min, max, minExclusive)}.`);
    return n;
  };
}

const parseBatchSize = integer('--batch-size', 1, 4096);
const parseImageSize = integer('--image-size', MIN_IMAGE_SIZE, 1024);
const parseThreads = integer('--threads', 1, 1024);
const parseTestLimit = integer('--test-limit', 1, 10000);

function backendOption() {
  return new Option('--backend <name>', 'engine: auto picks a GPU (webgpu on a hardware adapter, then tfjs-node-gpu on CUDA), then onednn, then cpu; webgpu also runs on a software adapter such as lavapipe').choices(BACKEND_CHOICES as string[]).default('auto');
}

function threadsOption() {
  return new Option('--threads <n>', 'CPU threads for onednn (default: all cores)').argParser(parseThreads);
}

interface Printer {
  out: (text: string) => void;
  err: (text: string) => void;
}

export function buildProgram(printer: Printer = { out: (t) => process.stdout.write(t + '\n'), err: (t) => process.stderr.write(t + '\n') }): Command {
  const program = new Command('nin')
    .description("Train d2l's Network-in-Network on Fashion-MNIST with TensorFlow.js")
    .version(NIN_VERSION)
    .option('--verbose', 'show stack traces of errors')
    .exitOverride()
    // Usage errors are one line, like every other error: "nin: <problem> (run with --help for usage)".
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      outputError: (s, write) => write(`nin: ${s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`),
    });

  program
    .command('train')
    .description("train NiN with d2l's recipe (train_ch6 defaults), writing checkpoints and logs to <out>/<run>/")
    .option('--lr <number>', 'learning rate', real('--lr', 0, 1e4, true), DEFAULT_CONFIG.learningRate)
    .option('--epochs <n>', 'epochs to train', integer('--epochs', 1, 10000), DEFAULT_CONFIG.epochs)
    .option('--batch-size <n>', 'minibatch size', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option('--image-size <n>', `images are resized to n x n (at least ${MIN_IMAGE_SIZE})`, parseImageSize, DEFAULT_CONFIG.imageSize)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'momentum', 'adam']).default(DEFAULT_CONFIG.optimizer))
    .option('--momentum <number>', 'momentum (with --optimizer momentum)', real('--momentum', 0, 0.999999), DEFAULT_CONFIG.momentum)
    .option('--nesterov', 'Nesterov momentum (with --optimizer momentum)')
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES as string[]).default(DEFAULT_CONFIG.schedule))
    .option('--warmup-epochs <number>', 'linear learning-rate warm-up, in epochs', real('--warmup-epochs', 0, 1000), DEFAULT_CONFIG.warmupEpochs)
    .option('--augment', 'random horizontal flip and padded random crop, per batch')
    .option('--label-smoothing <number>', 'label smoothing of the cross-entropy target', real('--label-smoothing', 0, 0.99), DEFAULT_CONFIG.labelSmoothing)
    .option('--weight-decay <number>', 'L2 weight decay, as PyTorch SGD weight_decay', real('--weight-decay', 0, 1), DEFAULT_CONFIG.weightDecay)
    .option('--seed <n>', 'seed for initialisation, shuffling and dropout', integer('--seed', 0, 2 ** 32 - 1), DEFAULT_CONFIG.seed)
    .addOption(new Option('--bias-init <kind>', "conv biases: zeros, or pytorch (PyTorch's default uniform, for parity runs)").choices(BIAS_INITS as string[]).default(DEFAULT_CONFIG.biasInit))
    .option('--init-weights <path>', 'start from these weights instead of the seeded initialisation: a checkpoint or run directory, or a TF.js weights manifest (.json), e.g. from scripts/torch-init-weights.py')
    .option('--train-limit <n>', 'use the first n training examples', integer('--train-limit', 1, 60000))
    .option('--test-limit <n>', 'use the first n test examples', parseTestLimit)
    .option('--out <dir>', 'directory for runs', path.join(REPO_ROOT, 'checkpoints'))
    .option('--run <name>', 'run name (default: a timestamp)')
    .option('--resume <runDir>', 'continue a run from its last/ checkpoint')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--data-dir <dir>', 'Fashion-MNIST directory (IDX files, .gz or raw)')
    .action(async (opts, cmd: Command) => {
      const { train } = await import('./train');
      const config = resolveConfig({
        learningRate: opts.lr,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        imageSize: opts.imageSize,
        optimizer: opts.optimizer as OptimizerName,
        momentum: opts.momentum,
        nesterov: Boolean(opts.nesterov),
        schedule: opts.schedule as ScheduleName,
        warmupEpochs: opts.warmupEpochs,
        augment: Boolean(opts.augment),
        labelSmoothing: opts.labelSmoothing,
        weightDecay: opts.weightDecay,
        seed: opts.seed,
        biasInit: opts.biasInit as BiasInit,
        initWeights: opts.initWeights ? path.resolve(opts.initWeights) : null,
        trainLimit: opts.trainLimit ?? null,
        testLimit: opts.testLimit ?? null,
        dataDir: opts.dataDir ? path.resolve(opts.dataDir) : null,
        backend: opts.backend as BackendChoice,
        threads: opts.threads ?? null,
      });
      if (opts.resume && opts.run) throw new UsageError('--run and --resume exclude each other: --resume takes the run directory');
      if (opts.resume && opts.initWeights) throw new UsageError("--init-weights starts a new run; --resume continues from the run's own last/ checkpoint: drop one");
      if (config.initWeights && !fs.existsSync(config.initWeights)) throw new UsageError(`--init-weights ${opts.initWeights} does not exist; pass a checkpoint or run directory, or a weights manifest (.json)`);
      await train({
        config,
        out: path.resolve(opts.out),
        run: opts.run,
        resume: opts.resume ? path.resolve(opts.resume) : undefined,
        resumeEpochs: cmd.getOptionValueSource('epochs') === 'cli' ? opts.epochs : undefined,
        progress: Boolean(process.stderr.isTTY),
        handleSignals: true,
        log: printer.err,
        print: printer.out,
      });
    });

  program
    .command('eval')
    .description('test accuracy, loss, per-class accuracy and confusion matrix of a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .option('--test-limit <n>', 'use the first n test examples', parseTestLimit)
    .option('--batch-size <n>', 'evaluation batch size (default: the run\'s)', parseBatchSize)
    .option('--data-dir <dir>', 'Fashion-MNIST directory')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print one JSON object')
    .action(async (checkpoint: string, opts) => {
      const { evaluate } = await import('./eval');
      const { formatEval } = await import('./report');
      const result = await evaluate(path.resolve(checkpoint), {
        testLimit: opts.testLimit,
        batchSize: opts.batchSize,
        dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined,
        backend: opts.backend as BackendChoice,
        threads: opts.threads ?? null,
      }, printer.err);
      printer.out(opts.json ? JSON.stringify(result) : formatEval(result));
    });

  program
    .command('shapes')
    .description("each layer's output shape and parameter count, as d2l's notebook prints them")
    .option('--image-size <n>', `input size (at least ${MIN_IMAGE_SIZE})`, parseImageSize, DEFAULT_CONFIG.imageSize)
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const { initBackend } = await import('./backend');
      await initBackend('cpu', null);
      const { shapes, formatShapes } = await import('./shapes');
      const result = shapes({ imageSize: opts.imageSize });
      printer.out(opts.json ? JSON.stringify(result) : formatShapes(result));
    });

  program
    .command('data')
    .description('where Fashion-MNIST was found and whether its checksums hold; --download fetches it')
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option('--download', 'download the four official files into data/fashion-mnist/ (or --data-dir), verified')
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const data = await import('./data');
      let dir: string;
      let files;
      if (opts.download) {
        dir = data.defaultDownloadDir(opts.dataDir ? path.resolve(opts.dataDir) : undefined);
        files = await data.downloadFashionMnist(dir, process.env.NIN_MIRROR_URL || undefined, printer.err);
      } else {
        dir = data.findDatasetDir(opts.dataDir ? path.resolve(opts.dataDir) : undefined);
        files = data.checkDataset(dir);
      }
      const ok = files.every((f) => f.ok);
      if (opts.json) printer.out(JSON.stringify({ dir, ok, files }));
      else {
        printer.out(`Fashion-MNIST: ${dir}`);
        for (const f of files) printer.out(`  ${f.ok ? 'ok ' : 'BAD'} ${f.name}  sha256 ${f.sha256}`);
      }
      if (!ok) throw new NinError(`checksums do not match the official Fashion-MNIST files in ${dir}; download them again with nin data --download`);
    });

  program
    .command('bench')
    .description('training and inference images/s on synthetic input (as shared/anchors/torch_nin_bench.py)')
    .option('--image-size <n>', 'input size', parseImageSize, DEFAULT_CONFIG.imageSize)
    .option('--batch-size <n>', 'batch size', parseBatchSize, DEFAULT_CONFIG.batchSize)
    .option('--steps <n>', 'timed steps after one warm-up', integer('--steps', 1, 10000), 3)
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const { bench } = await import('./bench');
      const result = await bench({ imageSize: opts.imageSize, batchSize: opts.batchSize, steps: opts.steps, backend: opts.backend as BackendChoice, threads: opts.threads ?? null }, printer.err);
      printer.out(
        opts.json
          ? JSON.stringify(result)
          : `${result.backend} (${result.detail}), ${result.imageSize}px, batch ${result.batchSize}: train ${result.trainImagesPerSec} images/s, inference ${result.inferImagesPerSec} images/s`,
      );
    });

  program
    .command('plot')
    .description("training curves (train loss, train acc, test acc per epoch, as d2l's plot) of one run, or several in one figure")
    .argument('<runDir...>', 'run directories (each holds metrics.jsonl)')
    .option('--out <file>', 'output file (default: <first run>/curves.svg, or comparison.svg for several runs)')
    .option('--png', 'write PNG instead of SVG, rendered with headless Chromium (also implied by --out *.png)')
    .option('--json', 'print one JSON object')
    .action(async (runDirs: string[], opts) => {
      const { plot } = await import('./plot');
      const result = plot(runDirs, { out: opts.out ? path.resolve(opts.out) : undefined, png: Boolean(opts.png) });
      printer.out(opts.json ? JSON.stringify(result) : `${result.out} (${result.runs.map((r) => `${r.name}: ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`).join(', ')})`);
    });

  program
    .command('predict')
    .description('classify PNG or JPEG pictures with a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .argument('<image...>', 'PNG or JPEG files, any size and colour')
    .option('--top <n>', 'classes to show per picture', integer('--top', 1, 10), 3)
    .option('--invert', 'for dark objects on a light background (Fashion-MNIST is light on black)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'print one JSON object')
    .action(async (checkpoint: string, images: string[], opts) => {
      const { predict, formatPrediction } = await import('./predict');
      const result = await predict(path.resolve(checkpoint), images, {
        top: opts.top,
        invert: Boolean(opts.invert),
        backend: opts.backend as BackendChoice,
        threads: opts.threads ?? null,
      });
      if (opts.json) printer.out(JSON.stringify(result));
      else for (const p of result.predictions) printer.out(formatPrediction(p));
      for (const f of result.failures) printer.err(`nin: ${f.error}`);
      if (result.failures.length) {
        throw new NinError(`${result.failures.length} of ${images.length} file${images.length === 1 ? '' : 's'} could not be classified (see above)`);
      }
    });

  program
    .command('info')
    .description('versions, CPU features, threads, available backends and the dataset: what this machine offers nin')
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const { info, formatInfo } = await import('./info');
      const result = await info({ dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined });
      printer.out(opts.json ? JSON.stringify(result) : formatInfo(result));
    });

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
      process.stderr.write(`nin: ${err.message}\n`);
      if (verbose && err.stack) process.stderr.write(err.stack + '\n');
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`nin: internal error: ${e?.message ?? String(err)} (this is a bug; rerun with --verbose for the stack)\n`);
    if (verbose && e?.stack) process.stderr.write(e.stack + '\n');
    return 1;
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
      const line = describeFsError(err, `writing to ${stream === process.stdout ? 'stdout' : 'stderr'}`, 'check where the output goes (a full disk?)').message;
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
    if (code === 130 || code === 143) setImmediate(() => process.exit(code));
  });
}
