// The epoch loop apart from its policies (Lightning's loops beside its callbacks): each epoch's training batches,
// their losses read back in groups, the validation and test passes, the epoch's row and last/. Choosing best/,
// stopping early, the learning hints, saving on a timer, TensorBoard and the metrics logs are listeners
// (callbacks/), called through one interface in the order train() lists them.
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config/config';
import { type Batch, batches, batchCount, type Dataset, type Split } from '../data/idx';
import { microBatchPlan, type BackendInfo, type MicroBatchPlan } from '../backend';
import { explainGpuError, throwIfGpuFault } from '../backend/webgpu';
import type { EpochMetrics } from '../run/metrics';
import { FORMAT_VERSION } from '../run/checkpoint/meta';
import { deadClasses, scoreSplit, type SplitScore } from '../report/eval';
import { InterruptedError, NinError } from '../sys/errors';
import { deriveSeed } from '../sys/random';
import type { PartialEpoch, RunDirectory, RunMeta } from '../run/run-dir';
import { Progress } from './progress';
import { GRACE_SECONDS, type Stop } from '../sys/signals';
import { LongSteps } from './long-steps';
import { learningRateAt } from './schedule';
import { DeferredReads } from './deferred-reads';
import { deferredStep, diverged, hostImageSize, type Trainer } from './step';
import { setLearningRate } from '../sys/tfjs-internals';
import { NIN_VERSION } from '../sys/version';
import type { Log } from '../sys/log';
import type { EpochListener, ListenerFactory, StopRequest } from './callbacks/listener';
import { monitored } from './callbacks/early-stopping';

/**
 * The most training steps queued before their losses are read back: bounds how long a diverged run
 * goes on unseen when no progress line asks for the numbers (a GPU read every 32 steps costs little).
 */
const READ_EVERY_BATCHES = 32;

/** Where training stands: the model and optimizer, the epochs done, and an epoch cut short. */
export interface TrainState {
  trainer: Trainer;
  epochsDone: number;
  history: EpochMetrics[];
  partial: PartialEpoch | null;
}

/** The splits a run trains and scores on: the training split (less the validation split), validation, test. */
export interface TrainingData extends Dataset {
  validation: Split | null;
}

/** Where the loop's lines go (stderr), and how progress shows. */
export interface LoopOutput {
  log: Log;
  terminal?: boolean;
  logEvery?: number;
}

/** What a stop at once keeps after `epoch` epochs and `partial` batches, and the command that goes on. */
export type KeptLine = (epoch: number, partial: PartialEpoch | null) => string;

/** The part of a run that trains epochs: one method per stage of an epoch, over shared state. */
export class EpochLoop {
  private readonly trainer: Trainer;
  private readonly perEpoch: number;
  private readonly progress: Progress | null;
  private readonly plan: MicroBatchPlan | null;
  private readonly validationBatches: number;
  private secondsPerRead = 0; // the latest read's seconds per step (a GPU's steps run after the call)
  private readonly steps: LongSteps; // training steps: timed, and guarded when slow
  private readonly testBatches: LongSteps;
  private readonly listeners: EpochListener[];
  // Training steps queued since the last read (see settle): their [loss, hits] on the device, and what
  // the log needs of each.
  // On a GPU, read before the queue holds a quarter of the grace a stop has: a stop waits for it.
  private readonly pending = new DeferredReads(READ_EVERY_BATCHES, GRACE_SECONDS / 4);
  private queued: { step: number; size: number; learningRate: number }[] = [];
  private intervalStart = process.hrtime.bigint();
  // Seconds spent resizing batches since the last read, left out of the speed where steps run on the CPU (see settle).
  private preparing = 0;
  /** Why a listener ended the run normally, if one did. */
  stopped: StopRequest | null = null;

  constructor(
    private readonly run: RunDirectory,
    private readonly config: TrainConfig,
    private readonly backend: BackendInfo,
    private readonly data: TrainingData,
    private readonly state: TrainState,
    private readonly stop: Stop,
    private readonly out: LoopOutput,
    private readonly keptLine: KeptLine,
    makeListeners: ListenerFactory,
  ) {
    this.trainer = state.trainer;
    this.steps = new LongSteps(stop, backend.name, (seconds) => this.progress?.beat(seconds) ?? null);
    this.testBatches = new LongSteps(stop, backend.name, (seconds) => this.progress?.beat(seconds) ?? null);
    this.validationBatches = data.validation ? batchCount(data.validation.count, config.batchSize) : 0;
    this.perEpoch = batchCount(data.train.count, config.batchSize);
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
    this.listeners = makeListeners({
      log: (line) => this.log(line),
      // A GPU's step runs after the call that queues it: its time shows in the reads.
      stepSeconds: () => Math.max(this.steps.seconds, this.secondsPerRead),
      steps: () => this.steps.count,
      saveBest: (epoch) => this.run.saveBest(this.trainer.model, this.meta(epoch, null)),
      lastCheckpoint: this.lastCheckpoint(),
    });
  }

  /** Other stderr lines go below the progress line, not through it. */
  private log(line: string): void {
    this.progress?.clear();
    this.out.log(line);
  }

  async runAll(): Promise<void> {
    try {
      for (let epoch = this.state.epochsDone + 1; epoch <= this.config.epochs; epoch++) {
        if (this.stopBefore(epoch)) break;
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
        const request = await this.endEpoch(epoch, sums, test, validation, (Date.now() - started) / 1000);
        if (await this.stop.point()) throw new InterruptedError(this.stop.signal!, this.kept(epoch, null));
        if (request) {
          this.stopped = request;
          this.log(request.reason);
          break;
        }
      }
    } finally {
      this.steps.close();
      this.testBatches.close();
      this.progress?.clear();
      for (const l of this.listeners) l.close?.();
    }
  }

  /** A listener's reason to end the run before `epoch` (--early-stop), logged. */
  private stopBefore(epoch: number): boolean {
    for (const l of this.listeners) {
      const request = l.beforeEpoch?.(epoch, this.state.history);
      if (request) {
        this.stopped = request;
        this.log(request.reason);
        return true;
      }
    }
    return false;
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
    return this.keptLine(epoch, partial);
  }

  /**
   * The epoch's training batches from `sums.batches` on, adding to `sums`. Steps are queued without
   * reading anything back (on a GPU, the next batch is resized while this one runs); their losses and
   * hits come back together in settle(), only when the progress line shows them, every
   * READ_EVERY_BATCHES batches, and before anything is saved or the epoch ends.
   */
  private async trainBatches(epoch: number, sums: PartialEpoch): Promise<void> {
    const { config } = this;
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
        await this.queueStep(epoch, sums, next.value, inputSize);
        // The next batch is prepared on the CPU while the GPU still runs this step: nothing waits for it yet.
        next = nextBatch();
        if (this.pending.full || this.progress?.statsDue()) await this.settle(epoch, sums);
        else this.progress?.trainBatch(sums.batches + this.queued.length);
        if (await this.stop.point()) throw await this.interrupted(epoch, sums);
        if (this.listeners.some((l) => l.saveDue?.())) {
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

  /** One training step queued (not read back): its rate set, run under the slow-step guard. */
  private async queueStep(epoch: number, sums: PartialEpoch, batch: Batch, inputSize: number): Promise<void> {
    const { config, trainer } = this;
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
  }

  /**
   * Reads the queued steps' losses and hits back (one transfer), checks them, and adds them to
   * `sums`, the listeners and the progress line. A NaN or exploding loss is therefore seen at
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
      for (const l of this.listeners) l.onStep?.({ step: step + 1, loss, trainAcc: hits / size, learningRate, imagesPerSec });
    });
    this.progress?.trainBatch(sums.batches, {
      loss: sums.lossSum / sums.examples,
      accuracy: sums.correct / sums.examples,
      imagesPerSec: sums.examples / sums.trainSeconds,
    });
  }

  /**
   * The epoch's row once the test pass is done, then its listeners in order (best/, last/, the logs, the
   * epoch line, the hints); a listener's StopRequest ends the run after this epoch.
   */
  private async endEpoch(
    epoch: number,
    sums: PartialEpoch,
    test: SplitScore,
    validation: SplitScore | null,
    seconds: number,
  ): Promise<StopRequest | null> {
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
    const end = { epoch, metrics, history: this.state.history, dead, steps: epoch * this.perEpoch };
    let request: StopRequest | null = null;
    for (const l of this.listeners) request = (await l.onEpochEnd?.(end)) || request;
    return request;
  }

  /** The loop's own part of an epoch's end, as a listener between best/ and the logs: last/ saved. */
  private lastCheckpoint(): EpochListener {
    return {
      onEpochEnd: async ({ epoch, metrics }) => {
        await this.saveLast(epoch, null);
        this.progress?.endEpoch(metrics.seconds);
      },
    };
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
      // Only once it is in place: a stop at once before that keeps the previous last/. The watchdog's thread may
      // still end nin between the rename and this call, understating the save, never overstating it.
      await this.run.saveLast(this.trainer.model, this.meta(epoch, partial), optimizerWeights, () =>
        this.stop.setKept(this.kept(epoch, partial)),
      );
    } finally {
      // getWeights makes a new `iter` scalar each call (the slots are the optimizer's own variables): one tensor per save otherwise.
      tf.dispose(optimizerWeights.filter((w) => w.name === 'iter').map((w) => w.tensor));
    }
    const saved = (Date.now() - started) / 1000;
    for (const l of this.listeners) l.onSaved?.(saved);
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
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toExponential(2) : String(loss);
}
