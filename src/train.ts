// The training loop: d2l's train_ch6 (SGD on softmax cross-entropy, running train loss/accuracy,
// test accuracy per epoch), with the run directory, checkpoints, resume and clean interruption.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type ConfigSources, type TrainConfig, describeConfig, resumedConfig } from './config';
import { batches, batchCount, type Dataset, loadFashionMnist, type Split, splitValidation } from './data';
import { buildNin } from './model';
import { initBackend, microBatchPlan, type BackendInfo, type MicroBatchPlan } from './backend';
import { explainGpuError, throwIfGpuFault } from './backend/webgpu';
import { type EpochMetrics, FORMAT_VERSION, loadInitialWeights } from './checkpoint';
import { type DeadClass, deadClasses, scoreSplit, type SplitScore } from './eval';
import { InterruptedError, NinError } from './errors';
import {
  formatChanceHint,
  formatDeadClasses,
  formatDeadClassesAgain,
  formatEarlyDeadClasses,
  formatEpoch,
  JUDGED_FROM_STEPS,
  type RemedyContext,
} from './format';
import { resumeCommand } from './resume-command';
import { deriveSeed } from './random';
import { createRun, openRun, type PartialEpoch, planRun, type RunDirectory, type RunMeta } from './run-dir';
import { checkTrainingMemory } from './resources';
import { formatDuration, Progress } from './progress';
import { GRACE_SECONDS, NO_STOP, type Stop, takeOverSignals } from './signals';
import { LongSteps } from './long-steps';
import { estimateRun, type RunWork } from './estimate';
import { learningRateAt } from './schedule';
import { TensorBoardWriter } from './tensorboard';
import { checkOutputDir } from './output-path';
import { DeferredReads } from './deferred-reads';
import { deferredStep, diverged, hostImageSize, makeOptimizer, makeTrainer, type Trainer } from './step';
import { restoreOptimizerState, setLearningRate } from './tfjs-internals';
import { NIN_VERSION } from './version';

export interface TrainOptions {
  config: TrainConfig;
  sources?: ConfigSources; // where each value of a new run's config came from (a recipe, a flag), for the banner
  out: string; // parent directory of runs
  run?: string; // run name; default: a timestamp
  resume?: string; // run directory to continue
  resumeEpochs?: number; // with resume: a new total epoch count, when the user gave --epochs
  log?: (line: string) => void; // stderr lines: banner, warnings
  print?: (line: string) => void; // stdout lines: one per epoch, final summary
  terminal?: boolean; // stderr is a terminal: progress is one line redrawn in place
  logEvery?: number; // otherwise, a plain progress line every this many seconds (0 or absent: none)
  saveEvery?: number; // also save last/ mid-epoch every this many seconds, as Ctrl-C does (0 or absent: never)
  tensorboard?: string; // write TensorBoard event files into this directory ('' = <run>/tensorboard)
  handleSignals?: boolean; // SIGINT/SIGTERM/SIGHUP finish the batch, save last/, then throw InterruptedError
  // After each epoch but the last, its checkpoints and logs written: a reason to end the run there, normally (a sweep's pruner).
  onEpochEnd?: (history: EpochMetrics[]) => string | void;
}

export interface TrainResult {
  runDir: string;
  backend: BackendInfo;
  history: EpochMetrics[];
}

/** Where training stands: the model and optimizer, the epochs done, and an epoch cut short. */
interface TrainState {
  trainer: Trainer;
  epochsDone: number;
  history: EpochMetrics[];
  partial: PartialEpoch | null;
}

/**
 * The most training steps queued before their losses are read back: bounds how long a diverged run
 * goes on unseen when no progress line asks for the numbers (a GPU read every 32 steps costs little).
 */
const READ_EVERY_BATCHES = 32;

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
  return `${held}; ${trained ? 'continue with' : 'start it with'} ${resumeCommand(runDir)}`;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const print = options.print ?? ((l: string) => process.stdout.write(l + '\n'));
  // Listening from the very start of `train` makes a signal during start-up a clean stop too.
  const stop = options.handleSignals
    ? takeOverSignals({ acknowledge: 'finishing this batch, then saving last/', kept: 'nothing was saved' }, log)
    : NO_STOP;
  let run: RunDirectory | null = null;
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
    log(`nin ${NIN_VERSION}: ${run ? 'resuming' : 'training'} ${run?.dir ?? plan?.dir}`);
    log(`config: ${describeConfig(config, run ? {} : options.sources)}`);
    log(`backend: ${backend.name} (${backend.detail})`);
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
      `data: ${data.dir} (${data.train.count} train, ${validation}${data.test.count} test, resized to ${config.imageSize}x${config.imageSize})`,
    );

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
      const kept = keptLine(run.dir, state.epochsDone, state.partial, batchCount(data.train.count, config.batchSize));
      stop.setKept(kept);
      if (await stop.point()) throw new InterruptedError(stop.signal!, kept);
      await new EpochLoop(run, config, backend, data, state, stop, { log, print, ...options }).runAll();
    } finally {
      state.trainer.model.dispose();
      state.trainer.optimizer.dispose();
    }
    const last = state.history[state.history.length - 1];
    if (last) {
      print(`loss ${last.loss.toFixed(3)}, train acc ${last.trainAcc.toFixed(3)}, test acc ${last.testAcc.toFixed(3)}`);
      print(`${last.examplesPerSec.toFixed(1)} examples/sec on ${backend.name} (${backend.detail})`);
    }
    return { runDir: run.dir, backend, history: state.history };
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

/** The data an epoch sees: with --val-split, its held-out examples (derived from the seed, so resume holds out the same). */
interface TrainingData extends Dataset {
  validation: Split | null;
}

function withValidation(data: Dataset, config: TrainConfig): TrainingData {
  if (!config.valSplit) return { ...data, validation: null };
  return { ...data, ...splitValidation(data.train, config.valSplit, config.seed) };
}

/** The accuracy that chooses best/ and drives --early-stop: never the test set's when there is a validation split. */
function monitored(config: TrainConfig): 'valAcc' | 'testAcc' {
  return config.valSplit ? 'valAcc' : 'testAcc';
}

/** Epochs since the monitored accuracy last improved, and its best value (-1 before any epoch). */
function sinceBest(history: EpochMetrics[], key: 'valAcc' | 'testAcc'): { best: number; epochs: number } {
  let best = -1;
  let epochs = 0;
  for (const m of history) {
    const value = m[key] ?? -1;
    if (value > best) {
      best = value;
      epochs = 0;
    } else epochs++;
  }
  return { best, epochs };
}

/** A fresh model: seeded initialisation, or the weights of --init-weights. */
function startState(config: TrainConfig, log: (line: string) => void): TrainState {
  const model = buildNin({
    imageSize: config.imageSize,
    seed: config.seed,
    biasInit: config.biasInit,
    kernelInit: config.kernelInit,
    classBias: config.classBias,
  });
  if (config.initWeights) {
    loadInitialWeights(config.initWeights, model);
    log(`initial weights: ${config.initWeights}`);
  }
  return { trainer: makeTrainer(model, makeOptimizer(config)), epochsDone: 0, history: [], partial: null };
}

/** The model, optimizer and history of last/; without last/ the run starts again from its initialisation. */
async function resumeState(run: RunDirectory, config: TrainConfig, log: (line: string) => void): Promise<TrainState> {
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

interface Output extends Pick<TrainOptions, 'terminal' | 'logEvery' | 'saveEvery' | 'tensorboard' | 'onEpochEnd'> {
  log: (line: string) => void;
  print: (line: string) => void;
}

/**
 * What the dead-class guard says on stderr after each epoch (metrics.jsonl names the classes every epoch):
 * the full line once per run, then a short one only when the set of dead classes changes; before the run
 * has taken JUDGED_FROM_STEPS steps, one short note, since a fresh NiN often starts with dead channels.
 */
export class DeadClassGuard {
  private named: string | null = null; // the classes the last line named
  private noted = false; // the early note was printed

  constructor(private readonly run: RemedyContext) {}

  line(dead: DeadClass[], epoch: number, steps: number): string | null {
    if (!dead.length) return null;
    if (steps < JUDGED_FROM_STEPS) {
      if (this.noted) return null;
      this.noted = true;
      return formatEarlyDeadClasses(dead, steps);
    }
    const names = dead.map((d) => d.name).join(', ');
    if (names === this.named) return null;
    const first = this.named === null;
    this.named = names;
    return first ? formatDeadClasses(dead, epoch, this.run) : formatDeadClassesAgain(dead, epoch);
  }
}

/** The part of a run that trains epochs: one method per stage of an epoch, over shared state. */
class EpochLoop {
  private readonly trainer: Trainer;
  private readonly perEpoch: number;
  private readonly progress: Progress | null;
  private readonly plan: MicroBatchPlan | null;
  private board: TensorBoardWriter | null;
  private best: number;
  private readonly validationBatches: number;
  private lastSave = Date.now();
  private saveSeconds = 0; // the latest save of last/
  private secondsPerRead = 0; // the latest read's seconds per step (a GPU's steps run after the call)
  private toldAboutSlowBatches = false;
  private readonly deadGuard: DeadClassGuard;
  private readonly steps: LongSteps; // training steps: timed, and guarded when slow
  private readonly testBatches: LongSteps;
  // Training steps queued since the last read (see settle): their [loss, hits] on the device, and what
  // the log needs of each.
  // On a GPU, read before the queue holds a quarter of the grace a stop has: a stop waits for it.
  private readonly pending = new DeferredReads(READ_EVERY_BATCHES, GRACE_SECONDS / 4);
  private queued: { step: number; size: number; learningRate: number }[] = [];
  private intervalStart = process.hrtime.bigint();
  // Seconds spent resizing batches since the last read, left out of the speed where steps run on the CPU (see settle).
  private preparing = 0;

  constructor(
    private readonly run: RunDirectory,
    private readonly config: TrainConfig,
    private readonly backend: BackendInfo,
    private readonly data: TrainingData,
    private readonly state: TrainState,
    private readonly stop: Stop,
    private readonly out: Output,
  ) {
    this.trainer = state.trainer;
    this.deadGuard = new DeadClassGuard(config);
    this.steps = new LongSteps(stop, backend.name, (seconds) => this.progress?.beat(seconds) ?? null);
    this.testBatches = new LongSteps(stop, backend.name, (seconds) => this.progress?.beat(seconds) ?? null);
    this.validationBatches = data.validation ? batchCount(data.validation.count, config.batchSize) : 0;
    this.perEpoch = batchCount(data.train.count, config.batchSize);
    this.best = sinceBest(state.history, monitored(config)).best;
    this.progress =
      out.terminal || out.logEvery
        ? new Progress({
            epochs: config.epochs,
            batchesPerEpoch: this.perEpoch,
            testBatches: batchCount(data.test.count, config.batchSize) + this.validationBatches,
            terminal: Boolean(out.terminal),
            logEvery: out.logEvery ?? 0,
            columns: () => process.stderr.columns || 80, // 0 from a terminal that does not know its size
            write: (text) => process.stderr.write(text),
          })
        : null;
    // A batch over a GPU adapter's binding limit is split into micro-batches with the same update.
    this.plan = microBatchPlan(backend, this.trainer.model, config.batchSize);
    if (this.plan) this.log(this.plan.note);
    this.board = out.tensorboard === undefined ? null : new TensorBoardWriter(out.tensorboard || path.join(run.dir, 'tensorboard'));
    if (this.board) this.log(`tensorboard: ${this.board.file}`);
  }

  /** Other stderr lines go below the progress line, not through it. */
  private log(line: string): void {
    this.progress?.clear();
    this.out.log(line);
  }

  async runAll(): Promise<void> {
    try {
      for (let epoch = this.state.epochsDone + 1; epoch <= this.config.epochs; epoch++) {
        if (this.stopEarly(epoch)) break;
        const started = Date.now() - (this.state.partial?.trainSeconds ?? 0) * 1000;
        const sums: PartialEpoch = this.state.partial ?? { batches: 0, lossSum: 0, correct: 0, examples: 0, trainSeconds: 0 };
        this.state.partial = null;
        await this.trainBatches(epoch, sums);
        // A signal during the evaluation passes saves the finished batches; --resume then only repeats them.
        this.progress?.startTest();
        const validation = this.data.validation ? await this.score(this.data.validation, 0) : null;
        const test = this.data.validation && !validation ? null : await this.score(this.data.test, this.validationBatches);
        this.progress?.clear();
        if (!test) throw await this.interrupted(epoch, sums);
        await this.endEpoch(epoch, sums, test, validation, (Date.now() - started) / 1000);
        if (await this.stop.point()) throw new InterruptedError(this.stop.signal!, this.kept(epoch, null));
        const reason = epoch < this.config.epochs ? this.out.onEpochEnd?.(this.state.history) : undefined;
        if (reason) {
          this.log(`stopping after epoch ${epoch} of ${this.config.epochs}: ${reason}`);
          break;
        }
      }
    } finally {
      this.steps.close();
      this.testBatches.close();
      this.progress?.clear();
      try {
        this.board?.close();
      } catch {
        // Already warned about, or nothing left to write.
      }
    }
  }

  /** One evaluation pass (validation, then test) with progress after `offset` batches; null when a signal stopped it. */
  private score(split: Split, offset: number): Promise<SplitScore | null> {
    return scoreSplit(this.trainer.model, split, this.config.batchSize, this.config.imageSize, {
      afterBatch: (done) => this.progress?.testBatch(offset + done),
      stop: this.stop,
      // A test batch (forward only) takes about a third of a training step until one is measured.
      runBatch: (work) => this.testBatches.run(work, this.testBatches.count ? undefined : this.steps.seconds / 3),
    });
  }

  /** What a stop at once keeps now, and the command that goes on. */
  private kept(epoch: number, partial: PartialEpoch | null): string {
    return keptLine(this.run.dir, epoch, partial, this.perEpoch);
  }

  /** --early-stop: true (with its line) when the monitored accuracy has not improved for that many epochs. */
  private stopEarly(epoch: number): boolean {
    const patience = this.config.earlyStop;
    if (!patience) return false;
    const key = monitored(this.config);
    const { best, epochs } = sinceBest(this.state.history, key);
    if (epochs < patience) return false;
    this.log(
      `early stop: ${key} has not improved on ${best.toFixed(3)} for ${epochs} epoch${epochs === 1 ? '' : 's'} (--early-stop ${patience}); ending before epoch ${epoch} of ${this.config.epochs}`,
    );
    return true;
  }

  /**
   * The epoch's training batches from `sums.batches` on, adding to `sums`. Steps are queued without
   * reading anything back (on a GPU, the next batch is resized while this one runs); their losses and
   * hits come back together in settle(), only when the progress line shows them, every
   * READ_EVERY_BATCHES batches, and before anything is saved or the epoch ends.
   */
  private async trainBatches(epoch: number, sums: PartialEpoch): Promise<void> {
    const { config, trainer } = this;
    this.progress?.startEpoch(epoch, sums.batches);
    const inputSize = hostImageSize(config.imageSize); // 28 on a GPU, which resizes (step.ts)
    const stream = batches(this.data.train, {
      batchSize: config.batchSize,
      imageSize: inputSize,
      shuffle: true,
      seed: config.seed,
      epoch,
      startBatch: sums.batches,
      augment: config.augment,
    });
    const nextBatch = () => {
      const t0 = process.hrtime.bigint();
      const next = stream.next();
      this.preparing += Number(process.hrtime.bigint() - t0) / 1e9;
      return next;
    };
    this.intervalStart = process.hrtime.bigint();
    this.preparing = 0;
    try {
      for (let next = nextBatch(); !next.done;) {
        const batch = next.value;
        const step = (epoch - 1) * this.perEpoch + sums.batches + this.queued.length;
        const learningRate = learningRateAt(config, step, this.perEpoch);
        setLearningRate(trainer.optimizer, learningRate);
        const work = () =>
          deferredStep(trainer, batch.x, batch.labels, batch.size, {
            imageSize: config.imageSize,
            inputSize,
            labelSmoothing: config.labelSmoothing,
            weightDecay: config.weightDecay,
            dropoutSeed: deriveSeed(config.seed, 2, step),
            microBatchSize: this.plan?.size,
          });
        try {
          this.pending.push(await this.steps.run(work));
        } catch (err) {
          throw explainGpuError(err);
        }
        this.queued.push({ step, size: batch.size, learningRate });
        // An out-of-memory or lost GPU is reported asynchronously: whatever has arrived ends the run now.
        throwIfGpuFault();
        // The next batch is prepared on the CPU while the GPU still runs this step: nothing waits for it yet.
        next = nextBatch();
        if (this.pending.full || this.progress?.statsDue()) await this.settle(epoch, sums);
        else this.progress?.trainBatch(sums.batches + this.queued.length);
        if (await this.stop.point()) throw await this.interrupted(epoch, sums);
        if (this.saveDue()) {
          await this.settle(epoch, sums);
          await this.saveLast(epoch - 1, { ...sums });
          this.intervalStart = process.hrtime.bigint();
          this.preparing = 0;
        }
      }
      await this.settle(epoch, sums);
    } finally {
      // Unread only when the run is ending with an error: those steps are lost with it.
      this.pending.dispose();
      this.queued = [];
    }
  }

  /**
   * Whether to save last/ mid-epoch after this batch. --save-every: that often, as a stop would save it, so a
   * kill -9 loses at most that long. And when a batch and a save take more than half the grace a stop has
   * (GRACE_SECONDS), so that a stop may have to end nin with the batch still running: after every batch
   * while a save costs under a tenth of the time since the last one, so a stop at once loses only the batch
   * in flight and training runs at most ~10% slower (a pure-JS batch takes minutes, a save under a second).
   */
  private saveDue(): boolean {
    const unsaved = (Date.now() - this.lastSave) / 1000;
    if (this.out.saveEvery && unsaved >= this.out.saveEvery) return true;
    // Not from the first step alone (it also sets up kernels), except on the pure-JS backend, whose first batch takes minutes.
    if (this.steps.count < 2 && this.backend.name !== 'cpu') return false;
    // A GPU's step runs after the call that queues it: its time shows in the reads.
    const stepSeconds = Math.max(this.steps.seconds, this.secondsPerRead);
    if (stepSeconds + this.saveSeconds <= GRACE_SECONDS / 2 || unsaved < 10 * this.saveSeconds) return false;
    if (!this.toldAboutSlowBatches) {
      this.toldAboutSlowBatches = true;
      const stopAtOnce = this.stop.hasDeadline ? `${GRACE_SECONDS} s after a stop signal` : 'at a stop signal';
      this.log(
        `note: a batch takes ${formatDuration(stepSeconds)} here, so last/ is saved after each one; a batch still running ${stopAtOnce} is lost, nothing before it`,
      );
    }
    return true;
  }

  /**
   * Reads the queued steps' losses and hits back (one transfer), checks them, and adds them to
   * `sums`, the TensorBoard log and the progress line. A NaN or exploding loss is therefore seen at
   * the first read after its batch: within a second on a terminal, at the next --log-every line, after
   * at most READ_EVERY_BATCHES batches, and always before a save, the test pass or a stop. The steps
   * queued after it have changed the weights in memory by then, but the run ends here with
   * divergedError, so neither they nor that loss are ever saved or reported.
   */
  private async settle(epoch: number, sums: PartialEpoch): Promise<void> {
    const queued = this.queued;
    this.queued = [];
    const values = await this.pending.take().catch((err) => {
      throw explainGpuError(err);
    });
    // A GPU fault can make reads return zeros: it ends the run before such numbers are used.
    throwIfGpuFault();
    if (queued.length === 0) return;
    // Wall time since the last read. On a GPU that is the steps with the batches resized while they
    // ran, which cannot be timed apart; on a CPU backend nothing overlaps, and the resizing is left
    // out, as d2l's timer leaves out data loading, so examples/sec times the steps alone.
    const now = process.hrtime.bigint();
    const seconds = Number(now - this.intervalStart) / 1e9 - (this.backend.name === 'webgpu' ? 0 : this.preparing);
    this.intervalStart = now;
    this.preparing = 0;
    this.secondsPerRead = seconds / queued.length;
    sums.trainSeconds += seconds;
    const imagesPerSec = queued.reduce((n, q) => n + q.size, 0) / seconds;
    queued.forEach(({ step, size, learningRate }, i) => {
      const [loss, hits] = values[i];
      if (diverged(loss)) throw this.divergedError('loss', loss, `at epoch ${epoch}, batch ${sums.batches + 1}`);
      sums.lossSum += loss * size;
      sums.correct += hits;
      sums.examples += size;
      sums.batches++;
      this.record('batch', { loss, trainAcc: hits / size, learningRate, imagesPerSec }, step + 1);
    });
    this.progress?.trainBatch(sums.batches, {
      loss: sums.lossSum / sums.examples,
      accuracy: sums.correct / sums.examples,
      imagesPerSec: sums.examples / sums.trainSeconds,
    });
  }

  /** Metrics, checkpoints, logs and the epoch line once the test pass is done. */
  private async endEpoch(
    epoch: number,
    sums: PartialEpoch,
    test: SplitScore,
    validation: SplitScore | null,
    seconds: number,
  ): Promise<void> {
    // A last step with a finite loss can still leave weights that overflow: never save those as best/ or last/.
    if (diverged(test.loss)) throw this.divergedError('test loss', test.loss, `after epoch ${epoch}`);
    const dead = deadClasses(test);
    const metrics: EpochMetrics = {
      epoch,
      loss: sums.lossSum / sums.examples,
      trainAcc: sums.correct / sums.examples,
      testAcc: test.accuracy,
      examplesPerSec: sums.examples / sums.trainSeconds,
      seconds,
      ...(validation ? { valLoss: validation.loss, valAcc: validation.accuracy } : {}),
      ...(dead.length ? { deadClasses: dead.map((d) => d.name) } : {}),
    };
    this.state.history = [...this.state.history, metrics];
    // best/ first, then last/ (whose history the logs are rebuilt from): a crash between them only repeats this epoch.
    const chosenBy = metrics[monitored(this.config)] ?? -1;
    if (chosenBy > this.best) {
      this.best = chosenBy;
      await this.run.saveBest(this.trainer.model, this.meta(epoch, null));
    }
    await this.saveLast(epoch, null);
    this.progress?.endEpoch(metrics.seconds);
    const { loss, trainAcc, testAcc, examplesPerSec: imagesPerSec, valLoss, valAcc } = metrics;
    const val = validation ? { valLoss, valAcc } : {};
    this.record('epoch', { loss, trainAcc, testAcc, imagesPerSec, ...val } as Record<string, number>, epoch, true);
    this.run.writeLogs(this.state.history);
    try {
      this.run.writeCurves(this.state.history);
    } catch (err) {
      this.log(`warning: could not draw ${this.run.file('curves')}: ${(err as Error).message}`);
    }
    this.out.print(formatEpoch(metrics, this.config.epochs));
    // After a handful of steps both are the usual start, not a finding: at most a short note.
    const steps = epoch * this.perEpoch;
    const judged = steps >= JUDGED_FROM_STEPS;
    if (metrics.loss > 2.28 && judged) this.log(formatChanceHint(metrics.loss, epoch, this.config));
    const line = this.deadGuard.line(dead, epoch, steps);
    if (line) this.log(line);
  }

  /** last/'s meta.json after `epoch` completed epochs (and a cut-short one, when there is one). */
  private meta(epoch: number, partial: PartialEpoch | null): RunMeta {
    const { config, state } = this;
    return {
      formatVersion: FORMAT_VERSION,
      nin: NIN_VERSION,
      createdAt: new Date().toISOString(),
      config,
      imageSize: config.imageSize,
      epoch,
      metrics: state.history[epoch - 1] ?? null,
      backend: this.backend.name,
      optimizer: { name: config.optimizer, iterations: this.trainer.optimizer.iterations },
      history: state.history,
      partial,
      bestBy: monitored(config),
    };
  }

  private async saveLast(epoch: number, partial: PartialEpoch | null): Promise<void> {
    const started = Date.now();
    const optimizerWeights = await this.trainer.optimizer.getWeights();
    try {
      await this.run.saveLast(this.trainer.model, this.meta(epoch, partial), optimizerWeights);
    } finally {
      // getWeights makes a new `iter` scalar each call (the slots are the optimizer's own variables): one tensor per save otherwise.
      tf.dispose(optimizerWeights.filter((w) => w.name === 'iter').map((w) => w.tensor));
    }
    this.lastSave = Date.now();
    this.saveSeconds = (this.lastSave - started) / 1000;
    // Only now: a stop at once during the save keeps the previous last/ (saves are renamed into place).
    this.stop.setKept(this.kept(epoch, partial));
  }

  /** A signal: save the epoch so far (its queued steps read and checked first), then end with the signal's error. */
  private async interrupted(epoch: number, sums: PartialEpoch): Promise<InterruptedError> {
    await this.settle(epoch, sums);
    this.progress?.clear();
    await this.saveLast(epoch - 1, sums);
    return new InterruptedError(this.stop.signal!, this.kept(epoch - 1, sums));
  }

  private divergedError(what: string, loss: number, where: string): NinError {
    this.progress?.clear();
    const done = this.state.history.length;
    const kept = done ? `checkpoints of epoch ${done} are kept` : 'no checkpoint was saved';
    const lower = this.config.learningRate / 10;
    return new NinError(
      `${what} became ${formatLoss(loss)} ${where}: training diverged; lower the learning rate (e.g. --lr ${lower}); ${kept}`,
    );
  }

  /** TensorBoard is a view of the run: if its file cannot be written (a full disk), training goes on without it. */
  private record(group: 'batch' | 'epoch', values: Record<string, number>, step: number, flush = false): void {
    try {
      this.board?.scalars(Object.fromEntries(Object.entries(values).map(([k, v]) => [`${group}/${k}`, v])), step);
      if (flush) this.board?.flush();
    } catch (err) {
      this.log(`warning: TensorBoard events are no longer written: ${(err as Error).message}`);
      this.board = null;
    }
  }
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toExponential(2) : String(loss);
}
