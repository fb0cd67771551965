// Human-readable tables for `nin eval`.
import type { EvalResult } from './eval';

export function formatEval(r: EvalResult): string {
  const lines = [
    `checkpoint ${r.checkpoint} (epoch ${r.epoch}, ${r.imageSize}px) on ${r.examples} test images, ${r.backend} backend`,
    `test acc ${r.accuracy.toFixed(4)}, test loss ${r.loss.toFixed(4)}`,
    '',
    'per class:',
  ];
  const width = Math.max(...r.perClass.map((c) => c.name.length));
  for (const c of r.perClass) lines.push(`  ${c.name.padEnd(width)}  ${c.accuracy.toFixed(3)}  (${c.examples})`);
  lines.push('', 'confusion (rows: true class, columns: predicted):');
  const cell = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1));
  const label = width + 3; // "9 " before the longest name
  lines.push(' '.repeat(label + 2) + r.perClass.map((_, i) => String(i).padStart(cell)).join(''));
  r.confusion.forEach((row, i) => lines.push(`  ${`${i} ${r.perClass[i].name}`.padEnd(label)}` + row.map((v) => String(v).padStart(cell)).join('')));
  return lines.join('\n');
}
