// Training curves as d2l's live plot draws them (train loss, train acc, test acc against epoch), as
// a hand-written SVG; several runs share one figure. PNG output renders that SVG in headless Chromium.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EpochMetrics } from './checkpoint';
import { FieldChecker, readConfigFile, validateEpochMetrics } from './config-check';
import { NinError, UsageError } from './errors';
import { readRegularFile } from './read-file';
import { RUN_FILES } from './run-dir';

export interface RunCurves {
  name: string;
  history: EpochMetrics[];
}

export interface CurvesOptions {
  width?: number; // px; default: 544 + the legend's width (720 for one run)
  height?: number; // px
  epochs?: number; // x axis end (d2l: xlim=[1, num_epochs]); default: the longest history
  title?: string; // default: the run names
}

export const CURVES_FILE = 'curves.svg';
export const COMPARISON_FILE = 'comparison.svg';
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_TIMEOUT_MS = 120_000;

/** d2l's Animator: legend ['train loss', 'train acc', 'test acc'], formats ('-', 'm--', 'g-.'). */
const METRICS = [
  { key: 'loss', label: 'train loss', colour: '#1f77b4', dash: '' },
  { key: 'trainAcc', label: 'train acc', colour: '#bf00bf', dash: '8 4' },
  { key: 'testAcc', label: 'test acc', colour: '#008000', dash: '9 3 2 3' },
] as const;

/** With several runs the colour names the metric and the line style names the run. */
const RUN_DASHES = ['', '8 4', '2 3', '9 3 2 3', '14 4', '4 2 4 6'];
const MAX_MARKED_EPOCHS = 20; // dots at each epoch up to this many (for every run alike); beyond, they only clutter
const MAX_RUN_NAME = 28; // legend characters per run name
const CHAR_WIDTH = 7.6; // px per character at 12px, generous for DejaVu Sans
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

/** 1, 2 or 5 times a power of ten, so that `range` needs at most `maxTicks` steps. */
function niceStep(range: number, maxTicks: number): number {
  const rough = range / maxTicks;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 5, 10]) if (m * power >= rough) return m * power;
  return 10 * power;
}

/** Trims float noise from tick labels (0.30000000000000004 -> 0.3). */
function tickLabel(value: number): string {
  return String(Number(value.toPrecision(6)));
}

const num = (v: number) => String(Math.round(v * 100) / 100);

/** The SVG text of the curves of one or several runs on one axes. */
export function renderCurves(runs: RunCurves[], options: CurvesOptions = {}): string {
  const height = options.height ?? 420;
  const several = runs.length > 1;
  const longest = Math.max(0, ...runs.map((r) => r.history.reduce((m, e) => Math.max(m, e.epoch), 0)));
  const lastEpoch = Math.max(1, longest, options.epochs ?? 0);
  // A single epoch has no range: centre it.
  const xMin = lastEpoch === 1 ? 0.5 : 1;
  const xMax = lastEpoch === 1 ? 1.5 : lastEpoch;
  const maxLoss = Math.max(0, ...runs.flatMap((r) => r.history.map((e) => (Number.isFinite(e.loss) ? e.loss : 0))));
  const yStep = niceStep(Math.max(1, maxLoss), 6);
  const yMax = Math.max(1, Math.ceil(Math.max(1, maxLoss) / yStep - 1e-9) * yStep);

  // Wide enough for the longest legend label, so names are never cut by the edge.
  const labels = [...METRICS.map((m) => `${m.label} 0.000`), ...(several ? runs.map((r) => truncate(r.name, MAX_RUN_NAME)) : [])];
  const legendWidth = Math.ceil(54 + CHAR_WIDTH * Math.max(...labels.map((l) => l.length)));
  // By default the axes keep their size and the figure grows with the legend.
  const width = options.width ?? 544 + legendWidth;
  const left = 58;
  const right = width - legendWidth - 10;
  const top = 38;
  const bottom = height - 48;
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const sy = (y: number) => bottom - (y / yMax) * (bottom - top);

  const out: string[] = [];
  const title = options.title ?? runs.map((r) => r.name).join(' vs ');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>${escapeXml(`training curves: ${title}`)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${num((left + right) / 2)}" y="22" text-anchor="middle" font-size="14">${escapeXml(truncate(title, 80))}</text>`,
  );

  // Grid and ticks, as d2l's set_axes (axes.grid()).
  out.push('<g class="grid" stroke="#d9d9d9" stroke-width="1">');
  const xStep = Math.max(1, niceStep(xMax - xMin, 10));
  const xTicks: number[] = [];
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) if (x >= 1) xTicks.push(x);
  if (xStep > 1 && xTicks[0] !== 1) xTicks.unshift(1);
  const yTicks: number[] = [];
  for (let i = 0; i * yStep <= yMax + 1e-9; i++) yTicks.push(i * yStep);
  for (const x of xTicks) out.push(`<line x1="${num(sx(x))}" y1="${top}" x2="${num(sx(x))}" y2="${bottom}"/>`);
  for (const y of yTicks) out.push(`<line x1="${left}" y1="${num(sy(y))}" x2="${right}" y2="${num(sy(y))}"/>`);
  out.push('</g>');
  out.push(`<rect class="axes" x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#000000" stroke-width="1"/>`);
  out.push('<g class="ticks" fill="#000000">');
  for (const x of xTicks) out.push(`<text x="${num(sx(x))}" y="${bottom + 17}" text-anchor="middle">${tickLabel(x)}</text>`);
  for (const y of yTicks) out.push(`<text x="${left - 6}" y="${num(sy(y) + 4)}" text-anchor="end">${tickLabel(y)}</text>`);
  out.push('</g>');
  out.push(`<text class="xlabel" x="${num((left + right) / 2)}" y="${height - 12}" text-anchor="middle" font-size="13">epoch</text>`);
  out.push(`<text class="ylabel" transform="translate(16 ${num((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">loss / accuracy</text>`);

  // The curves: one polyline per run and metric, one point per epoch.
  out.push('<g class="curves" fill="none" stroke-width="2" stroke-linejoin="round">');
  runs.forEach((run, r) => {
    const history = [...run.history].sort((a, b) => a.epoch - b.epoch);
    for (const metric of METRICS) {
      const points = history
        .filter((e) => Number.isFinite(e[metric.key]))
        .map((e) => `${num(sx(e.epoch))},${num(sy(e[metric.key]))}`);
      const dash = several ? RUN_DASHES[r % RUN_DASHES.length] : metric.dash;
      out.push(
        `<polyline data-run="${escapeXml(run.name)}" data-metric="${metric.key}" stroke="${metric.colour}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.join(' ')}"/>`,
      );
      if (longest <= MAX_MARKED_EPOCHS) {
        for (const p of points) {
          const [x, y] = p.split(',');
          out.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${metric.colour}" stroke="none"/>`);
        }
      }
    }
  });
  out.push('</g>');
  if (runs.every((r) => r.history.length === 0)) {
    out.push(`<text x="${num((left + right) / 2)}" y="${num((top + bottom) / 2)}" text-anchor="middle" fill="#808080">no completed epochs yet</text>`);
  }

  // Legend, right of the axes, so it never hides a curve.
  const lx = right + 16;
  let ly = top + 8;
  const entry = (label: string, colour: string, dash: string) => {
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${lx + 38}" y="${ly + 4}">${escapeXml(label)}</text>`,
    );
    ly += 20;
  };
  out.push('<g class="legend">');
  // One run: the legend also gives the last epoch's values, the numbers a reader looks for.
  const last = several ? undefined : [...(runs[0]?.history ?? [])].sort((a, b) => a.epoch - b.epoch).pop();
  for (const metric of METRICS) entry(last ? `${metric.label} ${last[metric.key].toFixed(3)}` : metric.label, metric.colour, several ? '' : metric.dash);
  if (last) out.push(`<text x="${lx}" y="${ly + 6}" fill="#606060">after epoch ${last.epoch}</text>`);
  if (several) {
    ly += 8;
    runs.forEach((run, r) => entry(truncate(run.name, MAX_RUN_NAME), '#404040', RUN_DASHES[r % RUN_DASHES.length]));
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const MAX_LOG_BYTES = 16e6; // a 10000-epoch log is about 1.5 MB

/** The per-epoch metrics of a run (its metrics.jsonl, or that file itself), each line checked. */
export function readHistory(runDirOrFile: string): EpochMetrics[] {
  const file = runDirOrFile.endsWith('.jsonl') ? runDirOrFile : path.join(runDirOrFile, RUN_FILES.metricsJsonl);
  if (!fs.existsSync(runDirOrFile)) throw new NinError(`${runDirOrFile} does not exist; pass a run directory written by nin train`);
  const fix = 'nin train rewrites it from last/ on --resume';
  const text = readRegularFile(file, {
    maxBytes: MAX_LOG_BYTES,
    fix,
    what: 'a training log',
    missing: `${file} is missing; pass a run directory written by nin train (it holds metrics.jsonl)`,
  }).toString('utf8');
  const history: EpochMetrics[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let m: unknown;
    try {
      m = JSON.parse(line);
    } catch {
      throw new NinError(`${file}:${i + 1} is not JSON (corrupt log); ${fix}`);
    }
    const c = new FieldChecker(`${file}:${i + 1}`, fix);
    const metrics = validateEpochMetrics(m, c, '');
    if (metrics.epoch !== history.length + 1) c.fail('epoch', metrics.epoch, `${history.length + 1} (one row per epoch, in order)`);
    history.push(metrics);
  });
  return history;
}

/**
 * The planned epoch count from the run's config.json, so a run in progress keeps d2l's fixed x
 * range; undefined without one (a copied metrics.jsonl alone still plots). A config.json that is
 * there is checked as --resume checks it.
 */
function plannedEpochs(runDir: string): number | undefined {
  const file = path.join(runDir, RUN_FILES.config);
  if (!fs.existsSync(file)) return undefined;
  return readConfigFile(file, 'restore it from a copy, or plot the metrics.jsonl file itself').epochs;
}

/** A display name for each run: its directory name, or more of its path when two names collide. */
export function runNames(runDirs: string[]): string[] {
  const base = runDirs.map((d) => path.basename(path.resolve(d)));
  return runDirs.map((d, i) => (base.indexOf(base[i]) !== base.lastIndexOf(base[i]) ? path.relative(process.cwd(), path.resolve(d)) || base[i] : base[i]));
}

/** Writes a file under a temporary name, then renames it over `file`. */
function writeAtomic(file: string, text: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new NinError(`could not write ${file}: ${(err as Error).message}`);
  }
}

/** runDir/metrics.jsonl -> runDir/curves.svg (atomically). Returns the SVG's path. */
export function writeCurves(runDir: string): string {
  const file = path.join(runDir, CURVES_FILE);
  const svg = renderCurves([{ name: path.basename(path.resolve(runDir)), history: readHistory(runDir) }], { epochs: plannedEpochs(runDir) });
  writeAtomic(file, svg);
  return file;
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
    throw new UsageError(`--out ${out} is the run's own ${name}; nin plot never overwrites a run's files: pass another name ending in .svg or .png`);
  }
  const checkpoint = fs.existsSync(path.join(dir, 'meta.json')) || fs.existsSync(path.join(dir, 'model.json')) || (CHECKPOINT_DIRS.has(path.basename(dir)) && isRunDir(path.dirname(dir)));
  if (checkpoint) throw new UsageError(`--out ${out} is inside the checkpoint ${dir}; nin plot never writes into a checkpoint: pass a file outside it`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a directory; pass a file name ending in .svg or .png`);
  const extension = path.extname(name).toLowerCase();
  if (extension !== '.svg' && extension !== '.png') {
    throw new UsageError(`--out ${out}: nin plot writes SVG or PNG only; end the file name with .svg or .png`);
  }
  if (pngAsked && extension === '.svg') throw new UsageError(`--png asks for PNG but --out ${out} names an SVG file; drop --png or end --out with .png`);
  return extension === '.png' ? 'png' : 'svg';
}

/** `nin plot`: one figure for one or several runs, as SVG or PNG. */
export function plot(runDirs: string[], options: PlotOptions = {}): PlotResult {
  if (runDirs.length === 0) throw new NinError('pass at least one run directory');
  const names = runNames(runDirs);
  const runs = runDirs.map((dir, i) => ({ name: names[i], dir: path.resolve(dir), history: readHistory(dir) }));
  const defaultName = runs.length > 1 ? COMPARISON_FILE : CURVES_FILE;
  const out = path.resolve(options.out ?? path.join(runs[0].dir, options.png ? defaultName.replace(/\.svg$/, '.png') : defaultName));
  const format = checkOutput(out, Boolean(options.png));
  const planned = Math.max(0, ...runs.map((r) => plannedEpochs(r.dir) ?? 0));
  const svg = renderCurves(runs, { epochs: planned || undefined });
  if (format === 'png') {
    const { width, height } = svgSize(svg);
    svgToPng(svg, out, width, height, options.chromium);
  } else writeAtomic(out, svg);
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
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--hide-scrollbars', '--force-device-scale-factor=1',
      `--user-data-dir=${path.join(work, 'profile')}`, `--screenshot=${shot}`, `--window-size=${width},${height}`,
      pathToFileURL(svgFile).href,
    ];
    const result = spawnSync(chromium, args, { encoding: 'utf8', timeout: CHROMIUM_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error || !fs.existsSync(shot) || fs.statSync(shot).size === 0) {
      const why = result.error ? result.error.message : `exit code ${result.status}: ${lastLine(result.stderr)}`;
      throw new NinError(`Chromium could not render the PNG (${why}); write SVG without --png and convert it elsewhere`);
    }
    writeAtomic(pngFile, fs.readFileSync(shot));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function lastLine(text: string | null): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? 'no output';
}
