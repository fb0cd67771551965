// Training curves as d2l's live plot draws them (train loss, train acc, test acc against epoch), as
// a hand-written SVG; several runs share one figure. The run directory redraws its curves.svg after
// each epoch with this, and `nin plot` (plot.ts) draws one or several runs.
import type { EpochMetrics } from '../run/metrics';

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

/** d2l's Animator: legend ['train loss', 'train acc', 'test acc'], formats ('-', 'm--', 'g-.'). */
const METRICS = [
  { key: 'loss', label: 'train loss', colour: '#1f77b4', dash: '' },
  { key: 'trainAcc', label: 'train acc', colour: '#bf00bf', dash: '8 4' },
  { key: 'testAcc', label: 'test acc', colour: '#008000', dash: '9 3 2 3' },
] as const;
/** A run with --val-split adds its validation accuracy (absent from other runs' rows). */
const VAL_ACC = { key: 'valAcc', label: 'val acc', colour: '#d62728', dash: '2 3' } as const;

/** With several runs the colour names the metric and the line style names the run. */
const RUN_DASHES = ['', '8 4', '2 3', '9 3 2 3', '14 4', '4 2 4 6'];
const MAX_MARKED_EPOCHS = 20; // dots at each epoch up to this many (for every run alike); beyond, they only clutter
const MAX_RUN_NAME = 28; // legend characters per run name
const CHAR_WIDTH = 7.6; // px per character at 12px, generous for DejaVu Sans
export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

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

/** Where everything goes in a figure: its size, the axes' box and ranges, the metrics drawn, the legend's width. */
interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  xMin: number;
  xMax: number;
  yMax: number;
  yStep: number;
  several: boolean;
  longest: number; // the most epochs a run has
  metrics: readonly ((typeof METRICS)[number] | typeof VAL_ACC)[];
  sx: (x: number) => number;
  sy: (y: number) => number;
}

function frameOf(runs: RunCurves[], options: CurvesOptions): Frame {
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

  const metrics = runs.some((r) => r.history.some((e) => e.valAcc !== undefined)) ? [...METRICS, VAL_ACC] : METRICS;
  // Wide enough for the longest legend label, so names are never cut by the edge.
  const labels = [...metrics.map((m) => `${m.label} 0.000`), ...(several ? runs.map((r) => truncate(r.name, MAX_RUN_NAME)) : [])];
  const legendWidth = Math.ceil(54 + CHAR_WIDTH * Math.max(...labels.map((l) => l.length)));
  // By default the axes keep their size and the figure grows with the legend.
  const width = options.width ?? 544 + legendWidth;
  const left = 58;
  const right = width - legendWidth - 10;
  const top = 38;
  const bottom = height - 48;
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const sy = (y: number) => bottom - (y / yMax) * (bottom - top);
  return { width, height, left, right, top, bottom, xMin, xMax, yMax, yStep, several, longest, metrics, sx, sy };
}

/** Grid and ticks, as d2l's set_axes (axes.grid()), the axes' box and their labels. */
function drawAxes(out: string[], f: Frame): void {
  const { left, right, top, bottom, xMin, xMax, yMax, yStep, sx, sy } = f;
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
  out.push(
    `<rect class="axes" x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#000000" stroke-width="1"/>`,
  );
  out.push('<g class="ticks" fill="#000000">');
  for (const x of xTicks) out.push(`<text x="${num(sx(x))}" y="${bottom + 17}" text-anchor="middle">${tickLabel(x)}</text>`);
  for (const y of yTicks) out.push(`<text x="${left - 6}" y="${num(sy(y) + 4)}" text-anchor="end">${tickLabel(y)}</text>`);
  out.push('</g>');
  out.push(`<text class="xlabel" x="${num((left + right) / 2)}" y="${f.height - 12}" text-anchor="middle" font-size="13">epoch</text>`);
  out.push(
    `<text class="ylabel" transform="translate(16 ${num((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">loss / accuracy</text>`,
  );
}

/** The curves: one polyline per run and metric, one point per epoch (marked while there are few). */
function drawCurves(out: string[], runs: RunCurves[], f: Frame): void {
  out.push('<g class="curves" fill="none" stroke-width="2" stroke-linejoin="round">');
  runs.forEach((run, r) => {
    const history = [...run.history].sort((a, b) => a.epoch - b.epoch);
    for (const metric of f.metrics) {
      const points = history
        .filter((e) => Number.isFinite(e[metric.key]))
        .map((e) => `${num(f.sx(e.epoch))},${num(f.sy(e[metric.key] as number))}`);
      const dash = f.several ? RUN_DASHES[r % RUN_DASHES.length] : metric.dash;
      out.push(
        `<polyline data-run="${escapeXml(run.name)}" data-metric="${metric.key}" stroke="${metric.colour}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points.join(' ')}"/>`,
      );
      if (f.longest <= MAX_MARKED_EPOCHS) {
        for (const p of points) {
          const [x, y] = p.split(',');
          out.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${metric.colour}" stroke="none"/>`);
        }
      }
    }
  });
  out.push('</g>');
}

/** The legend, right of the axes, so it never hides a curve. */
function drawLegend(out: string[], runs: RunCurves[], f: Frame): void {
  const lx = f.right + 16;
  let ly = f.top + 8;
  const entry = (label: string, colour: string, dash: string) => {
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 30}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${lx + 38}" y="${ly + 4}">${escapeXml(label)}</text>`,
    );
    ly += 20;
  };
  out.push('<g class="legend">');
  // One run: the legend also gives the last epoch's values, the numbers a reader looks for.
  const last = f.several ? undefined : [...(runs[0]?.history ?? [])].sort((a, b) => a.epoch - b.epoch).pop();
  for (const metric of f.metrics)
    entry(
      last?.[metric.key] !== undefined ? `${metric.label} ${last[metric.key]?.toFixed(3)}` : metric.label,
      metric.colour,
      f.several ? '' : metric.dash,
    );
  if (last) out.push(`<text x="${lx}" y="${ly + 6}" fill="#606060">after epoch ${last.epoch}</text>`);
  if (f.several) {
    ly += 8;
    runs.forEach((run, r) => entry(truncate(run.name, MAX_RUN_NAME), '#404040', RUN_DASHES[r % RUN_DASHES.length]));
  }
  out.push('</g>');
}

/** The SVG text of the curves of one or several runs on one axes. */
export function renderCurves(runs: RunCurves[], options: CurvesOptions = {}): string {
  const f = frameOf(runs, options);
  const { width, height, left, right, top, bottom } = f;
  const out: string[] = [];
  const title = options.title ?? runs.map((r) => r.name).join(' vs ');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>${escapeXml(`training curves: ${title}`)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${num((left + right) / 2)}" y="22" text-anchor="middle" font-size="14">${escapeXml(truncate(title, 80))}</text>`,
  );
  drawAxes(out, f);
  drawCurves(out, runs, f);
  if (runs.every((r) => r.history.length === 0)) {
    out.push(
      `<text x="${num((left + right) / 2)}" y="${num((top + bottom) / 2)}" text-anchor="middle" fill="#808080">no completed epochs yet</text>`,
    );
  }
  drawLegend(out, runs, f);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
