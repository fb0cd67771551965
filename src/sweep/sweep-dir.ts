// A sweep directory on disk:
//   <dir>/space.json              the space, normalised, with its hash (a directory belongs to one space)
//                                 and the values its base recipe had when the sweep began
//   <dir>/trials/<NNNN>/          trial NNNN: an ordinary nin run directory (nin eval, plot, serve work on it),
//                                 plus trial.json once it has ended (done, pruned or failed)
//   <dir>/logs/<NNNN>.log         what the trial's process wrote (train's banner and epochs, a pruning line)
// States come from the files alone (no coordinator): a trial with trial.json has ended; one whose run lock is
// live is running; one with a run directory but neither is partial (resumed with train's --resume); the rest
// are pending.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EpochMetrics } from '../run/metrics';
import { FieldChecker, isPlainObject } from '../sys/field-check';
import { NinError, UsageError } from '../sys/errors';
import { checkOutputDir } from '../sys/output-path';
import { MissingFileError, parseJson, readRegularFile } from '../sys/read-file';
import { RUN_FILES } from '../run/layout';
import { lockHolder, type LockOwner } from '../run/lock';
import { readHistory } from '../run/metrics';
import { describeFsError, makeDirs, temporaryName, writeDurable, writeFileAtomic } from '../sys/safe-file';
import { NIN_VERSION } from '../sys/version';
import { checkSpace, type Space, spaceHash, spaceToJson, trialName, trialValues } from './space';
import { recipeValues } from './config-keys';

export const SPACE_FILE = 'space.json';
export const TRIALS_DIR = 'trials';
export const LOGS_DIR = 'logs';
export const TRIAL_FILE = 'trial.json';
const MAX_SMALL_FILE = 1e6;

export interface Sweep {
  dir: string;
  space: Space;
  hash: string;
  recipeValues: Record<string, unknown> | null; // as space.json records them (null: a sweep begun before nin recorded them)
}

export type TrialState = 'pending' | 'running' | 'partial' | 'done' | 'pruned' | 'failed';
/** States a sweep does not run again: a pruned trial has ended as surely as a done one; a failed one would fail again (remove its trial.json to retry). */
export const ENDED_STATES: readonly TrialState[] = ['done', 'pruned', 'failed'];

/** trial.json: how a trial ended. */
export interface TrialRecord {
  trial: number;
  state: 'done' | 'pruned' | 'failed';
  epoch: number; // epochs trained when it ended
  reason: string | null; // pruned: the rule's words; failed: the error line
  endedAt: string;
}

export interface TrialStatus {
  index: number;
  name: string;
  dir: string;
  values: Record<string, unknown>;
  state: TrialState;
  record: TrialRecord | null;
  owner: LockOwner | null;
  history: EpochMetrics[];
  problem: string | null; // a file of the trial that could not be read, in one line
}

export function trialDir(sweep: Sweep, i: number): string {
  return path.join(sweep.dir, TRIALS_DIR, trialName(i));
}

/** The trials/ directory of `dir` when it is a sweep directory (it holds space.json and trials/), else null: what nin serve serves of it. */
export function sweepTrialsDir(dir: string): string | null {
  const trials = path.join(dir, TRIALS_DIR);
  return fs.existsSync(path.join(dir, SPACE_FILE)) && fs.existsSync(trials) ? trials : null;
}

export function logFile(sweep: Sweep, i: number): string {
  return path.join(sweep.dir, LOGS_DIR, `${trialName(i)}.log`);
}

/** The stored space.json of `dir`, checked; null when there is none. A damaged one is one NinError line. */
function readStored(dir: string): Sweep | null {
  const file = path.join(dir, SPACE_FILE);
  const fix = `restore it, or start the sweep in a new directory`;
  let text: string;
  try {
    text = readRegularFile(file, { maxBytes: MAX_SMALL_FILE, fix, what: 'a sweep space file', noFollow: true }).toString('utf8');
  } catch (err) {
    if (err instanceof MissingFileError) return null;
    throw err;
  }
  const stored = parseJson(text, file, fix);
  if (!isPlainObject(stored) || typeof stored.hash !== 'string') throw new NinError(`${file} is not a nin sweep's space.json; ${fix}`);
  let space: Space;
  try {
    space = checkSpace(stored.space, `${file}: space`);
  } catch (err) {
    throw new NinError(`${(err as Error).message} (in the stored space); ${fix}`);
  }
  if (spaceHash(space) !== stored.hash) throw new NinError(`${file}: its hash does not match its space (edited by hand?); ${fix}`);
  const values = isPlainObject(stored.recipeValues) ? (stored.recipeValues as Record<string, unknown>) : null;
  return { dir, space, hash: stored.hash, recipeValues: values };
}

function spaceText(space: Space): string {
  return (
    JSON.stringify(
      { nin: NIN_VERSION, hash: spaceHash(space), space: spaceToJson(space), recipeValues: recipeValues(space.recipe) },
      null,
      2,
    ) + '\n'
  );
}

/**
 * Opens the sweep in `dir`, creating it from `space` when it has none. A directory made by another space
 * (another hash) is a usage error, and so is a directory with no space when none is given; nothing is
 * written for either. The same space with another budget or engine updates space.json (trial i stays trial
 * i). Creation is safe against many processes at once (array tasks starting together): the first space.json
 * linked into place wins and the others compare against it.
 */
export function openSweep(dir: string, space: Space | null, log: (line: string) => void): Sweep {
  dir = path.resolve(dir);
  const stored = fs.existsSync(dir) ? readStored(dir) : null;
  if (!space) {
    if (!stored)
      throw new UsageError(
        `${dir} is not a sweep directory (no ${SPACE_FILE}); pass the space file too: nin sweep start SPACE.json --dir ${dir}`,
      );
    return stored;
  }
  const hash = spaceHash(space);
  if (stored) return reopen(stored, space, hash, log);
  // Another process creating the same sweep this moment (array tasks starting together) leaves only these,
  // its space file included once it linked it after this process looked: the link below then finds it (EEXIST).
  const creating = (name: string) =>
    name === TRIALS_DIR || name === LOGS_DIR || name === SPACE_FILE || name.startsWith(`.${SPACE_FILE}.tmp-`);
  if (fs.existsSync(dir) && !fs.readdirSync(dir).every(creating))
    throw new UsageError(`${dir} is not empty and holds no ${SPACE_FILE}; pass a new or empty directory for the sweep`);
  checkOutputDir(dir, { flag: '--dir', purpose: 'a directory for the sweep' });
  const file = path.join(dir, SPACE_FILE);
  const tmp = temporaryName(file);
  try {
    makeDirs(path.join(dir, TRIALS_DIR));
    makeDirs(path.join(dir, LOGS_DIR));
    writeDurable(tmp, spaceText(space));
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return reopen(readStored(dir) as Sweep, space, hash, log);
    }
  } catch (err) {
    throw describeFsError(err, `creating the sweep ${dir}`, 'pass a --dir you can write to');
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  log(`sweep ${dir}: ${space.trials} trials (${space.method}), space ${hash}`);
  return { dir, space, hash, recipeValues: recipeValues(space.recipe) };
}

function reopen(stored: Sweep, space: Space, hash: string, log: (line: string) => void): Sweep {
  if (stored.hash !== hash)
    throw new UsageError(
      `${stored.dir} holds a sweep of another space (${stored.hash}, this one is ${hash}); pass another --dir, or the space in ${path.join(stored.dir, SPACE_FILE)}`,
    );
  checkRecipeUnchanged(stored);
  if (JSON.stringify(stored.space) !== JSON.stringify(space)) {
    if (stored.space.trials !== space.trials)
      log(`sweep ${stored.dir}: the budget changes from ${stored.space.trials} to ${space.trials} trials`);
    writeFileAtomic(path.join(stored.dir, SPACE_FILE), spaceText(space), 'pass a --dir you can write to');
  }
  return { dir: stored.dir, space, hash, recipeValues: stored.recipeValues };
}

/**
 * A space names its base recipe, and a trial's config is resolved from it when the trial starts: were the recipe
 * changed by a newer nin since the sweep began, its new trials would train other values than its old ones under
 * one space. The values recorded at the start must still be the recipe's (a sweep begun before they were
 * recorded cannot be checked).
 */
export function checkRecipeUnchanged(stored: Sweep): void {
  const then = stored.recipeValues;
  if (!then) return;
  const now = recipeValues(stored.space.recipe);
  const keys = [...new Set([...Object.keys(then), ...Object.keys(now)])];
  const changed = keys.filter((k) => JSON.stringify(then[k]) !== JSON.stringify(now[k]));
  if (!changed.length) return;
  const shown = (v: unknown) => (v === undefined ? "d2l's default" : JSON.stringify(v));
  const list = changed.map((k) => `${k} ${shown(then[k])} -> ${shown(now[k])}`).join(', ');
  throw new UsageError(
    `${stored.dir} began with another recipe ${stored.space.recipe} (${list}): its new trials would train other values than its old ones; finish it with the nin that began it, or start the space in a new --dir (with the old values in its "fixed" to keep them)`,
  );
}

/** A trial's trial.json, or null; a damaged one is one NinError line. */
function readRecord(file: string): TrialRecord | null {
  const fix = `remove it to run the trial again`;
  let text: string;
  try {
    text = readRegularFile(file, { maxBytes: MAX_SMALL_FILE, fix, what: 'a trial record', noFollow: true }).toString('utf8');
  } catch (err) {
    if (err instanceof MissingFileError) return null;
    throw err;
  }
  const c = new FieldChecker(file, fix);
  const v = c.object('the record', parseJson(text, file, fix));
  return {
    trial: c.integer('trial', v.trial, 0, 1e9),
    state: c.choice('state', v.state, ['done', 'pruned', 'failed'] as const),
    epoch: c.integer('epoch', v.epoch, 0, 1e9),
    reason: v.reason === null ? null : c.string('reason', v.reason),
    endedAt: c.string('endedAt', v.endedAt),
  };
}

/** Records how trial `i` ended, in its run directory. */
export function writeRecord(sweep: Sweep, i: number, record: Omit<TrialRecord, 'trial' | 'endedAt'>): void {
  const full: TrialRecord = { trial: i, ...record, endedAt: new Date().toISOString() };
  writeFileAtomic(path.join(trialDir(sweep, i), TRIAL_FILE), JSON.stringify(full, null, 2) + '\n');
}

/** Where trial `i` stands, from its files. */
export function trialStatus(sweep: Sweep, i: number): TrialStatus {
  const dir = trialDir(sweep, i);
  const status: TrialStatus = {
    index: i,
    name: trialName(i),
    dir,
    values: trialValues(sweep.space, i),
    state: 'pending',
    record: null,
    owner: null,
    history: [],
    problem: null,
  };
  if (!fs.existsSync(path.join(dir, RUN_FILES.config))) return status;
  try {
    status.record = readRecord(path.join(dir, TRIAL_FILE));
    if (fs.existsSync(path.join(dir, RUN_FILES.metricsJsonl))) status.history = readHistory(dir);
  } catch (err) {
    status.problem = (err as Error).message;
  }
  status.owner = lockHolder(dir);
  status.state = status.record?.state ?? (status.owner ? 'running' : 'partial');
  return status;
}

export function allStatuses(sweep: Sweep): TrialStatus[] {
  return Array.from({ length: sweep.space.trials }, (_, i) => trialStatus(sweep, i));
}
