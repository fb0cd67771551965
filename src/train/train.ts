// `nin train`'s start-up around the epoch loop (epoch-loop.ts): d2l's train_ch6 with the run directory, the
// config banner, the data, a fresh or resumed model, the estimate, the loop's policies (callbacks/) and clean
// interruption.
import { type ConfigSources, type TrainConfig, describeConfig, resumedConfig } from '../config/config';
import { batchCount, type Dataset, loadFashionMnist, splitValidation } from '../data/idx';
import { buildNin } from '../model/nin';
import { architectureOf } from '../model/architecture';
import { initBackend, type BackendInfo } from '../backend';
import type { EpochMetrics } from '../run/metrics';
import { loadInitialWeights } from '../run/checkpoint/weights-manifest';
import { InterruptedError } from '../sys/errors';
import { formatEpoch, printable } from '../cli/format';
import { resumeCommand } from '../run/resume-command';
import { createRun, openRun, type PartialEpoch, planRun, type RunDirectory } from '../run/run-dir';
import { checkTrainingMemory } from '../machine/resources';
import { NO_STOP, takeOverSignals } from '../sys/signals';
import { estimateRun, type RunWork } from './estimate';
import { checkOutputDir } from '../sys/output-path';
import { makeOptimizer, makeTrainer } from './step';
import { restoreOptimizerState } from '../sys/tfjs-internals';
import { NIN_VERSION } from '../sys/version';
import { type Log, stderrLog, stdoutLog } from '../sys/log';
import { EpochLoop, type TrainingData, type TrainState } from './epoch-loop';
import type { EpochEnd, EpochListener, ListenerFactory } from './callbacks/listener';
import { BestCheckpoint } from './callbacks/best-checkpoint';
import { LearningHints } from './callbacks/dead-classes';
import { EarlyStopping } from './callbacks/early-stopping';
import { MetricsLogs } from './callbacks/metrics-logs';
import { PeriodicSave } from './callbacks/periodic-save';
import { TensorBoardLog } from './callbacks/tensorboard';

export { DeadClassGuard } from './callbacks/dead-classes';
export type { EpochEnd, EpochListener, StopRequest } from './callbacks/listener';

export interface TrainOptions {
  config: TrainConfig;
  sources?: ConfigSources; // where each value of a new run's config came from (a recipe, a flag), for the banner
  out: string; // parent directory of runs
  run?: string; // run name; default: a timestamp
  resume?: string; // run directory to continue
  resumeEpochs?: number; // with resume: a new total epoch count, when the user gave --epochs
  log?: Log; // stderr lines: banner, warnings (default: stderr)
  print?: Log; // stdout lines: one per epoch, final summary (default: stdout)
  terminal?: boolean; // stderr is a terminal: progress is one line redrawn in place
  logEvery?: number; // otherwise, a plain progress line every this many seconds (0 or absent: none)
  saveEvery?: number; // also save last/ mid-epoch every this many seconds, as Ctrl-C does (0 or absent: never)
  tensorboard?: string; // write TensorBoard event files into this directory ('' = <run>/tensorboard)
  handleSignals?: boolean; // SIGINT/SIGTERM/SIGHUP finish the batch, save last/, then throw InterruptedError
  listeners?: EpochListener[]; // more policies after nin's own (e.g. pruning: onEpochEnd returns { reason } to end the run normally)
}

export interface TrainResult {
  runDir: string;
  backend: BackendInfo;
  history: EpochMetrics[];
  stoppedBy?: string; // why a listener ended the run before its last epoch (--early-stop, or one of options.listeners)
}

/** What last/ holds after `epoch` epochs and `partial` batches of the next, in words. */
function describeLast(epoch: number, partial: PartialEpoch | null, perEpoch: number): string {
  const batches = partial?.batches ? `${partial.batches} of ${perEpoch} batches of epoch ${epoch + 1}` : '';
  if (epoch === 0) return batches ? `last/ holds ${batches}` : 'nothing was trained yet';
  return `last/ holds epoch ${epoch}${batches ? ` and ${batches}` : ''}`;
}

/** What a stop keeps once last/ holds that much, and the command that goes on from there. */
function keptLine(runDir: string, epoch: number, partial: PartialEpoch | null, perEpoch: number): string {
  const held = describeLast(epoch, partial, perEpoch);
  const trained = epoch > 0 || Boolean(partial?.batches);
  // Also the line a stop at once writes itself (signals.ts, the watchdog): a typed path's control characters escaped there too.
  return `${held}; ${trained ? 'continue with' : 'start it with'} ${printable(resumeCommand(runDir))}`;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? stderrLog;
  const print = options.print ?? stdoutLog;
  // Listening from the very start of `train` makes a signal during start-up a clean stop too.
  const stop = options.handleSignals
    ? takeOverSignals({ acknowledge: 'finishing this batch, then saving last/', kept: 'nothing was saved' }, log)
    : NO_STOP;
  let run: RunDirectory | null = null;
  let stoppedBy: string | undefined;
  try {
    // --resume: the run's own recipe and this start's runtime; a new run: checked before any work.
    run = options.resume ? openRun(options.resume) : null;
    const config = run ? resumedConfig(run.config, options.config, options.resumeEpochs) : options.config;
    // Every directory this run will write, checked before any work (output-path.ts): nothing is created for a bad one.
    if (!run) checkOutputDir(options.out, { flag: '--out', purpose: 'a directory for checkpoints' });
    if (options.tensorboard) checkOutputDir(options.tensorboard, { flag: '--tensorboard', purpose: 'a directory for event files' });
    const plan = run ? null : planRun(options.out, options.run);

    const backend = await initBackend(config.backend, config.threads, log, config.precision);
    // A GPU backend splits a batch that does not fit into micro-batches; on a CPU it would swap or be killed.
    if (backend.name !== 'webgpu') checkTrainingMemory(config.imageSize, config.batchSize);
    // Paths the user typed (--out, --resume, --data-dir, --init-weights) are printed with their control characters escaped.
    log(`nin ${NIN_VERSION}: ${run ? 'resuming' : 'training'} ${printable(run?.dir ?? plan?.dir ?? '')}`);
    log(`config: ${printable(describeConfig(config, run ? {} : options.sources))}`);
    log(`backend: ${backend.name} (${backend.detail})`);
    const data = trainingData(config, log);

    const state = run ? await resumeState(run, config, log) : startState(config, log);
    try {
      // How long it takes here, and the faster routes, before the first batch (estimate.ts).
      const work = remainingWork(config, data, state);
      const estimate = work.trainSteps ? await estimateRun(config, backend, work, (step) => stop.hardStoppable(step)) : null;
      if (estimate) log(estimate);
      if (await stop.point())
        throw new InterruptedError(
          stop.signal!,
          run ? `continue with ${resumeCommand(run.dir)}` : 'training had not started; nothing was saved',
        );
      // A new run's directory appears only now, so a bad --init-weights or backend leaves nothing behind.
      if (!run) run = createRun(plan as NonNullable<typeof plan>, config, log);
      run.writeLogs(state.history);
      const runDir = run.dir;
      const perEpoch = batchCount(data.train.count, config.batchSize);
      const kept = keptLine(runDir, state.epochsDone, state.partial, perEpoch);
      stop.setKept(kept);
      if (await stop.point()) throw new InterruptedError(stop.signal!, kept);
      const loop = new EpochLoop(
        run,
        config,
        backend,
        data,
        state,
        stop,
        { log, terminal: options.terminal, logEvery: options.logEvery },
        (epoch, partial) => keptLine(runDir, epoch, partial, perEpoch),
        listenersOf(run, config, state, options, print, stop.hasDeadline, backend.name),
      );
      await loop.runAll();
      stoppedBy = loop.stopped?.reason;
    } finally {
      state.trainer.model.dispose();
      state.trainer.optimizer.dispose();
    }
    printSummary(print, state.history, backend);
    return { runDir: run.dir, backend, history: state.history, ...(stoppedBy ? { stoppedBy } : {}) };
  } catch (err) {
    // A signal that arrived while starting up ends the command as a signal does, with its line.
    if (stop.signal && !(err instanceof InterruptedError))
      throw new InterruptedError(
        stop.signal,
        run ? `continue with ${resumeCommand(run.dir)}` : 'training had not started; nothing was saved',
      );
    throw err;
  } finally {
    stop.quiet();
    stop.release();
    run?.close();
  }
}

/** The training steps, test batches and images left of a run (for the estimate). */
function remainingWork(config: TrainConfig, data: TrainingData, state: TrainState): RunWork {
  const epochs = Math.max(0, config.epochs - state.epochsDone);
  const done = state.partial ?? { batches: 0, examples: 0 };
  const testBatches =
    batchCount(data.test.count, config.batchSize) + (data.validation ? batchCount(data.validation.count, config.batchSize) : 0);
  return {
    trainSteps: Math.max(0, epochs * batchCount(data.train.count, config.batchSize) - done.batches),
    testBatches: epochs * testBatches,
    trainImages: Math.max(0, epochs * data.train.count - done.examples),
  };
}

/** d2l's two closing lines: the last epoch's numbers and speed. */
function printSummary(print: Log, history: EpochMetrics[], backend: BackendInfo): void {
  const last = history[history.length - 1];
  if (!last) return;
  print(`loss ${last.loss.toFixed(3)}, train acc ${last.trainAcc.toFixed(3)}, test acc ${last.testAcc.toFixed(3)}`);
  print(`${last.examplesPerSec.toFixed(1)} examples/sec on ${backend.name} (${backend.detail})`);
}

/** The run's data, loaded and checked, with its line on stderr. */
function trainingData(config: TrainConfig, log: Log): TrainingData {
  const data = withValidation(
    loadFashionMnist({
      dataDir: config.dataDir ?? undefined,
      trainLimit: config.trainLimit ?? undefined,
      testLimit: config.testLimit ?? undefined,
    }),
    config,
  );
  const validation = data.validation ? `${data.validation.count} validation, ` : '';
  log(
    `data: ${printable(data.dir)} (${data.train.count} train, ${validation}${data.test.count} test, resized to ${config.imageSize}x${config.imageSize})`,
  );
  return data;
}

/** The data an epoch sees: with --val-split, its held-out examples (derived from the seed, so resume holds out the same). */
function withValidation(data: Dataset, config: TrainConfig): TrainingData {
  if (!config.valSplit) return { ...data, validation: null };
  return { ...data, ...splitValidation(data.train, config.valSplit, config.seed) };
}

/** A fresh model: seeded initialisation, or the weights of --init-weights. */
function startState(config: TrainConfig, log: Log): TrainState {
  const model = buildNin({
    imageSize: config.imageSize,
    seed: config.seed,
    biasInit: config.biasInit,
    kernelInit: config.kernelInit,
    classBias: config.classBias,
    architecture: architectureOf(config),
  });
  if (config.initWeights) {
    loadInitialWeights(config.initWeights, model, architectureOf(config));
    log(`initial weights: ${printable(config.initWeights)}`);
  }
  return { trainer: makeTrainer(model, makeOptimizer(config)), epochsDone: 0, history: [], partial: null };
}

/** The model, optimizer and history of last/; without last/ the run starts again from its initialisation. */
async function resumeState(run: RunDirectory, config: TrainConfig, log: Log): Promise<TrainState> {
  const loaded = await run.loadLast();
  if (!loaded) {
    log('resuming from the start: the run stopped before its first checkpoint');
    return startState(config, log);
  }
  const optimizer = makeOptimizer(config);
  if (loaded.optimizerWeights) await restoreOptimizerState(optimizer, loaded.optimizerWeights);
  const { meta } = loaded;
  const partial = meta.partial ?? null;
  log(`resuming after epoch ${meta.epoch}${partial ? ` and ${partial.batches} batches of epoch ${meta.epoch + 1}` : ''}`);
  return { trainer: makeTrainer(loaded.model, optimizer), epochsDone: meta.epoch, history: meta.history ?? [], partial };
}

/**
 * The loop's policies, in the order they hear an epoch's end: best/ before last/ (a crash between them only repeats
 * the epoch), then TensorBoard, the logs rebuilt from last/'s history, the epoch line, the hints; early stopping
 * and the periodic saves listen to other hooks; the caller's own listeners come last.
 */
function listenersOf(
  run: RunDirectory,
  config: TrainConfig,
  state: TrainState,
  options: TrainOptions,
  print: Log,
  stopHasDeadline: boolean,
  backend: string,
): ListenerFactory {
  return (loop) => [
    new BestCheckpoint(config, state.history, loop.saveBest),
    loop.lastCheckpoint,
    ...(options.tensorboard === undefined ? [] : [new TensorBoardLog(options.tensorboard, run.dir, loop.log)]),
    new MetricsLogs(run, loop.log),
    { onEpochEnd: ({ metrics }: EpochEnd) => print(formatEpoch(metrics, config.epochs)) },
    new LearningHints(config, loop.log),
    new EarlyStopping(config),
    new PeriodicSave(options.saveEvery, { backend, steps: loop.steps, stepSeconds: loop.stepSeconds, stopHasDeadline }, loop.log),
    ...(options.listeners ?? []),
  ];
}
