// `nin plot`: the curves (curves.ts) of one run or several in one figure, as SVG, or as PNG rendered
// in headless Chromium.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NinError, UsageError } from './errors';
import { writeFileAtomic } from './safe-file';
import { renderCurves } from './curves';
import { plannedEpochs, readHistory, RUN_FILES } from './run-dir';

export const COMPARISON_FILE = 'comparison.svg';
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_TIMEOUT_MS = 120_000;

/** A display name for each run: its directory name, or more of its path when two names collide. */
export function runNames(runDirs: string[]): string[] {
  const base = runDirs.map((d) => path.basename(path.resolve(d)));
  return runDirs.map((d, i) =>
    base.indexOf(base[i]) !== base.lastIndexOf(base[i]) ? path.relative(process.cwd(), path.resolve(d)) || base[i] : base[i],
  );
}

export interface PlotOptions {
  out?: string; // default: <first run>/curves.svg, or comparison.svg for several runs (.png with png)
  png?: boolean; // render to PNG with headless Chromium (also implied by an --out ending in .png)
  chromium?: string; // default /usr/bin/chromium
}

export interface PlotResult {
  out: string;
  format: 'svg' | 'png';
  runs: { name: string; dir: string; epochs: number }[];
}

/** Checkpoint directories inside a run: written whole by nin train, never by anyone else. */
const CHECKPOINT_DIRS = new Set<string>([RUN_FILES.last, RUN_FILES.best]);

function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILES.config)) || fs.existsSync(path.join(dir, RUN_FILES.metricsJsonl));
}

/**
 * Where the figure goes, checked: never one of a run's own files (its config, logs, lock or
 * checkpoints; curves.svg is the figure itself), never into a checkpoint, and only a format its
 * extension names. Returns the format.
 */
function checkOutput(out: string, pngAsked: boolean): 'svg' | 'png' {
  const dir = path.dirname(out);
  const name = path.basename(out);
  const ownFiles = Object.values(RUN_FILES).filter((f) => f !== RUN_FILES.curves);
  if (isRunDir(dir) && ownFiles.some((f) => f.toLowerCase() === name.toLowerCase())) {
    throw new UsageError(
      `--out ${out} is the run's own ${name}; nin plot never overwrites a run's files: pass another name ending in .svg or .png`,
    );
  }
  const checkpoint =
    fs.existsSync(path.join(dir, 'meta.json')) ||
    fs.existsSync(path.join(dir, 'model.json')) ||
    (CHECKPOINT_DIRS.has(path.basename(dir)) && isRunDir(path.dirname(dir)));
  if (checkpoint)
    throw new UsageError(`--out ${out} is inside the checkpoint ${dir}; nin plot never writes into a checkpoint: pass a file outside it`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory())
    throw new UsageError(`--out ${out} is a directory; pass a file name ending in .svg or .png`);
  const extension = path.extname(name).toLowerCase();
  if (extension !== '.svg' && extension !== '.png') {
    throw new UsageError(`--out ${out}: nin plot writes SVG or PNG only; end the file name with .svg or .png`);
  }
  if (pngAsked && extension === '.svg')
    throw new UsageError(`--png asks for PNG but --out ${out} names an SVG file; drop --png or end --out with .png`);
  return extension === '.png' ? 'png' : 'svg';
}

/** `nin plot`: one figure for one or several runs, as SVG or PNG. */
export function plot(runDirs: string[], options: PlotOptions = {}): PlotResult {
  if (runDirs.length === 0) throw new NinError('pass at least one run directory');
  const names = runNames(runDirs);
  const runs = runDirs.map((dir, i) => ({ name: names[i], dir: path.resolve(dir), history: readHistory(dir) }));
  const defaultName = runs.length > 1 ? COMPARISON_FILE : RUN_FILES.curves;
  const out = path.resolve(options.out ?? path.join(runs[0].dir, options.png ? defaultName.replace(/\.svg$/, '.png') : defaultName));
  const format = checkOutput(out, Boolean(options.png));
  const planned = Math.max(0, ...runs.map((r) => plannedEpochs(r.dir) ?? 0));
  const svg = renderCurves(runs, { epochs: planned || undefined });
  if (format === 'png') {
    const { width, height } = svgSize(svg);
    svgToPng(svg, out, width, height, options.chromium);
  } else writeFileAtomic(out, svg);
  return { out, format, runs: runs.map((r) => ({ name: r.name, dir: r.dir, epochs: r.history.length })) };
}

function svgSize(svg: string): { width: number; height: number } {
  const match = /<svg[^>]*\bwidth="(\d+)"[^>]*\bheight="(\d+)"/.exec(svg);
  if (!match) throw new Error('SVG without width and height (this is a bug)');
  return { width: Number(match[1]), height: Number(match[2]) };
}

/**
 * Renders an SVG to a PNG of width x height with headless Chromium: a fresh profile, no network
 * services, no GPU, and a timeout, so it works on a headless CI machine without a display.
 */
export function svgToPng(svg: string, pngFile: string, width: number, height: number, chromium: string = CHROMIUM): void {
  if (!fs.existsSync(chromium)) {
    throw new NinError(`PNG output needs Chromium (${chromium} is missing): apt-get install chromium, or write SVG without --png`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-plot-'));
  try {
    const svgFile = path.join(work, 'curves.svg');
    const shot = path.join(work, 'curves.png');
    fs.writeFileSync(svgFile, svg);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      `--user-data-dir=${path.join(work, 'profile')}`,
      `--screenshot=${shot}`,
      `--window-size=${width},${height}`,
      pathToFileURL(svgFile).href,
    ];
    const result = spawnSync(chromium, args, { encoding: 'utf8', timeout: CHROMIUM_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error || !fs.existsSync(shot) || fs.statSync(shot).size === 0) {
      const why = result.error ? result.error.message : `exit code ${result.status}: ${lastLine(result.stderr)}`;
      throw new NinError(`Chromium could not render the PNG (${why}); write SVG without --png and convert it elsewhere`);
    }
    writeFileAtomic(pngFile, fs.readFileSync(shot));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function lastLine(text: string | null): string {
  const lines = (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? 'no output';
}
