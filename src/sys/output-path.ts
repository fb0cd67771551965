// Where a command may write what the user named (nin plot's and lr-find's --out, train's --out and
// --tensorboard): one guard, called before any work starts, so a bad path costs nothing and leaves
// nothing behind. Never one of a run's own files, never into a checkpoint, never over a directory
// or a device, never under /proc-like trees, only where this user can write, and for a file only in
// the format its extension names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './errors';
import { RUN_FILES } from '../run/layout';

export type FileFormat = 'svg' | 'png';

const EXTENSIONS: Record<FileFormat, string> = { svg: '.svg', png: '.png' };

export interface OutputFileRule {
  flag: string; // the option that named the path, e.g. '--out'
  command: string; // 'nin plot': the command named in the refusal
  formats: readonly FileFormat[]; // what the command writes; the extension picks one
  asked?: FileFormat; // a format a flag asked for (plot's --png): the extension must agree
  ownFile?: string; // the one run file the command itself draws (plot's curves.svg)
}

export interface OutputDirRule {
  flag: string; // '--tensorboard', '--out'
  purpose: string; // what the directory is for, e.g. 'a directory for checkpoints'
}

// Trees of the kernel's and devices' own files: nothing a command writes belongs there (a write
// fails, or worse, does something). /dev/shm is a file system for files, and stays allowed.
const SYSTEM_TREES = ['/proc', '/sys', '/dev'];
const ALLOWED_UNDER_SYSTEM = ['/dev/shm'];

/** The run files a command must never replace, by lower-case name (case-insensitive file systems). */
function runFileNames(except?: string): Set<string> {
  const names = Object.values(RUN_FILES).filter((name) => name !== except);
  return new Set([...names, `.${RUN_FILES.last}.old`, `.${RUN_FILES.best}.old`].map((n) => n.toLowerCase()));
}

function exists(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

function isRunDir(dir: string): boolean {
  return exists(path.join(dir, RUN_FILES.config)) !== null || exists(path.join(dir, RUN_FILES.metricsJsonl)) !== null;
}

/**
 * Whether `dir` is a checkpoint directory: a run's last/ or best/ (or their .old twins), or any
 * directory holding both a meta.json and a model.json. A model.json alone (a TF.js project's) is not one.
 */
function isCheckpoint(dir: string): boolean {
  if (exists(path.join(dir, 'meta.json')) && exists(path.join(dir, 'model.json'))) return true;
  const names = [RUN_FILES.last, RUN_FILES.best].flatMap((n) => [n, `.${n}.old`]);
  return names.includes(path.basename(dir)) && isRunDir(path.dirname(dir));
}

/**
 * `target` with the links on its way resolved: the real path of its nearest existing ancestor
 * (or of itself, when it exists), then the rest as typed. A link to a run's file is that file.
 */
function realTarget(target: string): { real: string; ancestor: string } {
  let ancestor = target;
  const rest: string[] = [];
  while (exists(ancestor) === null && path.dirname(ancestor) !== ancestor) {
    rest.unshift(path.basename(ancestor));
    ancestor = path.dirname(ancestor);
  }
  let real: string;
  try {
    real = fs.realpathSync(ancestor);
  } catch {
    real = ancestor;
  }
  return { real: path.join(real, ...rest), ancestor: real };
}

/**
 * The directory that gets a new entry when `real` is written: the file's directory, the directory
 * itself when it exists (its files go in), else the nearest ancestor that exists (the first new
 * directory goes there). Only that one is checked for being a checkpoint: nin makes no directories
 * inside a checkpoint, and an unrelated model.json higher up (a home directory's) is no concern.
 */
function receivingDir(real: string, ancestor: string, isDir: boolean): string {
  if (ancestor !== real) return ancestor;
  return isDir ? real : path.dirname(real);
}

function underSystemTree(real: string): string | null {
  const inside = (tree: string) => real === tree || real.startsWith(tree + path.sep);
  if (ALLOWED_UNDER_SYSTEM.some(inside)) return null;
  return SYSTEM_TREES.find(inside) ?? null;
}

/** Refusals every output path shares: a system tree, a place this user cannot write, a file on the way. */
function checkWritable(shown: string, flag: string, real: string, dir: string, fix: string): void {
  const tree = underSystemTree(real);
  if (tree) throw new UsageError(`${flag} ${shown} is not writable (${tree} holds the system's own files, not yours); ${fix}`);
  if (!exists(dir)?.isDirectory()) throw new UsageError(`${flag} ${shown} is not writable (${dir} is a file, not a directory); ${fix}`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new UsageError(`${flag} ${shown} is not writable (no permission to write in ${dir}); ${fix}`);
  }
}

/**
 * Checks a file a command will write, before the command does any work; returns the format to
 * write, from the extension. Every refusal is one UsageError line naming the flag and the fix.
 */
export function checkOutputFile(out: string, rule: OutputFileRule): FileFormat {
  const { flag, command } = rule;
  const endings = rule.formats.map((f) => EXTENSIONS[f]).join(' or ');
  const fix = `pass another file name ending in ${endings}`;
  if (out.trim() === '') throw new UsageError(`${flag} '' names no file; ${fix}`);
  const target = path.resolve(out);
  const { real, ancestor } = realTarget(target);
  const name = path.basename(real);
  if (isRunDir(path.dirname(real)) && runFileNames(rule.ownFile).has(name.toLowerCase()))
    throw new UsageError(`${flag} ${out} is the run's own ${name}; ${command} never overwrites a run's files: ${fix}`);
  const stat = exists(real);
  const dir = receivingDir(real, ancestor, false);
  if (isCheckpoint(dir))
    throw new UsageError(
      `${flag} ${out} is inside the checkpoint ${dir}; ${command} never writes into a checkpoint: pass a file outside it`,
    );
  if (stat?.isDirectory()) throw new UsageError(`${flag} ${out} is a directory; pass a file name ending in ${endings}`);
  if (stat && !stat.isFile()) throw new UsageError(`${flag} ${out} is not a regular file (a device, pipe or socket); ${fix}`);
  checkWritable(out, flag, real, dir, fix);
  const extension = path.extname(name).toLowerCase();
  const format = rule.formats.find((f) => EXTENSIONS[f] === extension);
  if (!format) {
    const what = rule.formats.map((f) => f.toUpperCase()).join(' or ');
    throw new UsageError(
      `${flag} ${out}: ${command} writes ${what}${rule.formats.length > 1 ? ' only' : ''}; end the file name with ${endings}`,
    );
  }
  if (rule.asked && rule.asked !== format) {
    throw new UsageError(
      `--${rule.asked} asks for ${rule.asked.toUpperCase()} but ${flag} ${out} names ${format === 'svg' ? 'an SVG' : 'a PNG'} file; drop --${rule.asked} or end ${flag} with ${EXTENSIONS[rule.asked]}`,
    );
  }
  return format;
}

/**
 * Checks a directory a command will create or write into (train's --out, --tensorboard), before
 * any work: never '' (the current directory by accident), never a run's file or inside a
 * checkpoint, never a file, a system tree or a place this user cannot write.
 */
export function checkOutputDir(dir: string, rule: OutputDirRule): void {
  const { flag, purpose } = rule;
  const fix = `pass ${purpose} you can write to`;
  if (dir.trim() === '') throw new UsageError(`${flag} '' names no directory; ${fix}`);
  const target = path.resolve(dir);
  const { real, ancestor } = realTarget(target);
  if (isRunDir(path.dirname(real)) && runFileNames().has(path.basename(real).toLowerCase()))
    throw new UsageError(`${flag} ${dir} is the run's own ${path.basename(real)}; nin never writes over a run's files: ${fix}`);
  const stat = exists(real);
  if (stat && !stat.isDirectory()) throw new UsageError(`${flag} ${dir} is a file; pass ${purpose}`);
  const receiving = receivingDir(real, ancestor, true);
  if (isCheckpoint(receiving))
    throw new UsageError(`${flag} ${dir} is inside the checkpoint ${receiving}; nin never writes into a checkpoint: ${fix}`);
  checkWritable(dir, flag, real, receiving, fix);
}
