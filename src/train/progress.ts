// Progress of a training run on stderr, for people and for logs: on a terminal, one line redrawn in
// place that fits the terminal's width (speed and ETAs always visible, the bar takes what is left);
// elsewhere (nohup, CI, a log file), one plain line every `logEvery` seconds. Both show the test pass
// too, and an ETA for the whole run as well as for the epoch. While one slow step holds the JS thread,
// long-steps.ts prints beat()'s line for it.
import { type Beat, ELAPSED } from './long-steps';

export interface ProgressOptions {
  epochs: number; // the run's last epoch
  batchesPerEpoch: number;
  testBatches: number;
  terminal: boolean; // draw in place (stderr is a TTY) or print plain lines
  logEvery: number; // seconds between plain lines
  columns?: () => number; // the terminal's width now
  write: (text: string) => void; // raw stderr
  now?: () => number; // ms, for tests
}

/** Seconds as 1:02:03 or 4:05. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

const REDRAW_MS = 100; // a terminal line at most ten times a second
// New loss/accuracy/speed on a terminal at most once a second: each is a read from the device, which
// on a GPU drains its queue (the counts and ETAs still move ten times a second).
const STATS_MS = 1000;

/** The running numbers of an epoch's training batches, as the caller read them back. */
export interface TrainStats {
  loss: number;
  accuracy: number;
  imagesPerSec: number;
}

export class Progress {
  private epoch = 0;
  private phase: 'train' | 'test' = 'train';
  private done = 0;
  private detail = '';
  private imagesPerSec = 0;
  private phaseStarted = 0;
  private phaseStartDone = 0;
  private lastDraw = -Infinity;
  private lastLine = -Infinity;
  private lastStats = -Infinity;
  private drawn = false;
  private epochSeconds: number | null = null; // the latest whole epoch's wall time, train and test

  constructor(private readonly options: ProgressOptions) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Starts (or resumes, `done` batches in) an epoch's training batches. */
  startEpoch(epoch: number, done: number): void {
    this.epoch = epoch;
    this.lastStats = -Infinity; // the epoch's first batch shows its numbers
    this.setPhase('train', done);
  }

  /**
   * True when trainBatch would now show new numbers (on a terminal: an epoch's first batch, then once
   * a second; in a log: a line every logEvery seconds): the caller reads them from the device only then.
   */
  statsDue(): boolean {
    const now = this.now();
    if (this.options.terminal) return now - this.lastStats >= STATS_MS;
    return now - this.lastLine >= this.options.logEvery * 1000;
  }

  /**
   * After each training batch: `done` batches queued, with the running loss and accuracy and the
   * images/s when the caller read them (when statsDue said so). Without them a terminal line
   * updates its counts and a log prints nothing.
   */
  trainBatch(done: number, stats?: TrainStats): void {
    this.done = done;
    if (stats) {
      this.lastStats = this.now();
      this.imagesPerSec = stats.imagesPerSec;
      this.detail = `loss ${stats.loss.toFixed(3)} acc ${stats.accuracy.toFixed(3)}`;
    }
    if (stats || this.options.terminal) this.show();
  }

  startTest(): void {
    this.setPhase('test', 0);
  }

  testBatch(done: number): void {
    this.done = done;
    this.show();
  }

  /** The epoch finished after `seconds` of wall time: the run's ETA uses it from now on. */
  endEpoch(seconds: number): void {
    this.epochSeconds = seconds;
    this.clear();
  }

  /** Removes the terminal line (before other output, or at the end). */
  clear(): void {
    if (this.options.terminal && this.drawn) this.options.write('\r\x1b[K');
    this.drawn = false;
  }

  private setPhase(phase: 'train' | 'test', done: number): void {
    this.phase = phase;
    this.done = done;
    this.phaseStarted = this.now();
    this.phaseStartDone = done;
    this.detail = phase === 'test' ? '' : this.detail;
    this.lastLine = this.now(); // plain lines: the first one after logEvery seconds
    this.show(true);
  }

  /** Seconds left in this phase at its measured batch rate, or null before there is a rate. */
  private phaseEta(): number | null {
    const elapsed = (this.now() - this.phaseStarted) / 1000;
    const batches = this.done - this.phaseStartDone;
    if (batches <= 0 || elapsed <= 0) return null;
    const total = this.phase === 'train' ? this.options.batchesPerEpoch : this.options.testBatches;
    return ((total - this.done) * elapsed) / batches;
  }

  /** The epoch's and the run's remaining seconds. */
  private etas(): { epoch: number | null; run: number | null } {
    const left = this.phaseEta();
    if (left === null) return { epoch: null, run: null };
    const { batchesPerEpoch, testBatches, epochs } = this.options;
    const perBatch = (this.now() - this.phaseStarted) / 1000 / Math.max(1, this.done - this.phaseStartDone);
    // Until one test pass is measured, count a test batch (forward only) as a third of a training batch.
    const testLeft = this.phase === 'train' ? (perBatch * testBatches) / 3 : 0;
    const epochLeft = left + testLeft;
    const wholeEpoch = this.epochSeconds ?? (this.phase === 'train' ? perBatch * (batchesPerEpoch + testBatches / 3) : null);
    const laterEpochs = epochs - this.epoch;
    return { epoch: epochLeft, run: wholeEpoch === null ? (laterEpochs === 0 ? epochLeft : null) : epochLeft + laterEpochs * wholeEpoch };
  }

  private show(force = false): void {
    const now = this.now();
    if (this.options.terminal) {
      if (!force && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      this.options.write(`\r${this.terminalLine()}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastLine >= this.options.logEvery * 1000) {
      this.lastLine = now;
      this.options.write(this.plainLine() + '\n');
    }
  }

  private counts(): { done: number; total: number } {
    return { done: this.done, total: this.phase === 'train' ? this.options.batchesPerEpoch : this.options.testBatches };
  }

  /**
   * The line a heartbeat shows while the next batch (of about `expectedSeconds`) runs without a turn of the
   * event loop (long-steps.ts): `epoch 1/10: batch 3/469 running for 4:02, ETA 1:02:03 (run 10:20:30)`,
   * redrawn each second on a terminal, printed every logEvery seconds elsewhere.
   */
  beat(expectedSeconds = 0): Beat {
    const { done, total } = this.counts();
    const { epoch, run } = this.etas();
    const eta =
      epoch === null ? '' : `, ETA ${formatDuration(epoch)}${run !== null && run !== epoch ? ` (run ${formatDuration(run)})` : ''}`;
    const unit = this.phase === 'test' ? 'test batch' : 'batch';
    const text = `epoch ${this.epoch}/${this.options.epochs}: ${unit} ${Math.min(done + 1, total)}/${total} running for ${ELAPSED}${eta}`;
    const width = Math.max(20, (this.options.columns?.() ?? 80) - 1);
    const { terminal, logEvery } = this.options;
    return {
      text: terminal && text.length > width ? text.slice(0, width) : text,
      terminal,
      everySeconds: terminal ? 1 : logEvery,
      // In a log, only when the step runs well past the moment a line is due (a step of the usual length
      // ends soon after it, and the line after it has the numbers); the regular lines go on from the last one.
      firstSeconds: terminal
        ? 1
        : Math.max(0, logEvery - (this.now() - this.lastLine) / 1000) + Math.max(1, Math.min(1.5 * expectedSeconds, logEvery)),
      printed: (at) => {
        if (terminal) this.drawn = true;
        else this.lastLine = at;
      },
    };
  }

  /** `epoch 3/10 [=====     ] 120/469 loss 0.412 acc 0.851 | 1234 img/s | ETA 4:12, run 1:02:03`, fitted to the width. */
  terminalLine(): string {
    const { done, total } = this.counts();
    const { epoch, run } = this.etas();
    const label = `${this.phase === 'test' ? 'test' : 'epoch'} ${this.epoch}/${this.options.epochs}`;
    const speed = this.phase === 'train' && this.imagesPerSec > 0 ? ` | ${this.imagesPerSec.toFixed(0)} img/s` : '';
    const eta = ` | ETA ${formatDuration(epoch ?? NaN)}${run !== null && run !== epoch ? `, run ${formatDuration(run)}` : ''}`;
    const counts = ` ${done}/${total}`;
    const detail = this.detail && this.phase === 'train' ? ` ${this.detail}` : '';
    // A terminal whose size is unknown reports 0 columns (a serial console, some ptys): take 80 then, not 20.
    const columns = this.options.columns?.() ?? 0;
    const width = Math.max(20, (columns > 0 ? columns : 80) - 1);
    // What must stay visible: label, counts, speed, ETA. Then the loss, then the bar, as room allows.
    const fixed = label + counts + speed + eta;
    const withDetail = fixed.length + detail.length <= width ? detail : '';
    const room = width - fixed.length - withDetail.length - 3;
    const bar =
      room >= 5 ? ` [${'='.repeat(Math.round((Math.min(room, 40) * done) / Math.max(1, total))).padEnd(Math.min(room, 40))}]` : '';
    return (label + bar + counts + withDetail + speed + eta).slice(0, width);
  }

  /** `epoch 3/10: batch 120/469, loss 0.412, acc 0.851, 1234.5 images/s, ETA 4:12 (run 1:02:03)`. */
  plainLine(): string {
    const { done, total } = this.counts();
    const { epoch, run } = this.etas();
    const parts = [`${this.phase === 'test' ? 'test batch' : 'batch'} ${done}/${total}`];
    if (this.phase === 'train' && this.detail) parts.push(this.detail.replace(' acc', ', acc'));
    if (this.phase === 'train' && this.imagesPerSec > 0) parts.push(`${this.imagesPerSec.toFixed(1)} images/s`);
    parts.push(`ETA ${formatDuration(epoch ?? NaN)}${run !== null ? ` (run ${formatDuration(run)})` : ''}`);
    return `epoch ${this.epoch}/${this.options.epochs}: ${parts.join(', ')}`;
  }
}
