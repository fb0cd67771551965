// Stop signals (SIGINT, SIGTERM, SIGHUP), one mechanism for every command.
//
// From nin's first line (exitOnSignals) a signal ends nin at once with one line and the shell's exit code.
// A command with long work takes the signals over (takeOverSignals): the first signal then only marks a
// stop, which the command's loops read at their stop points (Stop.point(), between batches, steps and
// pictures), and the command ends there, saying what it kept. A stop point awaits one turn of the event
// loop: steps and saves are synchronous or resolve in microtasks, and a JS signal handler runs only when
// the loop turns, so without it a signal would be seen only when the command ended (lr-find, eval and bench
// did exactly that).
//
// Two things must not wait for the JS thread, which one synchronous step can hold for minutes (TF.js's
// pure-JS kernels take ~20 min for a batch of 128 at 67px): a second signal ends nin at once, and so does
// the first one GRACE_SECONDS after it arrived. The native watchdog (native/src/watchdog.cc) does both: a
// thread with its own libuv loop, which libuv tells of every signal as it tells the main one, prints the
// command's acknowledgement at the first signal and its `kept` line (what a stop at once keeps, updated by
// the command after every save) when it ends nin. Without the addon (the cpu backend without oneDNN) nothing
// but the JS thread hears a signal; work the command knows to be slow then runs with the signals at their
// default action (Stop.hardStoppable): the kernel ends nin at once, losing only that work, and the command
// has said beforehand what such a stop keeps.
import { type Log, stderrLog } from './log';

/** The stop signals, and the shell's exit code for a process each one ends (128 + its number): the one list. */
export const SIGNAL_EXIT_CODES = Object.freeze({ SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const);
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;
export const STOP_SIGNALS = Object.freeze(Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]);

/** Whether a signal Node reports (a child's, a process's) is one of the stop signals. */
export function isStopSignal(signal: string | null): signal is StopSignal {
  return signal !== null && Object.hasOwn(SIGNAL_EXIT_CODES, signal);
}

/** Whether an exit code is the one a stop signal gives (a command that ended on Ctrl-C, SIGTERM or SIGHUP). */
export function isStopExitCode(code: number): boolean {
  return (Object.values(SIGNAL_EXIT_CODES) as number[]).includes(code);
}

/**
 * Seconds from a first signal to the end of nin at the latest: a batch that has not finished by then is
 * lost. Below the 10 s a user (or a service manager: systemd waits 90 s, docker stop 10 s) waits, with room
 * for a loaded machine.
 */
export const GRACE_SECONDS = 8;

/** What a command tells the user at a stop. */
export interface StopTexts {
  acknowledge: string; // what it does after the first signal: "finishing this batch, then saving last/"
  kept: string; // what a stop at once (a second signal, the deadline) keeps, after "nin: stopped at once ...; "
}

interface WatchdogAddon {
  watchdog(graceSeconds: number, acknowledge: string, kept: string): void;
}

let cliProcess = false; // exitOnSignals ran: this is the nin executable, not a test or a library caller
let listening = false;
let active: Stop | null = null;
let watchdog: WatchdogAddon | null | undefined; // undefined: not tried yet; null: unavailable
let toldHardStops = false;

function onSignal(signal: StopSignal): void {
  if (active) {
    active.receive(signal);
    return;
  }
  if (!cliProcess) return;
  process.stderr.write(`nin: interrupted by ${signal}\n`);
  process.exit(SIGNAL_EXIT_CODES[signal]);
}

const handlers = new Map<StopSignal, () => void>(STOP_SIGNALS.map((s) => [s, () => onSignal(s)]));

function listen(): void {
  if (listening) return;
  listening = true;
  for (const [signal, handler] of handlers) process.on(signal, handler);
}

function unlisten(): void {
  if (!listening) return;
  listening = false;
  for (const [signal, handler] of handlers) process.off(signal, handler);
}

/** From nin's first line: a signal ends nin at once with one line and its exit code, instead of Node's silent default. */
export function exitOnSignals(): void {
  cliProcess = true;
  listen();
}

/** The addon's watchdog, loaded on first use; null without the addon (or one built before it). */
function loadWatchdog(): WatchdogAddon | null {
  if (watchdog !== undefined) return watchdog;
  watchdog = null;
  // Loaded here, not at the top: bin/nin.js loads this module before anything else, and the addon loads oneDNN.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only by commands that take signals over
  const { onednnStatus, requireAddon } = require('../backend/onednn/addon') as typeof import('../backend/onednn/addon');
  if (!onednnStatus().available) return null;
  const addon = requireAddon() as unknown as Partial<WatchdogAddon>;
  if (typeof addon.watchdog === 'function') watchdog = addon as WatchdogAddon;
  return watchdog;
}

/** Texts for the watchdog: one line each, within its length limit. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 4000);
}

/**
 * A command's hold on the stop signals. `signal` is the first one that arrived; the loops read it at
 * point(). Obtain one with takeOverSignals(); NO_STOP never stops (library callers that handle signals
 * themselves).
 */
export class Stop {
  signal: StopSignal | null = null;
  /** Resolves at the first stop signal (for a command that waits rather than loops: serve). */
  readonly stopped: Promise<StopSignal>;
  private resolveStopped: (signal: StopSignal) => void = () => {};
  private watched = false;
  private texts: StopTexts;

  constructor(
    private readonly enabled: boolean,
    texts: StopTexts,
    private readonly log: Log = stderrLog,
  ) {
    this.texts = texts;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  /** Starts the watchdog, only in nin's own process: it would end a test runner or a program that imports nin. */
  watch(): void {
    if (this.enabled && cliProcess) this.watched = this.arm();
  }

  /** Starts the watchdog, or updates its texts; false when there is none. */
  private arm(): boolean {
    try {
      const native = loadWatchdog();
      native?.watchdog(GRACE_SECONDS, oneLine(this.texts.acknowledge), oneLine(this.texts.kept));
      return native !== null;
    } catch {
      watchdog = null; // libuv could not watch the signals: stop points and hardStoppable still hold
      return false;
    }
  }

  /** Whether something beside the JS thread ends nin GRACE_SECONDS after a first signal (and at a second one). */
  get hasDeadline(): boolean {
    return this.watched;
  }

  /** Called by the listeners: the first signal marks the stop, a second ends nin at once. */
  receive(signal: StopSignal): void {
    if (this.signal === null) {
      this.signal = signal;
      this.resolveStopped(signal);
      // With the watchdog, its thread has printed this already (JS may hear the signal only minutes later).
      if (!this.watched) {
        const again = signal === 'SIGINT' ? 'Ctrl-C again stops at once' : 'a second signal stops at once';
        this.log(`${process.stderr.isTTY ? '\n' : ''}${signal}: ${this.texts.acknowledge} (${again})`);
      }
      return;
    }
    // The watchdog ends nin itself; without one, the JS thread is free here (or the signal would not run).
    if (this.watched) return;
    process.stderr.write(`nin: stopped at once by a second ${signal}; ${this.texts.kept}\n`);
    process.exit(SIGNAL_EXIT_CODES[signal]);
  }

  /**
   * A stop point: awaits one turn of the event loop, so that signal handlers run, and says whether a stop
   * signal has arrived. Costs ~10 microseconds; without signal handling it returns at once.
   */
  async point(): Promise<boolean> {
    if (!this.enabled) return false;
    await new Promise((resolve) => setImmediate(resolve));
    return this.signal !== null;
  }

  /** What a stop at once keeps from now on (after a save, say so). */
  setKept(kept: string): void {
    if (!this.enabled || kept === this.texts.kept) return;
    this.texts = { ...this.texts, kept };
    if (this.watched) this.arm();
  }

  /**
   * The command is ending with its own last line: a first signal from now on needs no acknowledgement. What a
   * stop at once keeps stays said: a second signal can still land before that last line is written, and
   * nin never ends silently (a blank here once ended a run with exit 130 and no line at all).
   */
  quiet(): void {
    if (!this.enabled) return;
    this.texts = { ...this.texts, acknowledge: '' };
    if (this.watched) this.arm();
  }

  /**
   * Runs `work` that may hold the JS thread for longer than a stop may wait (a pure-JS step). Without a
   * watchdog, in nin's own process, the stop signals keep their default action meanwhile: a signal ends nin
   * at once (the shell still reports 130, 143 or 129), losing `work` only. Node removes its own signal
   * handler when the last listener goes, and installs it again with the next one. A signal in the few
   * microseconds between the caller's stop point and this call is lost with the listeners.
   */
  async hardStoppable<T>(work: () => T | Promise<T>): Promise<T> {
    if (!this.enabled || this.watched || !cliProcess) return work();
    if (!toldHardStops) {
      toldHardStops = true;
      this.log(`note: without the oneDNN addon a stop signal during a long step ends nin at once and silently; ${this.texts.kept}`);
    }
    const saved = STOP_SIGNALS.map((signal) => [signal, process.listeners(signal)] as const);
    for (const [signal] of saved) process.removeAllListeners(signal);
    try {
      return await work();
    } finally {
      for (const [signal, listeners] of saved) for (const listener of listeners) process.on(signal, listener as () => void);
    }
  }

  /** The command is over: signals end nin at once again (in nin's process), or are no longer listened to. */
  release(): void {
    if (!this.enabled || active !== this) return;
    active = null;
    if (!cliProcess) unlisten();
  }
}

/** Never stops: for library callers that leave the signals to their own program. */
export const NO_STOP = new Stop(false, { acknowledge: '', kept: '' });

/**
 * Takes the stop signals over for a command with long work (see the top of this file). The first signal
 * prints `${signal}: ${acknowledge}` and marks the stop; release() ends the hold.
 */
export function takeOverSignals(texts: StopTexts, log: Log = stderrLog): Stop {
  active?.release();
  const stop = new Stop(true, texts, log);
  active = stop;
  listen();
  stop.watch();
  return stop;
}

/**
 * Runs a command's work holding the stop signals (`handle`: the CLI asks for it; library callers keep their
 * own signals and get NO_STOP), and ends the hold however the work ends: after it, a stop at once adds no
 * line to the command's own.
 */
export async function withStop<T>(handle: boolean | undefined, texts: StopTexts, log: Log, work: (stop: Stop) => Promise<T>): Promise<T> {
  const stop = handle ? takeOverSignals(texts, log) : NO_STOP;
  try {
    return await work(stop);
  } finally {
    stop.quiet();
    stop.release();
  }
}
