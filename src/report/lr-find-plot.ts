// nin lr-find's plot: loss (raw and smoothed) against the rate on a log axis, with the suggestions marked; an SVG in
// the same font as the training curves (curves.ts).
import { formatRate } from '../cli/format';
import type { LrFindResult } from '../train/lr-find';
import { FONT } from './curves';

const PLOT = { width: 720, height: 420, left: 64, right: 700, top: 40, bottom: 372 };

/** The SVG text of the range test's curve; the y range is clipped at `explosionFactor` times the smoothed minimum, as the test stops. */
export function renderLrFindPlot(
  result: Pick<LrFindResult, 'points' | 'suggestions' | 'startLr' | 'endLr' | 'imageSize' | 'batchSize' | 'optimizer'>,
  explosionFactor: number,
): string {
  const { left, right, top, bottom, width, height } = PLOT;
  const lowDecade = Math.floor(Math.log10(result.startLr));
  const highDecade = Math.max(lowDecade + 1, Math.ceil(Math.log10(Math.max(result.endLr, ...result.points.map((p) => p.lr)))));
  const losses = result.points.flatMap((p) => [p.loss, p.smoothed]);
  // The y range follows the smoothed curve, clipped at 4x its minimum as the stop is, so one wild batch does not flatten it.
  const minSmoothed = Math.min(...result.points.map((p) => p.smoothed));
  const yMax = losses.length ? Math.min(Math.max(...losses), explosionFactor * minSmoothed) * 1.05 : 2.5;
  const yMin = losses.length ? Math.max(0, Math.min(...losses) - 0.05 * (yMax - Math.min(...losses))) : 0;
  const yTop = Math.max(yMax, yMin + 0.1);
  const sx = (lr: number) => left + ((Math.log10(lr) - lowDecade) / (highDecade - lowDecade)) * (right - left);
  const sy = (loss: number) => bottom - ((Math.min(loss, yTop) - yMin) / (yTop - yMin)) * (bottom - top);
  const n = (v: number) => String(Math.round(v * 100) / 100);

  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>learning-rate range test</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${n((left + right) / 2)}" y="22" text-anchor="middle" font-size="14">nin lr-find: ${result.imageSize}px, batch ${result.batchSize}, ${result.optimizer}</text>`,
    '<g class="grid" stroke="#d9d9d9" stroke-width="1">',
  ];
  const yTicks = ticksBetween(yMin, yTop);
  for (let d = lowDecade; d <= highDecade; d++)
    out.push(`<line x1="${n(sx(10 ** d))}" y1="${top}" x2="${n(sx(10 ** d))}" y2="${bottom}"/>`);
  for (const y of yTicks) out.push(`<line x1="${left}" y1="${n(sy(y))}" x2="${right}" y2="${n(sy(y))}"/>`);
  out.push(
    '</g>',
    `<rect class="axes" x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#000000"/>`,
    '<g class="ticks">',
  );
  for (let d = lowDecade; d <= highDecade; d++)
    out.push(`<text x="${n(sx(10 ** d))}" y="${bottom + 17}" text-anchor="middle">1e${d}</text>`);
  for (const y of yTicks) out.push(`<text x="${left - 6}" y="${n(sy(y) + 4)}" text-anchor="end">${Number(y.toPrecision(6))}</text>`);
  out.push(
    '</g>',
    `<text class="xlabel" x="${n((left + right) / 2)}" y="${height - 12}" text-anchor="middle" font-size="13">learning rate (log scale)</text>`,
    `<text class="ylabel" transform="translate(16 ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">training loss</text>`,
  );
  const line = (key: 'loss' | 'smoothed', colour: string, widthPx: number) =>
    `<polyline data-series="${key}" fill="none" stroke="${colour}" stroke-width="${widthPx}" stroke-linejoin="round" points="${result.points.map((p) => `${n(sx(p.lr))},${n(sy(p[key]))}`).join(' ')}"/>`;
  out.push(line('loss', '#aec7e8', 1), line('smoothed', '#1f77b4', 2));
  const marks: [number | null, string, string][] = [
    [result.suggestions.steepest, '#d62728', 'steepest'],
    [result.suggestions.minimumOverTen, '#2ca02c', 'min loss / 10'],
  ];
  let legendY = top + 18;
  const legend = (colour: string, label: string, dash = '') => {
    out.push(
      `<line x1="${left + 12}" y1="${legendY}" x2="${left + 42}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${left + 50}" y="${legendY + 4}">${label}</text>`,
    );
    legendY += 18;
  };
  // Top left: the curve starts near ln 10 and ends in the explosion at the top right.
  out.push('<g class="legend">');
  legend('#aec7e8', 'loss per batch');
  legend('#1f77b4', 'smoothed (beta 0.98)');
  for (const [lr, colour, label] of marks) {
    if (lr === null) continue;
    out.push(
      `<line data-suggestion="${label}" x1="${n(sx(lr))}" y1="${top}" x2="${n(sx(lr))}" y2="${bottom}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="6 3"/>`,
    );
    legend(colour, `${label} ${formatRate(lr)}`, '6 3');
  }
  out.push('</g>');
  if (result.points.length === 0)
    out.push(
      `<text x="${n((left + right) / 2)}" y="${n((top + bottom) / 2)}" text-anchor="middle" fill="#808080">no finite loss recorded</text>`,
    );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** About five round tick values (1, 2 or 5 times a power of ten apart) from low to high. */
function ticksBetween(low: number, high: number): number[] {
  const rough = (high - low) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const spacing = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) as number;
  const ticks = [];
  for (let t = Math.ceil(low / spacing) * spacing; t <= high + 1e-12; t += spacing) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}
