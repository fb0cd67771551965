// The training loop: d2l's train_ch6 (SGD on softmax cross-entropy, running train loss/accuracy,
// test accuracy per epoch) with checkpoints, logs, resume and clean interruption.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SingleBar } from 'cli-progress';
import { type TrainConfig, DEFAULT_CONFIG, describeConfig } from './config';
import { batches, batchCount, loadFashionMnist } from './data';
import { buildNin, forward, NUM_CLASSES } from './model';
import { initBackend, type BackendInfo } from './backend';
import { type CheckpointMeta, type EpochMetrics, FORMAT_VERSION, loadCheckpoint, loadInitialWeights, recoverCheckpoint, saveCheckpoint } from './checkpoint';
import { scoreSplit } from './eval';
import { InterruptedError, NinError, UsageError } from './errors';
import { deriveSeed } from './random';
import { NIN_VERSION } from './version';
import { writeCurves } from './plot';
import { learningRateAt } from './schedule';

export interface TrainOptions {
  config: TrainConfig;
  out: string; // parent directory of runs
  run?: string; // run name; default: a timestamp
  resume?: string; // run directory to continue
  resumeEpochs?: number; // with resume: a new total epoch count, when the user gave --epochs
  log?: (line: string) => void; // stderr lines: banner, warnings
  print?: (line: string) => void; // stdout lines: one per epoch, final summary
  progress?: boolean; // draw a progress bar (stderr)
  handleSignals?: boolean; // SIGINT/SIGTERM finish the batch, save last/, then throw InterruptedError
}

export interface TrainResult {
  runDir: string;
  backend: BackendInfo;
  history: EpochMetrics[];
}

/** State of an epoch cut short by Ctrl-C, so --resume continues mid-epoch with the same numbers. */
interface PartialEpoch {
  batches: number;
  lossSum: number;
  correct: number;
  examples: number;
  trainSeconds: number;
}

interface RunMeta extends CheckpointMeta {
  history: EpochMetrics[];
  partial: PartialEpoch | null;
}

const CSV_HEADER = 'epoch,loss,trainAcc,testAcc,examplesPerSec,seconds';

export function formatEpoch(m: EpochMetrics, epochs: number): string {
  return `epoch ${m.epoch}/${epochs}: loss ${m.loss.toFixed(3)}, train acc ${m.trainAcc.toFixed(3)}, test acc ${m.testAcc.toFixed(3)}, ${m.examplesPerSec.toFixed(1)} examples/sec`;
}

function csvRow(m: EpochMetrics): string {
  return [m.epoch, m.loss, m.trainAcc, m.testAcc, m.examplesPerSec, m.seconds].join(',');
}

/** Rewrites a whole file atomically (temp name + rename). */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new NinError(`no space left on device while writing ${file}; free some space or pass another --out, then --resume`);
    throw new NinError(`could not write ${file}: ${e.message}`);
  }
}

/** The logs are derived from last/'s history, so after any crash they match the checkpoint exactly. */
function writeLogs(runDir: string, history: EpochMetrics[]): void {
  writeAtomic(path.join(runDir, 'metrics.jsonl'), history.map((m) => JSON.stringify(m) + '\n').join(''));
  writeAtomic(path.join(runDir, 'metrics.csv'), [CSV_HEADER, ...history.map(csvRow)].join('\n') + '\n');
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

function makeOptimizer(config: TrainConfig): tf.Optimizer {
  switch (config.optimizer) {
    case 'sgd':
      return tf.train.sgd(config.learningRate);
    case 'momentum':
      return tf.train.momentum(config.learningRate, config.momentum, config.nesterov);
    case 'adam':
      return tf.train.adam(config.learningRate);
  }
}

/** Sets the rate an optimizer applies next; SGD and momentum keep it as a tensor, rebuilt only on change. */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === rate) return;
  if (o.setLearningRate) o.setLearningRate(rate);
  else o.learningRate = rate;
}

/**
 * mkdir -p, one level at a time: Node 20's recursive mkdirSync spins forever under /proc, where
 * creating a directory fails with ENOENT although its parent exists.
 */
function makeDirs(dir: string): void {
  if (fs.existsSync(dir)) return;
  const parent = path.dirname(dir);
  if (parent !== dir) makeDirs(parent);
  fs.mkdirSync(dir);
}

function prepareRunDir(options: TrainOptions): string {
  const out = options.out;
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a file; pass a directory for checkpoints`);
  try {
    makeDirs(out);
    fs.accessSync(out, fs.constants.W_OK);
  } catch {
    throw new UsageError(`--out ${out} is not writable; pass a directory you can write to`);
  }
  const run = options.run ?? timestamp();
  if (!/^[A-Za-z0-9._-]+$/.test(run) || run === '.' || run === '..') throw new UsageError(`--run ${JSON.stringify(run)}: use letters, digits, '.', '_' and '-' only`);
  const runDir = path.join(out, run);
  if (fs.existsSync(runDir)) throw new UsageError(`--run ${run}: ${runDir} already exists; pick another name or continue it with --resume ${runDir}`);
  // Created later by createRunDir, once the backend and the data are known to work.
  return runDir;
}

/**
 * Creates the run directory whole, config.json inside, by renaming a temporary one: a crash leaves
 * no run or a run --resume can continue (from scratch while it has no last/ yet).
 */
function createRunDir(runDir: string, config: TrainConfig): void {
  const tmp = path.join(path.dirname(runDir), `.${path.basename(runDir)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    writeAtomic(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    fs.renameSync(tmp, runDir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (err instanceof NinError) throw err;
    throw new NinError(`could not create ${runDir}: ${(err as Error).message}`);
  }
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const print = options.print ?? ((l: string) => process.stdout.write(l + '\n'));

  let config = options.config;
  let runDir: string;
  let resumed: RunMeta | null = null;
  let hasLast = false;
  if (options.resume) {
    runDir = options.resume;
    const lastDir = path.join(runDir, 'last');
    if (!fs.existsSync(path.join(runDir, 'config.json'))) throw new UsageError(`--resume ${runDir} is not a nin run directory (no config.json); pass <out>/<run>`);
    recoverCheckpoint(lastDir);
    // Leftovers of a killed save (.last.tmp-PID, metrics.jsonl.tmp-PID); the resumed run is the only writer.
    for (const f of fs.readdirSync(runDir)) if (/\.tmp-\d+$/.test(f)) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
    // Without last/ the run stopped inside its first epoch: it starts again from its seeded initialisation.
    hasLast = fs.existsSync(path.join(lastDir, 'meta.json'));
    const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as TrainConfig;
    // The run's own config wins; only the epoch count, the engine and the threads may change on resume.
    config = { ...DEFAULT_CONFIG, ...saved, epochs: options.resumeEpochs ?? saved.epochs, backend: options.config.backend, threads: options.config.threads };
  } else {
    runDir = prepareRunDir(options);
  }

  const backend = await initBackend(config.backend, config.threads, log);
  log(`nin ${NIN_VERSION}: ${options.resume ? 'resuming' : 'training'} ${runDir}`);
  log(`config: ${describeConfig(config)}`);
  log(`backend: ${backend.name} (${backend.detail})`);

  const data = loadFashionMnist({ dataDir: config.dataDir ?? undefined, trainLimit: config.trainLimit ?? undefined, testLimit: config.testLimit ?? undefined });
  log(`data: ${data.dir} (${data.train.count} train, ${data.test.count} test, resized to ${config.imageSize}x${config.imageSize})`);

  let model: tf.LayersModel;
  const optimizer = makeOptimizer(config);
  let history: EpochMetrics[] = [];
  let partial: PartialEpoch | null = null;
  let startEpoch = 1;
  if (options.resume && hasLast) {
    const loaded = await loadCheckpoint(path.join(runDir, 'last'));
    model = loaded.model;
    resumed = loaded.meta as RunMeta;
    history = resumed.history ?? [];
    partial = resumed.partial ?? null;
    startEpoch = resumed.epoch + 1;
    if (loaded.optimizerWeights) {
      await optimizer.setWeights(loaded.optimizerWeights);
    }
    writeLogs(runDir, history);
    log(`resuming after epoch ${resumed.epoch}${partial ? ` and ${partial.batches} batches of epoch ${startEpoch}` : ''}`);
  } else {
    model = buildNin({ imageSize: config.imageSize, seed: config.seed, biasInit: config.biasInit });
    // Loaded before the run directory exists, so a bad --init-weights leaves nothing behind.
    if (config.initWeights) {
      loadInitialWeights(config.initWeights, model);
      log(`initial weights: ${config.initWeights}`);
    }
    if (!options.resume) createRunDir(runDir, config);
    else log('resuming from the start: the run stopped before its first checkpoint');
    writeLogs(runDir, history);
  }
  const variables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);

  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    if (interrupted) return;
    interrupted = signal;
    log(`\n${signal}: finishing this batch, then saving last/ ...`);
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  if (options.handleSignals) {
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  }

  const meta = (epoch: number, metrics: EpochMetrics | null, part: PartialEpoch | null): RunMeta => ({
    formatVersion: FORMAT_VERSION,
    nin: NIN_VERSION,
    createdAt: new Date().toISOString(),
    config,
    imageSize: config.imageSize,
    epoch,
    metrics,
    backend: backend.name,
    optimizer: { name: config.optimizer, iterations: (optimizer as unknown as { iterations_: number }).iterations_ ?? 0 },
    history,
    partial: part,
  });
  const saveLast = async (epoch: number, metrics: EpochMetrics | null, part: PartialEpoch | null) =>
    saveCheckpoint(path.join(runDir, 'last'), model, meta(epoch, metrics, part), { optimizerWeights: await optimizer.getWeights() });

  const perEpoch = batchCount(data.train.count, config.batchSize);
  let best = history.reduce((b, m) => Math.max(b, m.testAcc), -1);
  try {
    for (let epoch = startEpoch; epoch <= config.epochs; epoch++) {
      const started = Date.now() - (partial?.trainSeconds ?? 0) * 1000;
      let { batches: done, lossSum, correct, examples, trainSeconds } = partial ?? { batches: 0, lossSum: 0, correct: 0, examples: 0, trainSeconds: 0 };
      partial = null;
      const bar = options.progress
        ? new SingleBar({ format: `epoch ${epoch}/${config.epochs} [{bar}] {value}/{total} | loss {loss} acc {acc} | {speed} img/s | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true, etaBuffer: 20 })
        : null;
      bar?.start(perEpoch, done, { loss: '-', acc: '-', speed: '-' });
      for (const batch of batches(data.train, { batchSize: config.batchSize, imageSize: config.imageSize, shuffle: true, seed: config.seed, epoch, startBatch: done, augment: config.augment })) {
        const step = (epoch - 1) * perEpoch + done;
        setLearningRate(optimizer, learningRateAt(config, step, perEpoch));
        const t0 = process.hrtime.bigint();
        const { loss, hits } = trainStep(model, optimizer, variables, batch.x, batch.labels, batch.size, config, deriveSeed(config.seed, 2, step));
        trainSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
        if (diverged(loss)) {
          bar?.stop();
          const kept = history.length ? `checkpoints of epoch ${history.length} are kept` : 'no checkpoint was saved';
          throw new NinError(`loss became ${formatLoss(loss)} at epoch ${epoch}, batch ${done + 1}: training diverged; lower the learning rate (e.g. --lr ${config.learningRate / 10}); ${kept}`);
        }
        lossSum += loss * batch.size;
        correct += hits;
        examples += batch.size;
        done++;
        bar?.update(done, { loss: (lossSum / examples).toFixed(3), acc: (correct / examples).toFixed(3), speed: (examples / trainSeconds).toFixed(1) });
        // Steps are synchronous and saves resolve in microtasks, so without this turn of the event
        // loop a SIGINT/SIGTERM handler would never run until training ended.
        if (options.handleSignals) await new Promise((resolve) => setImmediate(resolve));
        if (interrupted) {
          bar?.stop();
          await saveLast(epoch - 1, history[history.length - 1] ?? null, { batches: done, lossSum, correct, examples, trainSeconds });
          throw new InterruptedError(interrupted);
        }
      }
      bar?.stop();
      const test = scoreSplit(model, data.test, config.batchSize, config.imageSize);
      // A last step with a finite loss can still leave weights that overflow: never save those as best/ or last/.
      if (diverged(test.loss)) {
        const kept = history.length ? `checkpoints of epoch ${history.length} are kept` : 'no checkpoint was saved';
        throw new NinError(`test loss became ${formatLoss(test.loss)} after epoch ${epoch}: training diverged; lower the learning rate (e.g. --lr ${config.learningRate / 10}); ${kept}`);
      }
      const metrics: EpochMetrics = {
        epoch,
        loss: lossSum / examples,
        trainAcc: correct / examples,
        testAcc: test.accuracy,
        examplesPerSec: examples / trainSeconds,
        seconds: (Date.now() - started) / 1000,
      };
      history = [...history, metrics];
      // best/ first, then last/ (whose history the logs are rebuilt from): a crash between them only repeats this epoch.
      if (metrics.testAcc > best) {
        best = metrics.testAcc;
        await saveCheckpoint(path.join(runDir, 'best'), model, meta(epoch, metrics, null));
      }
      await saveLast(epoch, metrics, null);
      writeLogs(runDir, history);
      try {
        writeCurves(runDir);
      } catch (err) {
        log(`warning: could not draw ${path.join(runDir, 'curves.svg')}: ${(err as Error).message}`);
      }
      print(formatEpoch(metrics, config.epochs));
      if (metrics.loss > 2.28) log(`hint: the loss stayed at chance level (${metrics.loss.toFixed(3)} ~ ln 10) this epoch; NiN often needs a lower --lr or a warm-up to start learning`);
      if (interrupted) throw new InterruptedError(interrupted);
    }
  } finally {
    if (options.handleSignals) {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
    model.dispose();
    optimizer.dispose();
  }
  const last = history[history.length - 1];
  if (last) {
    print(`loss ${last.loss.toFixed(3)}, train acc ${last.trainAcc.toFixed(3)}, test acc ${last.testAcc.toFixed(3)}`);
    print(`${last.examplesPerSec.toFixed(1)} examples/sec on ${backend.name} (${backend.detail})`);
  }
  return { runDir, backend, history };
}

/**
 * Cross-entropy over 10 classes starts at ln 10 = 2.3; a mean loss above this bound means logits
 * thousands apart, which only a diverged run produces. Stopping there, not only at NaN, keeps
 * overflowing weights out of best/ and last/.
 */
export const DIVERGED_LOSS = 1000;

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toExponential(2) : String(loss);
}

export function diverged(loss: number): boolean {
  return !Number.isFinite(loss) || loss > DIVERGED_LOSS;
}

/** d2l's softmax cross-entropy (mean over the batch), with optional label smoothing. */
export function trainingLoss(oneHot: tf.Tensor2D, logits: tf.Tensor2D, labelSmoothing: number): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, labelSmoothing) as unknown as tf.Scalar;
}

/**
 * One SGD step. Returns the batch's mean loss and its number of correct predictions; the update
 * is skipped when the loss has diverged, so such a step never reaches the weights.
 */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, variables: tf.Variable[], x: Float32Array, labels: Int32Array, size: number, config: TrainConfig, dropoutSeed: number): { loss: number; hits: number } {
  return tf.tidy(() => {
    const input = tf.tensor4d(x, [size, config.imageSize, config.imageSize, 1]);
    const labelTensor = tf.tensor1d(labels, 'int32');
    const oneHot = tf.oneHot(labelTensor, NUM_CLASSES) as tf.Tensor2D;
    let hitsTensor: tf.Scalar | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const logits = forward(model, input, true, dropoutSeed);
      // Kept past variableGrads' own tidy; disposed below once read.
      hitsTensor = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labelTensor), 'int32'))) as tf.Scalar;
      return trainingLoss(oneHot, logits, config.labelSmoothing);
    }, variables);
    const loss = value.dataSync()[0];
    const hits = (hitsTensor as unknown as tf.Scalar).dataSync()[0];
    (hitsTensor as unknown as tf.Scalar).dispose();
    if (!diverged(loss)) {
      if (config.weightDecay > 0) {
        // As PyTorch's SGD weight_decay: the gradient gains weightDecay * w.
        for (const v of variables) grads[v.name] = tf.add(grads[v.name], tf.mul(v, config.weightDecay));
      }
      optimizer.applyGradients(grads);
    }
    return { loss, hits };
  });
}
