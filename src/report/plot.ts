// `nin plot`: the curves (curves.ts) of one run or several in one figure, as SVG, or as PNG rendered
// by resvg with an explicit font file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NinError } from '../sys/errors';
import { checkOutputFile } from '../sys/output-path';
import { writeFileAtomic } from '../sys/safe-file';
import { renderCurves } from './curves';
import { printable } from '../cli/format';
import { plannedEpochs } from '../run/run-dir';
import { readHistory } from '../run/metrics';
import { RUN_FILES } from '../run/layout';

export const COMPARISON_FILE = 'comparison.svg';
/** Debian's fonts-dejavu-core: DejaVu Sans is the first family curves.ts names. */
export const DEFAULT_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
const FONT_ENV = 'NIN_FONT';
/** The first four bytes of a font resvg reads: TrueType, OpenType (CFF), Apple TrueType, a collection. */
const FONT_MAGIC = new Set(['\x00\x01\x00\x00', 'OTTO', 'true', 'ttcf']);

/** A display name for each run: its directory name, or more of its path when two names collide; control characters escaped. */
export function runNames(runDirs: string[]): string[] {
  const base = runDirs.map((d) => path.basename(path.resolve(d)));
  return runDirs.map((d, i) =>
    printable(base.indexOf(base[i]) !== base.lastIndexOf(base[i]) ? path.relative(process.cwd(), path.resolve(d)) || base[i] : base[i]),
  );
}

export interface PlotOptions {
  out?: string; // default: <first run>/curves.svg, or comparison.svg for several runs (.png with png)
  png?: boolean; // render to PNG with resvg (also implied by an --out ending in .png)
}

export interface PlotResult {
  out: string;
  format: 'svg' | 'png';
  runs: { name: string; dir: string; epochs: number }[];
}

/** `nin plot`: one figure for one or several runs, as SVG or PNG. */
export function plot(runDirs: string[], options: PlotOptions = {}): PlotResult {
  if (runDirs.length === 0) throw new NinError('pass at least one run directory');
  const names = runNames(runDirs);
  const defaultName = runDirs.length > 1 ? COMPARISON_FILE : RUN_FILES.curves;
  const out = path.resolve(options.out ?? path.join(runDirs[0], options.png ? defaultName.replace(/\.svg$/, '.png') : defaultName));
  // Where the figure goes is checked before any run is read: never a run's own file, never into a checkpoint.
  const format = checkOutputFile(out, {
    flag: '--out',
    command: 'nin plot',
    formats: ['svg', 'png'],
    asked: options.png ? 'png' : undefined,
    ownFile: RUN_FILES.curves,
  });
  const runs = runDirs.map((dir, i) => ({ name: names[i], dir: path.resolve(dir), history: readHistory(dir) }));
  const planned = Math.max(0, ...runs.map((r) => plannedEpochs(r.dir) ?? 0));
  const svg = renderCurves(runs, { epochs: planned || undefined });
  if (format === 'png') svgToPng(svg, out);
  else writeFileAtomic(out, svg);
  return { out, format, runs: runs.map((r) => ({ name: r.name, dir: r.dir, epochs: r.history.length })) };
}

/**
 * Renders an SVG to a PNG of its own size with resvg (a prebuilt binary from npm; no browser).
 * resvg draws text only with the font files it is given, so the font is checked first: without it
 * the figure would come out with no title, ticks, labels or legend.
 */
export function svgToPng(svg: string, pngFile: string, env: NodeJS.ProcessEnv = process.env): void {
  const font = fontFile(env);
  const { Resvg } = loadResvg();
  // Only this file, not the system's fonts: the same figure on every machine, and no font scan per render.
  const png = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [font] } }).render().asPng();
  writeFileAtomic(pngFile, png);
}

/** The font resvg draws text with: $NIN_FONT, or Debian's DejaVu Sans (the family curves.ts asks for). */
export function fontFile(env: NodeJS.ProcessEnv = process.env): string {
  const chosen = env[FONT_ENV];
  const file = chosen || DEFAULT_FONT;
  const fix = chosen
    ? `set ${FONT_ENV} to a .ttf or .otf file, or unset it to use ${DEFAULT_FONT} (apt-get install fonts-dejavu-core)`
    : `apt-get install fonts-dejavu-core, or set ${FONT_ENV} to a .ttf or .otf file`;
  const source = chosen ? `${FONT_ENV}=${file}` : file;
  let magic: string;
  try {
    // Without blocking: a FIFO named as the font ends in one line instead of waiting forever.
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const head = Buffer.alloc(4);
      magic = head.subarray(0, fs.readSync(fd, head, 0, 4, 0)).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is missing' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw new NinError(`PNG output needs a font file to draw text: ${source} ${why}; ${fix}`);
  }
  if (!FONT_MAGIC.has(magic))
    throw new NinError(`PNG output needs a font file to draw text: ${source} is not a TrueType or OpenType font; ${fix}`);
  return file;
}

type ResvgModule = typeof import('@resvg/resvg-js');

/** resvg's native binary, loaded only for PNG, so SVG output works on a platform npm had no binary for. */
function loadResvg(): ResvgModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native package, loaded only when PNG is asked for
    return require('@resvg/resvg-js') as ResvgModule;
  } catch (err) {
    const detail = ((err as Error).message ?? String(err)).split('\n')[0];
    throw new NinError(`PNG output needs @resvg/resvg-js, which did not load (${detail}): npm ci, or write SVG without --png`);
  }
}
