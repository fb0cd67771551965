// The commands that run a model: nin eval, shapes, bench, predict and lr-find, each its options and its call.
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { addConfigOptions, configOption, configOptions, integer, real, runtimeOf } from './config-options';
import { followUserPath } from '../run/checkpoint/read';
import { type TrainConfig } from '../config/config';
import { InterruptedError, NinError, UsageError } from '../sys/errors';
import { formatBench, formatEval, formatLrFind, formatPrediction, formatShapes, printable } from './format';
import { RECIPE_NAMES, type RecipeName, resolveRecipe } from '../config/recipes';
import { MIN_IMAGE_SIZE } from '../model/nin';
import { ARCHITECTURE_KEYS, architectureOf } from '../model/architecture';
import { addEngineOptions, architectureFrom, JSON_HELP, type Printer } from './shared';

export function evalCommand(printer: Printer): Command {
  const command = new Command('eval')
    .description('test accuracy, loss, per-class accuracy and confusion matrix of a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .addOption(configOption('testLimit'))
    .addOption(configOption('batchSize', { help: "evaluation batch size (default: the run's)", default: null }))
    .addOption(configOption('dataDir'));
  return addEngineOptions(command)
    .option('--json', JSON_HELP)
    .action(async (checkpoint: string, opts) => {
      const { evaluate } = await import('../report/eval');
      const runtime = runtimeOf(opts);
      // The path typed is followed if it is a link (the user's own); nothing inside the checkpoint is.
      const result = await evaluate(followUserPath(checkpoint), {
        testLimit: opts.testLimit,
        batchSize: opts.batchSize,
        dataDir: runtime.dataDir ?? undefined,
        backend: runtime.backend,
        threads: runtime.threads,
        precision: runtime.precision,
        handleSignals: true,
        log: printer.err,
      });
      printer.out(opts.json ? JSON.stringify(result) : formatEval(result));
    });
}

export function shapesCommand(printer: Printer): Command {
  const command = new Command('shapes')
    .description(
      "each layer's output shape, parameters and multiply-adds, as d2l's notebook prints them, and the memory of training and prediction, for d2l's NiN or a variant",
    )
    .addOption(configOption('imageSize', { help: `input size (at least ${MIN_IMAGE_SIZE})` }))
    .addOption(configOption('batchSize', { help: 'batch size of the memory estimates' }));
  // The architecture's rows of the key table, as train, lr-find and bench take them.
  return addConfigOptions(command, ARCHITECTURE_KEYS)
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { shapes } = await import('../model/shapes');
      const result = shapes({
        imageSize: opts.imageSize,
        batchSize: opts.batchSize,
        architecture: architectureOf({ ...opts, bottleneck: opts.bottleneck ?? null }),
      });
      printer.out(opts.json ? JSON.stringify(result) : formatShapes(result));
    });
}

export function benchCommand(printer: Printer): Command {
  const command = new Command('bench')
    .description('training and inference images/s on synthetic input (as scripts/reference/torch_bench.py measures PyTorch)')
    .addOption(configOption('imageSize', { help: 'input size' }))
    .addOption(configOption('batchSize', { help: 'batch size' }))
    .option('--steps <n>', 'timed steps after one warm-up', integer('--steps', 1, 10000), 3)
    .option('--breakdown', "where a training step's time goes: each kind of native work, the optimizer update, and the rest (TF.js)");
  return addEngineOptions(addConfigOptions(command, ARCHITECTURE_KEYS))
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { bench } = await import('../machine/bench');
      const { backend, threads, precision } = runtimeOf(opts);
      const result = await bench({
        imageSize: opts.imageSize,
        batchSize: opts.batchSize,
        steps: opts.steps,
        backend,
        threads,
        precision,
        breakdown: Boolean(opts.breakdown),
        architecture: architectureFrom(opts, opts.imageSize),
        handleSignals: true,
        log: printer.err,
      });
      printer.out(opts.json ? JSON.stringify(result) : formatBench(result));
    });
}

export function predictCommand(printer: Printer): Command {
  const command = new Command('predict')
    .description('classify pictures (PNG, JPEG, WebP, GIF, TIFF, AVIF) with a checkpoint (or a run: its best/)')
    .argument('<checkpoint>', 'checkpoint directory, or run directory')
    .argument('<image...>', 'picture files, any size and colour; EXIF orientation is applied')
    .option('--top <n>', 'classes to show per picture', integer('--top', 1, 10), 3)
    .option('--invert', 'for dark objects on a light background (Fashion-MNIST is light on black)');
  return addEngineOptions(command)
    .option('--json', JSON_HELP)
    .action(async (checkpoint: string, images: string[], opts) => {
      const { predict } = await import('../predict/predict');
      const { backend, threads, precision } = runtimeOf(opts);
      const result = await predict(followUserPath(checkpoint), images, {
        top: opts.top,
        invert: Boolean(opts.invert),
        backend,
        threads,
        precision,
        handleSignals: true,
        log: printer.err,
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

export function lrFindCommand(printer: Printer): Command {
  const command = new Command('lr-find')
    .description(
      "learning-rate range test (fastai's lr_find): a fresh NiN trains while the rate grows exponentially from --start-lr to --end-lr, stopping when the loss explodes; prints the suggested rate and plots loss against rate",
    )
    .addOption(
      configOption('imageSize', {
        help: `images are resized to n x n (at least ${MIN_IMAGE_SIZE}); 96px is about a fifth of 224px's work`,
        default: 96,
      }),
    )
    .addOption(configOption('batchSize', { help: 'minibatch size (the one you will train with)' }))
    .option('--steps <n>', 'training steps at most, one rate each (fastai: 100)', integer('--steps', 2, 10000), 100)
    .option('--start-lr <number>', 'rate of the first step', real('--start-lr', 0, 1e4, true), 1e-5)
    .option(
      '--end-lr <number>',
      'rate of the last step (fastai: 10); the test stops earlier once the loss explodes',
      real('--end-lr', 0, 1e4, true),
      10,
    )
    .addOption(configOption('optimizer'))
    .addOption(configOption('momentum'))
    .addOption(configOptions('nesterov')[0])
    .addOption(configOption('seed'))
    .addOption(configOption('trainLimit'))
    .option('--out <file>', 'plot of loss against learning rate: SVG, or PNG for a name ending in .png', 'lr-find.svg')
    .addOption(
      new Option(
        '--recipe <name>',
        "test the rate for a named recipe: its image size, batch size, optimizer, initialisation, label smoothing and weight decay (flags given beside it override them); without it d2l's, at 96px",
      ).choices(RECIPE_NAMES),
    );
  addEngineOptions(addConfigOptions(command, ARCHITECTURE_KEYS)).addOption(configOption('dataDir'));
  return command.option('--json', JSON_HELP).action(async (opts, cmd: Command) => {
    if (opts.startLr >= opts.endLr) throw new UsageError(`--start-lr ${opts.startLr} must be below --end-lr ${opts.endLr}`);
    // A recipe's values where the user gave no flag; the recipe's learning rate is what the test looks for.
    const recipe = opts.recipe ? resolveRecipe(opts.recipe as RecipeName, {}).config : null;
    const pick = <K extends keyof TrainConfig>(attribute: string, key: K): TrainConfig[K] =>
      recipe && cmd.getOptionValueSource(attribute) !== 'cli' ? recipe[key] : opts[attribute];
    const { lrFind } = await import('../train/lr-find');
    const result = await lrFind({
      imageSize: pick('imageSize', 'imageSize'),
      batchSize: pick('batchSize', 'batchSize'),
      steps: opts.steps,
      startLr: opts.startLr,
      endLr: opts.endLr,
      optimizer: pick('optimizer', 'optimizer'),
      momentum: pick('momentum', 'momentum'),
      nesterov: Boolean(pick('nesterov', 'nesterov')),
      init: recipe ?? undefined,
      architecture: architectureFrom(opts, pick('imageSize', 'imageSize')),
      labelSmoothing: recipe?.labelSmoothing,
      weightDecay: recipe?.weightDecay,
      seed: opts.seed,
      trainLimit: opts.trainLimit ?? null,
      out: path.resolve(opts.out),
      ...runtimeOf(opts),
      handleSignals: true,
      log: printer.err,
    });
    printer.out(opts.json ? JSON.stringify(result) : formatLrFind(result));
    if (result.interruptedBy) {
      const n = result.points.length;
      const kept = `the curve of its first ${n} step${n === 1 ? '' : 's'} is above${result.plot ? ` and in ${result.plot}` : ''}`;
      throw new InterruptedError(result.interruptedBy, kept);
    }
  });
}
