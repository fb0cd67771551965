// Every human-readable rendering of a command's result, in one place: the CLI prints these on stdout
// (or `--json` prints the result object itself), and training prints its epoch lines with them.
import { type EpochMetrics, JUDGED_FROM_STEPS } from '../run/metrics';
import type { DeadClass, EvalResult } from '../report/eval';
import type { BenchResult } from '../machine/bench';
import type { NativeTimer } from '../backend/onednn';
import { CPU_FEATURES, type InfoResult } from '../machine/info';
import type { LrFindResult } from '../train/lr-find';
import type { PlotResult } from '../report/plot';
import type { Prediction } from '../predict/predict';
import type { ShapesResult } from '../model/shapes';
import type { Recipe } from '../config/config';

// Control characters (C0 with tab and newline, DEL, C1), Unicode's line separators and its
// bidirectional overrides: in a name they would break a one-line output, move the cursor, recolour
// the terminal or reorder what it shows.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A name nin did not choose (a path typed or found on disk, a file name) as it may be printed in a
 * line: every control character escaped (`\n`, `\x1b`, `\u202e`), the rest as it is.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** One line per epoch, in d2l's words. */
export function formatEpoch(m: EpochMetrics, epochs: number): string {
  return `epoch ${m.epoch}/${epochs}: loss ${m.loss.toFixed(3)}, train acc ${m.trainAcc.toFixed(3)}, test acc ${m.testAcc.toFixed(3)}${m.valAcc === undefined ? '' : `, val acc ${m.valAcc.toFixed(3)}`}, ${m.examplesPerSec.toFixed(1)} examples/sec`;
}

/** The parts of a run's recipe that decide what to suggest when it does not learn. */
export type RemedyContext = Pick<Recipe, 'learningRate' | 'warmupEpochs' | 'epochs' | 'kernelInit' | 'classBias' | 'bottleneck'>;

/**
 * What to try when a run sits at chance or loses classes after `epoch`, leaving out what it already does: no
 * warm-up advice to a run with one, no --recipe best to a run with best's initialisation. During the warm-up
 * the learning rate is still rising, so the line says that first: the run may yet start learning. A warm-up
 * longer than the run is cut to the run (schedule.ts), so it ends with the run's last epoch.
 */
export function remedies(run: RemedyContext, epoch: number): string {
  const tries = [`a lower --lr (now ${run.learningRate})`];
  if (run.warmupEpochs === 0) tries.push('a warm-up (--warmup-epochs 1)');
  tries.push('another --seed');
  if (run.kernelInit !== 'he' || run.classBias === null) tries.push('--recipe best');
  const list = `${tries.slice(0, -1).join(', ')} or ${tries[tries.length - 1]}`;
  const warmupEnds = Math.min(run.warmupEpochs, run.epochs);
  return epoch < warmupEnds
    ? `the learning rate is still warming up (to ${run.learningRate} by the end of epoch ${warmupEnds}); if it lasts, try ${list}`
    : `try ${list}`;
}

/** The dead-class guard's one stderr line after an epoch: which classes, why, and what to try. */
export function formatDeadClasses(dead: DeadClass[], epoch: number, run: RemedyContext): string {
  const names = (reason: DeadClass['reason']) =>
    dead
      .filter((d) => d.reason === reason)
      .map((d) => d.name)
      .join(', ');
  const parts = [];
  if (names('zero-channel')) parts.push(`${names('zero-channel')} (channel 0 on every test image)`);
  if (names('never-predicted')) parts.push(`${names('never-predicted')} (never predicted)`);
  return `warning: dead classes after epoch ${epoch}: ${parts.join(', ')}; they can come back; if they stay, ${remedies(run, epoch)}`;
}

/**
 * The guard's line when a run has collapsed (isCollapsed): nine or more classes dead, one answer for every image.
 * Unlike a dead class or two, no collapsed run of nin's came back, so the line says to start again, not to wait.
 */
export function formatCollapse(dead: DeadClass[], epoch: number, run: RemedyContext): string {
  const tries = ['another --seed', `a lower --lr (now ${run.learningRate})`];
  if (run.bottleneck === null) tries.push('a wider last block (--bottleneck 64)');
  const list = `${tries.slice(0, -1).join(', ')} or ${tries[tries.length - 1]}`;
  return `warning: the run collapsed in epoch ${epoch}: ${dead.length} of 10 classes are dead, so every test image gets the same class (a 10-channel ReLU layer of the last block is 0 on every image; README, "Dead classes"); collapsed runs have not come back: stop it (Ctrl-C) and start again with ${list}`;
}

/** The guard after a later epoch of the same run, whose first line said the rest: only the classes. */
export function formatDeadClassesAgain(dead: DeadClass[], epoch: number): string {
  return `warning: dead classes after epoch ${epoch}: ${dead.map((d) => d.name).join(', ')}`;
}

/** Dead classes after fewer than JUDGED_FROM_STEPS steps: usual, so one short note. */
export function formatEarlyDeadClasses(dead: DeadClass[], steps: number): string {
  const which = dead.length <= 3 ? dead.map((d) => d.name).join(', ') : `${dead.length} of 10 classes`;
  return `note: ${which} dead after ${steps} step${steps === 1 ? '' : 's'}, as often at the start (judged from ${JUDGED_FROM_STEPS} steps on)`;
}

/** The hint after an epoch whose loss stayed near ln 10: nothing is being learned yet. */
export function formatChanceHint(loss: number, epoch: number, run: RemedyContext): string {
  return `hint: the loss stayed at chance level (${loss.toFixed(3)} ~ ln 10) in epoch ${epoch}; ${remedies(run, epoch)}`;
}

export function formatEval(r: EvalResult): string {
  const lines = [
    `checkpoint ${printable(r.checkpoint)} (epoch ${r.epoch}, ${r.imageSize}px) on ${r.examples} test images, ${r.backend} backend`,
    `test acc ${r.accuracy.toFixed(4)}, test loss ${r.loss.toFixed(4)}`,
    '',
    'per class:',
  ];
  const width = Math.max(...r.perClass.map((c) => c.name.length));
  for (const c of r.perClass) lines.push(`  ${c.name.padEnd(width)}  ${c.accuracy.toFixed(3)}  (${c.examples})`);
  lines.push('', 'confusion (rows: true class, columns: predicted):');
  const cell = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1));
  const label = width + 3; // "9 " before the longest name
  lines.push(' '.repeat(label + 2) + r.perClass.map((_, i) => String(i).padStart(cell)).join(''));
  r.confusion.forEach((row, i) =>
    lines.push(`  ${`${i} ${r.perClass[i].name}`.padEnd(label)}` + row.map((v) => String(v).padStart(cell)).join('')),
  );
  return lines.join('\n');
}

export function formatShapes(result: ShapesResult): string {
  const width = Math.max(...result.layers.map((l) => `${l.name} output shape:`.length));
  const shape = Math.max(...result.layers.map((l) => `[${l.outputShape.join(', ')}]`.length));
  const params = Math.max(...result.layers.map((l) => l.params.toLocaleString('en-US').length));
  const rows = result.layers.map(
    (l) =>
      `${`${l.name} output shape:`.padEnd(width)}\t ${`[${l.outputShape.join(', ')}]`.padEnd(shape)}\tparams ${l.params.toLocaleString('en-US').padStart(params)}\tmult-adds ${l.multiplyAdds.toLocaleString('en-US')}`,
  );
  const { training, prediction } = result.memory;
  const memoryRows: [string, number, number][] = [
    ['weights', training.fp32.weights, training.bf16.weights],
    ['gradients', training.fp32.gradients, training.bf16.gradients],
    ['optimizer state, momentum', training.fp32.optimizerState.momentum, training.bf16.optimizerState.momentum],
    ['optimizer state, adam', training.fp32.optimizerState.adam, training.bf16.optimizerState.adam],
    ['activations kept for backward', training.fp32.activations, training.bf16.activations],
    ['gradients in flight', training.fp32.gradientsInFlight, training.bf16.gradientsInFlight],
    ['bf16 copies of one conv', training.fp32.bf16Copies, training.bf16.bf16Copies],
    ['training step, sgd', training.fp32.total.sgd, training.bf16.total.sgd],
    ['training step, momentum', training.fp32.total.momentum, training.bf16.total.momentum],
    ['training step, adam', training.fp32.total.adam, training.bf16.total.adam],
    ['prediction', prediction.fp32.total, prediction.bf16.total],
  ];
  const label = Math.max(...memoryRows.map(([l]) => l.length));
  const column = Math.max(6, ...memoryRows.flatMap(([, a, b]) => [memorySize(a).length, memorySize(b).length]));
  const megaMacs = (result.totalMultiplyAdds / 1e6).toFixed(1);
  return [
    ...rows,
    `total params: ${result.totalParams.toLocaleString('en-US')}`,
    `total mult-adds: ${result.totalMultiplyAdds.toLocaleString('en-US')} per image (${megaMacs} M), ${((result.totalMultiplyAdds * result.batchSize) / 1e9).toFixed(1)} G per batch of ${result.batchSize}`,
    `memory of ${result.description} at ${result.imageSize}px, batch ${result.batchSize} (bf16: nin's --precision bf16, whose tensors stay float32):`,
    `  ${''.padEnd(label)}  ${'fp32'.padStart(column)}  ${'bf16'.padStart(column)}`,
    ...memoryRows.map(([l, a, b]) => `  ${l.padEnd(label)}  ${memorySize(a).padStart(column)}  ${memorySize(b).padStart(column)}`),
  ].join('\n');
}

/** Bytes in MiB: one decimal below 10 MiB, whole MiB with separators above. */
function memorySize(bytes: number): string {
  if (bytes === 0) return '0';
  const value = bytes / 2 ** 20;
  return `${value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US')} MiB`;
}

export function formatPrediction(p: Prediction): string {
  return `${printable(p.file)}: ${p.top.map((c) => `${c.name} ${c.probability.toFixed(3)}`).join(', ')}`;
}

export function formatInfo(r: InfoResult): string {
  const lines = [
    `nin ${r.versions.nin}, Node ${r.versions.node}, TF.js ${r.versions.tfjs}${r.versions.onednn ? `, oneDNN ${r.versions.onednn}` : ''}`,
    `backend: ${r.backend.name} (${r.backend.detail})${r.backend.library ? `, library ${r.backend.library}` : ''}`,
  ];
  if (r.backend.warning) lines.push(`  ${r.backend.warning}`);
  lines.push(
    `cpu: ${r.cpu.model}, ${r.cpu.threads} thread${r.cpu.threads === 1 ? '' : 's'}`,
    `  features: ${r.cpu.features.length ? r.cpu.features.join(' ') : 'none of ' + CPU_FEATURES.join(' ')}`,
    'backends:',
  );
  const width = Math.max(...r.backends.map((b) => b.name.length));
  for (const b of r.backends) lines.push(`  ${b.name.padEnd(width)}  ${b.available ? 'yes' : 'no '}  ${b.detail}`);
  lines.push(...formatAdapters(r.webgpu));
  if (r.dataset.found) {
    const bad = r.dataset.files.filter((f) => !f.ok);
    lines.push(
      `dataset: ${r.dataset.dir}: ${r.dataset.ok ? `checksums ok (${r.dataset.files.length} files)` : `checksums do NOT match for ${bad.map((f) => f.name).join(', ')}; nin data --download fetches them again`}`,
    );
  } else {
    lines.push(`dataset: ${r.dataset.problem}`);
  }
  return lines.join('\n');
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;
}

/** WebGPU adapters, one block each, or why there are none. */
function formatAdapters(probe: InfoResult['webgpu']): string[] {
  if (probe.adapters.length === 0) return [`webgpu adapters: none (${probe.problem ?? 'no reason given'})`];
  return [
    'webgpu adapters:',
    ...probe.adapters.flatMap((a) => [
      `  ${a.description || a.device || 'unnamed'}: ${a.type === 'software' ? 'software (runs on the CPU; auto never picks it)' : 'gpu'}`,
      `    vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, device ${a.device || '?'}`,
      `    maxBufferSize ${mib(a.maxBufferSize)}, maxStorageBufferBindingSize ${mib(a.maxStorageBufferBindingSize)}, shader-f16 ${a.shaderF16 ? 'yes' : 'no'}`,
    ]),
  ];
}

const round2 = (v: number) => Math.round(v * 100) / 100;

export function formatBench(r: BenchResult): string {
  // The estimate counts the step's tensors only (model/shapes.ts); the process adds Node, TF.js and the runtime's caches.
  const estimate = `the step's tensors ${mib(r.memory.estimateBytes)} by nin shapes' estimate`;
  const memory =
    r.gpuBytesAllocated === null
      ? `, peak RSS ${mib(r.memory.peakRssBytes)} (${estimate})`
      : `, GPU memory ${mib(r.gpuBytesAllocated)} (${estimate})`;
  const line = `${r.backend} (${r.detail}), ${r.imageSize}px, batch ${r.batchSize}: train ${r.trainImagesPerSec} images/s, inference ${r.inferImagesPerSec} images/s${memory}`;
  const b = r.breakdown;
  if (!b) return line;
  const share = (ms: number, of: number) => `${((100 * ms) / of).toFixed(1).padStart(5)}%`;
  const rows: [string, number, number][] = [
    ...Object.entries(b.nativeMs).map(([name, ms]): [string, number, number] => [name, ms, b.nativeCpuMs[name as NativeTimer] ?? 0]),
    ['optimizerUpdate', b.updateMs, b.updateCpuMs],
    ['other (TF.js)', b.otherMs, b.otherCpuMs],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const percent = (fraction: number) => `${Math.round(100 * fraction)}%`;
  const lines = [
    line,
    `training step ${b.stepMs} ms, ${b.stepCpuMs} ms of CPU (${b.convGflopPerStep} GFLOP of convolutions):`,
    `  ${''.padEnd(width)} ${'ms'.padStart(8)} ${'share'.padStart(6)} ${'CPU ms'.padStart(8)} ${'share'.padStart(6)}`,
    ...rows.map(
      ([name, ms, cpuMs]) =>
        `  ${name.padEnd(width)} ${ms.toFixed(2).padStart(8)} ${share(ms, b.stepMs)} ${cpuMs.toFixed(2).padStart(8)} ${share(cpuMs, b.stepCpuMs)}`,
    ),
  ];
  const c = b.conversionsPerStep;
  if (c !== null) {
    lines.push(
      `conversions per step: ${round2(c.toJavaScript + c.betweenLayouts)} (${c.toJavaScript} into JavaScript's float32, ${c.betweenLayouts} between native layouts)`,
    );
  }
  if (b.convGflopPerSec !== null) {
    const peak = b.convPeak;
    const inCpu = (fraction: number | null) => (fraction === null ? '' : ` (${percent(fraction)} in CPU time)`);
    const ofPeak =
      peak && b.convPeakFraction !== null ? ` = ${percent(b.convPeakFraction)} of the peak${inCpu(b.convPeakFractionCpu)}` : '';
    lines.push(`convolutions: ${b.convGflopPerSec} GFLOP/s${ofPeak}`);
    if (peak && b.stepPeakFraction !== null) {
      lines.push(`whole step: ${percent(b.stepPeakFraction)} of the peak${inCpu(b.stepPeakFractionCpu)}`);
      lines.push(`peak: ${peak.gflopPerSec} GFLOP/s, ${peak.layer}'s forward timed alone (${peak.implementation})`);
    }
  }
  return lines.join('\n');
}

export function formatPlot(r: PlotResult): string {
  return `${printable(r.out)} (${r.runs.map((run) => `${run.name}: ${run.epochs} epoch${run.epochs === 1 ? '' : 's'}`).join(', ')})`;
}

/** A learning rate in three significant digits: 0.000123 as 1.23e-4, 0.0316 as 0.0316, 10 as 10. */
export function formatRate(lr: number): string {
  return lr < 1e-3 || lr >= 1e3
    ? lr
        .toExponential(2)
        .replace(/\.?0+e/, 'e')
        .replace('e+', 'e')
    : String(Number(lr.toPrecision(3)));
}

/** `nin lr-find`: the curve at about ten of its points, why it stopped, and the suggested rates. */
export function formatLrFind(r: LrFindResult): string {
  const last = r.points[r.points.length - 1];
  const stop = {
    steps: `all ${r.steps} steps taken`,
    exploded: `stopped at step ${last?.step}: the smoothed loss passed 4x its minimum`,
    diverged: `stopped at step ${(last?.step ?? 0) + 1}: the loss diverged`,
    interrupted: `stopped after step ${last?.step ?? 0} of ${r.steps} by ${r.interruptedBy ?? 'a signal'}`,
  }[r.stoppedBy];
  const lines = [
    `lr-find on ${r.backend}, ${r.imageSize}px, batch ${r.batchSize}, ${r.optimizer}: lr ${formatRate(r.startLr)} to ${formatRate(r.endLr)}; ${stop}`,
    '',
  ];
  lines.push(`  ${'step'.padStart(4)}  ${'lr'.padStart(9)}  ${'loss'.padStart(7)}  ${'smoothed'.padStart(8)}`);
  const every = Math.max(1, Math.ceil(r.points.length / 10));
  for (const p of r.points.filter((p, i) => i % every === 0 || i === r.points.length - 1)) {
    lines.push(
      `  ${String(p.step).padStart(4)}  ${formatRate(p.lr).padStart(9)}  ${p.loss.toFixed(3).padStart(7)}  ${p.smoothed.toFixed(3).padStart(8)}`,
    );
  }
  const { steepest, minimumLoss, minimumOverTen, fall } = r.suggestions;
  lines.push('');
  if (fall === null) lines.push('no suggestion: too few finite losses; lower --start-lr or raise --steps');
  else if (steepest === null || minimumLoss === null || minimumOverTen === null) {
    lines.push(
      `no suggestion: the smoothed loss fell at most ${(100 * fall).toFixed(1)}% below its start; on a flat curve the steepest point is noise`,
    );
  } else {
    lines.push(`suggested lr: ${formatRate(steepest)} (steepest fall of the smoothed loss)`);
    lines.push(`min loss / 10: ${formatRate(minimumOverTen)} (smoothed loss lowest at lr ${formatRate(minimumLoss)})`);
  }
  if (r.plot) lines.push(`plot: ${printable(r.plot)}`);
  return lines.join('\n');
}
