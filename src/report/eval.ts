// Test accuracy, loss, per-class accuracy and the confusion matrix of a model on a split, in inference mode.
import * as tf from '@tensorflow/tfjs';
import { batchCount, batches, CLASS_NAMES, loadFashionMnist, type Split } from '../data/idx';
import { forward, NUM_CLASSES } from '../model/nin';
import { loadCheckpoint } from '../run/checkpoint/load';
import { initBackend, type BackendInfo } from '../backend';
import type { BackendChoice, PrecisionChoice } from '../config/config';
import { DeferredReads } from '../train/deferred-reads';
import { hostImageSize, modelInput } from '../train/step';
import { type Log, stderrLog } from '../sys/log';
import { GRACE_SECONDS, type Stop, withStop } from '../sys/signals';
import { ELAPSED, LongSteps } from '../train/long-steps';
import { InterruptedError } from '../sys/errors';

/** Test batches whose results may wait on the device before being read back. */
const READ_EVERY_BATCHES = 32;

export interface SplitScore {
  examples: number;
  accuracy: number;
  loss: number; // mean softmax cross-entropy
  confusion: number[][]; // confusion[true][predicted]
  zeroLogitClasses: number[]; // classes whose logit was exactly 0 for every example: a dead last-block channel
  misclassified?: Misclassified[]; // with ScoreOptions.misclassified, in the split's order
}

/** A test example the model got wrong: its index in the split, its class and the model's. */
export interface Misclassified {
  index: number;
  label: number;
  predicted: number;
}

export interface ScoreOptions {
  /** Called after each batch (progress). */
  afterBatch?: (done: number, total: number) => void;
  /** Stop points after each batch: the pass ends (null) when a stop signal arrived. */
  stop?: Stop;
  /** Runs each batch's synchronous computation: a slow backend's guard (hard stops, heartbeat lines). */
  runBatch?: <T>(work: () => T) => Promise<T>;
  /** Also list every misclassified example (nin serve's gallery). */
  misclassified?: boolean;
}

/**
 * Scores `model` on `split` batch by batch (d2l's evaluate_accuracy_gpu, plus loss and confusion).
 * Null when a stop signal ended it (options.stop).
 */
export async function scoreSplit(
  model: tf.LayersModel,
  split: Split,
  batchSize: number,
  imageSize: number,
  options: ScoreOptions = {},
): Promise<SplitScore | null> {
  const confusion = Array.from({ length: NUM_CLASSES }, () => new Array<number>(NUM_CLASSES).fill(0));
  const nonzero = new Array<boolean>(NUM_CLASSES).fill(false);
  const total = batchCount(split.count, batchSize);
  let lossSum = 0;
  let correct = 0;
  let examples = 0;
  let done = 0;
  // Each batch's predictions, losses and nonzero-logit flags wait on the device and are read back
  // many batches at a time (on a GPU a read per batch would drain its queue every batch).
  // On a GPU, at most a quarter of the grace a stop has queued: a stop waits for it (signals.ts).
  const pending = new DeferredReads(READ_EVERY_BATCHES, GRACE_SECONDS / 4);
  const labelsOf: Int32Array[] = [];
  const misclassified: Misclassified[] = [];
  const settle = async () => {
    const values = await pending.take();
    values.forEach((v, b) => {
      const labels = labelsOf[b];
      const n = labels.length;
      for (let i = 0; i < n; i++) {
        const truth = labels[i];
        const guess = v[i];
        confusion[truth][guess]++;
        if (truth === guess) correct++;
        else if (options.misclassified) misclassified.push({ index: examples + i, label: truth, predicted: guess });
        lossSum += v[n + i];
      }
      for (let c = 0; c < NUM_CLASSES; c++) nonzero[c] ||= v[2 * n + c] !== 0;
      examples += n;
    });
    labelsOf.length = 0;
  };
  const inputSize = hostImageSize(imageSize); // 28 on a GPU, which resizes each batch (step.ts)
  try {
    const run = options.runBatch ?? (<T>(work: () => T) => Promise.resolve(work()));
    for (const batch of batches(split, { batchSize, imageSize: inputSize, shuffle: false, seed: 0, epoch: 0 })) {
      const outputs = await run(() =>
        tf.tidy(() => {
          const x = modelInput(batch.x, batch.size, inputSize, imageSize);
          const logits = forward(model, x, false);
          const labels = tf.tensor1d(batch.labels, 'int32');
          const perExample = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, NUM_CLASSES), logits, undefined, undefined, tf.Reduction.NONE);
          // [predicted class x n, loss x n, nonzero logit x 10]: class indices and flags are exact as float32.
          const flags = tf.cast(tf.any(tf.notEqual(logits, 0), 0), 'float32');
          return tf.concat([tf.cast(tf.argMax(logits, 1), 'float32'), perExample.flatten(), flags]);
        }),
      );
      pending.push(outputs);
      labelsOf.push(batch.labels);
      if (pending.full) await settle();
      done++;
      options.afterBatch?.(done, total);
      if (await options.stop?.point()) return null;
    }
    await settle();
  } finally {
    pending.dispose();
  }
  const zeroLogitClasses = examples ? nonzero.flatMap((live, c) => (live ? [] : [c])) : [];
  const score: SplitScore = {
    examples,
    accuracy: examples ? correct / examples : 0,
    loss: examples ? lossSum / examples : 0,
    confusion,
    zeroLogitClasses,
  };
  return options.misclassified ? { ...score, misclassified } : score;
}

/** A class the model has stopped recognising, and how it shows. */
export interface DeadClass {
  name: string;
  // 'zero-channel': its last-block channel (a ReLU output, averaged into the logit) is 0 on every
  // image, so no gradient reaches it; 'never-predicted': it has test examples but no prediction.
  reason: 'zero-channel' | 'never-predicted';
}

/** The classes of `score` that are dead: a zero channel, or present in the split but never predicted. */
export function deadClasses(score: SplitScore): DeadClass[] {
  return CLASS_NAMES.flatMap((name, c): DeadClass[] => {
    if (score.zeroLogitClasses.includes(c)) return [{ name, reason: 'zero-channel' }];
    const examples = score.confusion[c].reduce((a, b) => a + b, 0);
    const predicted = score.confusion.reduce((sum, row) => sum + row[c], 0);
    return examples > 0 && predicted === 0 ? [{ name, reason: 'never-predicted' }] : [];
  });
}

export interface EvalOptions {
  testLimit?: number;
  batchSize?: number;
  dataDir?: string;
  backend?: BackendChoice;
  threads?: number | null;
  precision?: PrecisionChoice; // default fp32
  misclassified?: boolean; // also list the misclassified test examples (not part of nin eval's output)
  handleSignals?: boolean; // a stop signal ends the pass after its batch, with InterruptedError
  log?: Log; // stderr lines: a backend warning, the note on the run's --test-limit (default: stderr)
}

export interface ClassScore {
  name: string;
  examples: number;
  accuracy: number;
}

export interface EvalResult {
  checkpoint: string;
  imageSize: number;
  epoch: number;
  backend: string;
  examples: number;
  accuracy: number;
  loss: number;
  perClass: ClassScore[];
  confusion: number[][];
  misclassified?: Misclassified[]; // only with EvalOptions.misclassified
}

export async function evaluate(target: string, options: EvalOptions = {}): Promise<EvalResult> {
  const log = options.log ?? stderrLog;
  const texts = { acknowledge: 'stopping after this test batch', kept: 'eval writes nothing' };
  return withStop(options.handleSignals, texts, log, (stop) => evaluateWith(target, options, log, stop));
}

async function evaluateWith(target: string, options: EvalOptions, log: Log, stop: Stop): Promise<EvalResult> {
  const backend: BackendInfo = await initBackend(options.backend ?? 'auto', options.threads ?? null, log, options.precision);
  const { dir, model, meta } = await loadCheckpoint(target);
  // A pure-JS test batch takes a minute or more: guarded, with a line every 30 s while one runs (long-steps.ts).
  let current = 0;
  let total = 0;
  const steps = new LongSteps(stop, backend.name, () => ({
    text: `eval: test batch ${current}/${total} running for ${ELAPSED}`,
    terminal: false,
    everySeconds: 30,
  }));
  try {
    const runLimit = meta.config.testLimit;
    if (runLimit !== null && options.testLimit === undefined) {
      log(
        `note: this run measured test accuracy on the first ${runLimit} test images; pass --test-limit ${runLimit} to reproduce its logged figure`,
      );
    }
    const data = loadFashionMnist({ dataDir: options.dataDir, trainLimit: 1, testLimit: options.testLimit });
    const batchSize = options.batchSize ?? meta.config.batchSize;
    total = batchCount(data.test.count, batchSize);
    let done = 0;
    const score = await scoreSplit(model, data.test, batchSize, meta.imageSize, {
      misclassified: options.misclassified,
      stop,
      afterBatch: (n) => (done = n),
      runBatch: (work) => {
        current++;
        return steps.run(work);
      },
    });
    if (!score) {
      const images = Math.min(done * batchSize, data.test.count);
      throw new InterruptedError(stop.signal!, `${images} of ${data.test.count} test images scored, no result (eval writes nothing)`);
    }
    const perClass = CLASS_NAMES.map((name, c) => {
      const row = score.confusion[c];
      const total = row.reduce((a, b) => a + b, 0);
      return { name, examples: total, accuracy: total ? row[c] / total : 0 };
    });
    return {
      checkpoint: dir,
      imageSize: meta.imageSize,
      epoch: meta.epoch,
      backend: backend.name,
      examples: score.examples,
      accuracy: score.accuracy,
      loss: score.loss,
      perClass,
      confusion: score.confusion,
      ...(score.misclassified ? { misclassified: score.misclassified } : {}),
    };
  } finally {
    steps.close();
    model.dispose();
  }
}
