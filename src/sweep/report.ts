// `nin sweep report DIR`: every trial with the keys that vary, its state, final and best accuracies,
// parameters and time; then, when seeds vary, the mean and sample standard deviation over seeds of each
// configuration (and over those that did not collapse, when some did); and a picture of final accuracy
// against each varied key.
import { monitoredKey, parameterCount, SEED_KEY, stepsPerEpoch } from './config-keys';
import { describeValues, trialConfigAt } from './space';
import { allStatuses, type Sweep, type TrialState } from './sweep-dir';
import { isCollapsed } from '../run/metrics';

export interface TrialRow {
  trial: number;
  values: Record<string, unknown>;
  state: TrialState;
  epochs: number; // trained
  plannedEpochs: number;
  testAcc: number | null; // final epoch's
  bestTestAcc: number | null;
  valAcc: number | null;
  bestValAcc: number | null;
  params: number;
  seconds: number; // training and test time, summed over epochs
  prunedAt: number | null;
  collapsed: boolean; // its last epoch ended with nine or more classes dead after 50 steps or more (isCollapsed): at chance, NiN's known failure
  reason: string | null; // pruned: the rule's line; failed: the error; a file that cannot be read: its problem
}

export interface GroupRow {
  values: Record<string, unknown>; // the varied values but the seed
  trials: number[];
  key: 'valAcc' | 'testAcc'; // the accuracy summarised
  mean: number | null; // over trials with a final accuracy (done or pruned early count as they ended)
  sd: number | null; // sample standard deviation (n-1); null under two values
  n: number;
  collapsed: number; // of the n, how many collapsed
  others: { mean: number | null; sd: number | null; n: number }; // the same over the n that did not
}

export interface SweepReport {
  dir: string;
  hash: string;
  method: 'grid' | 'random';
  varied: string[];
  counts: Record<TrialState, number>;
  trials: TrialRow[];
  groups: GroupRow[]; // per configuration over seeds; empty unless the seed varies
}

const best = (values: (number | undefined)[]) => {
  const v = values.filter((x): x is number => x !== undefined);
  return v.length ? Math.max(...v) : null;
};

export function meanSd(values: number[]): { mean: number | null; sd: number | null } {
  if (!values.length) return { mean: null, sd: null };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, sd: null };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

export function sweepReport(sweep: Sweep): SweepReport {
  const statuses = allStatuses(sweep);
  const varied = Object.keys(sweep.space.vary);
  const counts = { pending: 0, running: 0, partial: 0, done: 0, pruned: 0, failed: 0 };
  const trials = statuses.map((s): TrialRow => {
    counts[s.state]++;
    const trial = trialConfigAt(sweep.space, s.index);
    const h = s.history;
    const last = h[h.length - 1];
    return {
      trial: s.index,
      values: s.values,
      state: s.state,
      epochs: h.length,
      plannedEpochs: trial.epochs,
      testAcc: last?.testAcc ?? null,
      bestTestAcc: best(h.map((m) => m.testAcc)),
      valAcc: last?.valAcc ?? null,
      bestValAcc: best(h.map((m) => m.valAcc)),
      params: parameterCount(trial),
      seconds: h.reduce((t, m) => t + m.seconds, 0),
      prunedAt: s.state === 'pruned' ? (s.record?.epoch ?? null) : null,
      collapsed: isCollapsed(last?.deadClasses, h.length * stepsPerEpoch(trial)),
      reason: s.problem ?? s.record?.reason ?? null,
    };
  });
  const groups: GroupRow[] = [];
  if (varied.includes(SEED_KEY)) {
    const byConfig = new Map<string, TrialRow[]>();
    for (const row of trials) {
      const values = Object.fromEntries(Object.entries(row.values).filter(([k]) => k !== SEED_KEY));
      const id = JSON.stringify(values);
      byConfig.set(id, [...(byConfig.get(id) ?? []), row]);
    }
    for (const rows of byConfig.values()) {
      const key = monitoredKey(trialConfigAt(sweep.space, rows[0].trial));
      // Only trials that ran their epochs: a pruned trial's accuracy is of fewer epochs, and a partial one's not final.
      const final = (r: TrialRow) => (key === 'valAcc' ? r.valAcc : r.testAcc);
      const ended = rows.filter((r) => r.state === 'done' && final(r) !== null);
      const finals = ended.map((r) => final(r) as number);
      const others = ended.filter((r) => !r.collapsed).map((r) => final(r) as number);
      const values = Object.fromEntries(Object.entries(rows[0].values).filter(([k]) => k !== SEED_KEY));
      groups.push({
        values,
        trials: rows.map((r) => r.trial),
        key,
        ...meanSd(finals),
        n: finals.length,
        collapsed: finals.length - others.length,
        others: { ...meanSd(others), n: others.length },
      });
    }
  }
  return { dir: sweep.dir, hash: sweep.hash, method: sweep.space.method, varied, counts, trials, groups };
}

const acc = (v: number | null) => (v === null ? '-' : v.toFixed(4));
/** A varied value as the report's tables show it: a number to 4 significant digits. */
export const shownValue = (v: unknown) => (typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function stateText(row: TrialRow): string {
  if (row.state === 'pruned') return `pruned@${row.prunedAt}`;
  return row.collapsed ? `${row.state}, collapsed` : row.state;
}

const meanSdText = (m: { mean: number | null; sd: number | null }) =>
  m.mean === null ? '-' : m.sd === null ? m.mean.toFixed(4) : `${m.mean.toFixed(4)} ± ${m.sd.toFixed(4)}`;

/** The report as text: the trials' table, then the per-configuration means when seeds vary. */
export function formatSweepReport(r: SweepReport): string {
  const anyVal = r.trials.some((t) => t.valAcc !== null);
  const header = [
    'trial',
    ...r.varied,
    'state',
    'epochs',
    'test acc',
    'best test',
    ...(anyVal ? ['val acc', 'best val'] : []),
    'params',
    'time',
  ];
  const rows = r.trials.map((t) => [
    String(t.trial),
    ...r.varied.map((k) => shownValue(t.values[k])),
    stateText(t),
    `${t.epochs}/${t.plannedEpochs}`,
    acc(t.testAcc),
    acc(t.bestTestAcc),
    ...(anyVal ? [acc(t.valAcc), acc(t.bestValAcc)] : []),
    t.params.toLocaleString('en-US'),
    `${t.seconds.toFixed(1)} s`,
  ]);
  const c = r.counts;
  const lines = [
    `sweep ${r.dir} (${r.method}, space ${r.hash}): ${r.trials.length} trials, ${c.done} done, ${c.pruned} pruned, ${c.failed} failed, ${c.running} running, ${c.partial} partial, ${c.pending} pending`,
    table(header, rows),
  ];
  const notes = r.trials.filter((t) => t.reason && t.state !== 'pruned').map((t) => `trial ${t.trial}: ${t.reason}`);
  if (notes.length) lines.push(...notes);
  if (r.groups.length) {
    const keys = r.varied.filter((k) => k !== SEED_KEY);
    // Collapsed seeds pull a mean towards 0.100 whatever the configuration: when any did, the mean of the others too.
    const anyCollapsed = r.groups.some((g) => g.collapsed > 0);
    const groupRows = r.groups.map((g) => [
      ...keys.map((k) => shownValue(g.values[k])),
      String(g.n),
      meanSdText(g),
      ...(anyCollapsed ? [String(g.collapsed), meanSdText(g.others)] : []),
    ]);
    const accName = r.groups[0].key === 'valAcc' ? 'val acc' : 'test acc';
    lines.push('', `over seeds (done trials; mean ± sample sd of the final ${r.groups[0].key}):`);
    lines.push(table([...keys, 'seeds', accName, ...(anyCollapsed ? ['collapsed', `${accName} of the others`] : [])], groupRows));
  }
  return lines.join('\n');
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const escapeXml = (text: string) =>
  text.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch] as string);

/**
 * The picture: one panel per varied key, final accuracy (the monitored one) of each trial that has one
 * against the key's value; numbers on a linear axis (log when the values span 10x or more and are positive),
 * other values as evenly spaced categories. Pruned trials are hollow.
 */
export function renderSweepSvg(r: SweepReport): string {
  const panelW = 300;
  const panelH = 240;
  const m = { left: 54, right: 14, top: 34, bottom: 44 };
  const keys = r.varied.length ? r.varied : ['trial'];
  const width = panelW * keys.length;
  const points = r.trials.map((t) => ({ t, y: t.valAcc ?? t.testAcc })).filter((p): p is { t: TrialRow; y: number } => p.y !== null);
  const ys = points.map((p) => p.y);
  let yMin = ys.length ? Math.min(...ys) : 0;
  let yMax = ys.length ? Math.max(...ys) : 1;
  if (yMax - yMin < 0.02) [yMin, yMax] = [Math.max(0, yMin - 0.01), Math.min(1, yMax + 0.01)];
  const parts: string[] = [];
  keys.forEach((key, k) => {
    const x0 = k * panelW + m.left;
    const w = panelW - m.left - m.right;
    const h = panelH - m.top - m.bottom;
    const values = [...new Set(r.trials.map((t) => t.values[key]))];
    const numeric = values.every((v) => typeof v === 'number');
    const nums = values as number[];
    const log = numeric && Math.min(...nums) > 0 && Math.max(...nums) / Math.min(...nums) >= 10;
    const f = (v: number) => (log ? Math.log10(v) : v);
    const order = numeric ? [...nums].sort((a, b) => a - b) : values;
    const lo = numeric ? f(Math.min(...nums)) : 0;
    const hi = numeric ? f(Math.max(...nums)) : Math.max(1, values.length - 1);
    const xOf = (v: unknown) => {
      const pos = numeric ? f(v as number) : order.indexOf(v);
      return hi === lo ? x0 + w / 2 : x0 + ((pos - lo) / (hi - lo)) * w * 0.9 + w * 0.05;
    };
    const yOf = (v: number) => m.top + h - ((v - yMin) / (yMax - yMin || 1)) * h;
    parts.push(`<rect x="${x0}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
    parts.push(`<text x="${x0 + w / 2}" y="${panelH - 10}" text-anchor="middle">${escapeXml(key)}${log ? ' (log)' : ''}</text>`);
    for (const v of order.length <= 8 ? order : [order[0], order[order.length - 1]])
      parts.push(
        `<text x="${xOf(v).toFixed(1)}" y="${m.top + h + 16}" text-anchor="middle" font-size="11">${escapeXml(shownValue(v))}</text>`,
      );
    for (const frac of [0, 0.5, 1]) {
      const v = yMin + frac * (yMax - yMin);
      parts.push(`<text x="${x0 - 6}" y="${(yOf(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v.toFixed(3)}</text>`);
    }
    for (const p of points) {
      const hollow = p.t.state !== 'done';
      parts.push(
        `<circle cx="${xOf(p.t.values[key]).toFixed(1)}" cy="${yOf(p.y).toFixed(1)}" r="4" fill="${hollow ? 'none' : '#1f77b4'}" stroke="#1f77b4"><title>trial ${p.t.trial}: ${escapeXml(describeValues(p.t.values))}, ${p.y.toFixed(4)} (${p.t.state})</title></circle>`,
      );
    }
  });
  const key = r.trials.some((t) => t.valAcc !== null) ? 'val acc' : 'test acc';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${panelH}" font-family="${FONT}" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18">final ${key} of each trial against each varied key (hollow: not done)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
