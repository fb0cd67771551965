// Steps that hold the JS thread for long: TF.js's pure-JS kernels run a batch of 128 at 67px for ~20
// minutes without a turn of the event loop, so no timer, no progress line and no signal handler of the main
// thread runs meanwhile. LongSteps runs each step of a loop (training, lr-find, bench, a test pass,
// predict) and, once steps are slow, guards them:
// - Heartbeat: a worker thread, whose timers run while the main thread computes, prints the line the main
//   thread gave it before the step, with the time the step has run so far, until the step ends. It writes
//   to fd 2 itself: a worker's process.stderr goes through the (busy) main thread.
// - Stop.hardStoppable: where no watchdog can end nin (signals.ts), a stop signal ends it at once meanwhile.
import { Worker } from 'node:worker_threads';
import type { Stop } from '../sys/signals';

/**
 * A step slower than this (seconds) runs guarded. TF.js's pure-JS cpu backend is always treated as
 * slow: its first step, which takes minutes, is not to be waited for.
 */
export const SLOW_STEP_SECONDS = 2;

/** In `text`, replaced by how long the step has run (1:05, 1:02:03). */
export const ELAPSED = '{elapsed}';

export interface Beat {
  text: string; // one line, with ELAPSED somewhere in it
  terminal: boolean; // redraw in place (\r ... erase to the end) rather than print lines
  everySeconds: number;
  firstSeconds?: number; // the first line after this long (default everySeconds)
  printed?: (atMs: number) => void; // after the step, when a line was printed: when the last one was (Date.now())
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const printedAt = workerData; // BigInt64Array on shared memory: Date.now() of the last line
const duration = (seconds) => {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + s : m + ':' + s;
};
let timer = null;
parentPort.on('message', (beat) => {
  clearTimeout(timer);
  timer = null;
  if (!beat) return;
  const started = Date.now();
  const print = () => {
    const line = beat.text.split(${JSON.stringify(ELAPSED)}).join(duration(Math.round((Date.now() - started) / 1000)));
    try {
      fs.writeSync(2, beat.terminal ? '\\r' + line + '\\x1b[K' : line + '\\n');
      Atomics.store(printedAt, 0, BigInt(Date.now()));
    } catch {
      // stderr closed: nothing to tell anyone
    }
    timer = setTimeout(print, Math.max(100, beat.everySeconds * 1000));
  };
  timer = setTimeout(print, Math.max(100, (beat.firstSeconds ?? beat.everySeconds) * 1000));
});
`;

/** A worker that prints a line during each long step it is told of; started on first use. */
export class Heartbeat {
  private worker: Worker | null = null;
  private readonly printedAt = new BigInt64Array(new SharedArrayBuffer(8));

  /** Runs synchronous `work`, with `beat`'s line printed every beat.everySeconds while it runs. */
  during<T>(beat: Beat, work: () => T): T {
    const worker = this.start();
    Atomics.store(this.printedAt, 0, 0n);
    const { printed, ...message } = beat;
    worker.postMessage(message);
    try {
      return work();
    } finally {
      worker.postMessage(null);
      const at = Number(Atomics.load(this.printedAt, 0));
      if (at > 0) printed?.(at);
    }
  }

  private start(): Worker {
    if (!this.worker) {
      this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.printedAt, stdout: false, stderr: false });
      // Never what keeps nin running; an error in it (none expected) costs only the lines.
      this.worker.unref();
      this.worker.on('error', () => (this.worker = null));
    }
    return this.worker;
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = null;
  }
}

/** Runs a loop's steps, each guarded once steps are slow (see the top of this file), and times them. */
export class LongSteps {
  /** The latest step's wall time on the JS thread, seconds (a CPU backend's whole step). */
  seconds = 0;
  /** Steps run so far. */
  count = 0;
  private readonly heartbeat = new Heartbeat();

  constructor(
    private readonly stop: Stop,
    private readonly backend: string, // TF.js's backend name: 'cpu' is always slow
    private readonly beat: (expectedSeconds: number) => Beat | null, // the line for a step of about that long, or null for none
  ) {}

  /** Whether a step of about `seconds` is slow. */
  slow(seconds = this.seconds): boolean {
    return this.backend === 'cpu' || seconds > SLOW_STEP_SECONDS;
  }

  /** Runs synchronous `work` (about `expected` seconds: by default as long as the last step), guarded when slow. */
  async run<T>(work: () => T, expected = this.seconds): Promise<T> {
    const started = process.hrtime.bigint();
    try {
      if (!this.slow(expected)) return work();
      const beat = this.beat(expected);
      return await this.stop.hardStoppable(() => (beat ? this.heartbeat.during(beat, work) : work()));
    } finally {
      this.seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.count++;
    }
  }

  close(): void {
    this.heartbeat.close();
  }
}
