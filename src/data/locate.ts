// Where the dataset is: --data-dir, $NIN_DATA_DIR, the system's dataset-fashion-mnist, then the download cache.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NinError } from '../sys/errors';

// The pure pieces (no Node) live where a browser bundle can take them; re-exported so callers keep importing them from here.
import { ALL_FILES, HOW_TO_GET, SYSTEM_DATA_DIR, cacheDataDir } from './files';

// ---------------------------------------------------------------------------------------------
// Locating the dataset

/** The path of `name` in `dir`, preferring `<name>.gz` (what the package and --download write), or null. */
export function datasetFilePath(dir: string, name: string): string | null {
  for (const candidate of [path.join(dir, name + '.gz'), path.join(dir, name)]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return null;
}

function missingFiles(dir: string): string[] {
  return ALL_FILES.filter((name) => datasetFilePath(dir, name) === null);
}

export interface DirCandidate {
  dir: string;
  explicit: string | null;
} // explicit: how the user named it, if they did

/** Where to look, in order: --data-dir, $NIN_DATA_DIR, the Debian package's directory, the download cache (cacheDataDir). */
export function datasetSearchPath(dataDir?: string, env: NodeJS.ProcessEnv = process.env): DirCandidate[] {
  const candidates: DirCandidate[] = [];
  if (dataDir) candidates.push({ dir: path.resolve(dataDir), explicit: '--data-dir' });
  if (env.NIN_DATA_DIR) candidates.push({ dir: path.resolve(env.NIN_DATA_DIR), explicit: 'NIN_DATA_DIR' });
  candidates.push({ dir: SYSTEM_DATA_DIR, explicit: null }, { dir: cacheDataDir(env), explicit: null });
  return candidates;
}

/**
 * The first candidate holding all four files. A directory the user named (--data-dir or
 * NIN_DATA_DIR) must hold them: we say so rather than silently falling through to another copy.
 */
export function locateDataset(candidates: DirCandidate[]): string {
  for (const { dir, explicit } of candidates) {
    const missing = missingFiles(dir);
    if (missing.length === 0) return dir;
    if (explicit) {
      throw new NinError(`Fashion-MNIST not found in ${dir} (given by ${explicit}): missing ${missing.join(', ')}; ${HOW_TO_GET}`);
    }
  }
  throw new NinError(`Fashion-MNIST not found (looked in ${candidates.map((c) => c.dir).join(', ')}); ${HOW_TO_GET}`);
}

/** Lookup order: dataDir option, $NIN_DATA_DIR, /usr/share/datasets/fashion-mnist/, the download cache. */
export function findDatasetDir(dataDir?: string): string {
  return locateDataset(datasetSearchPath(dataDir));
}

/** Where `nin data --download` writes: --data-dir, else $NIN_DATA_DIR, else the cache (never the system dir or the package). */
export function defaultDownloadDir(dataDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(dataDir || env.NIN_DATA_DIR || cacheDataDir(env));
}

