// The Runs view: each run's state and progress, its config, and the curves of the ticked runs on one
// chart, drawn by the same code that draws curves.svg (src/curves.ts) and redrawn on every event.
import type { RunSummary } from '../src/serve/api';
import { renderCurves } from '../src/report/curves';
import { $, el, fixed } from './dom';
import { runList, state } from './state';

const ticked = new Set<string>();
let initialised = false;

function status(run: RunSummary): { text: string; training: boolean } {
  const planned = run.config?.epochs;
  const done = run.history.length;
  if (run.training) {
    const partial = run.partial ? `, ${run.partial.batches} batches of epoch ${done + 1} saved` : '';
    return { text: `training: epoch ${Math.min(done + 1, planned ?? done + 1)} of ${planned ?? '?'}${partial}`, training: true };
  }
  if (planned !== undefined && done >= planned) return { text: `finished: ${done} epochs`, training: false };
  return { text: `stopped after ${done} of ${planned ?? '?'} epochs`, training: false };
}

function card(run: RunSummary): HTMLElement {
  const id = `tick-${run.id}`;
  const box = el('input', { type: 'checkbox', id, 'data-run': run.id, checked: ticked.has(run.id) });
  box.addEventListener('change', () => {
    if (box.checked) ticked.add(run.id);
    else ticked.delete(run.id);
    renderChart();
  });
  const s = status(run);
  const planned = run.config?.epochs ?? Math.max(1, run.history.length);
  const last = run.history[run.history.length - 1];
  const links = run.checkpoints.flatMap((c) => [
    el('a', { href: `#/report/${encodeURIComponent(run.id)}/${c.name}` }, `${c.name} report`),
    ' · ',
    el('a', { href: `#/playground/${encodeURIComponent(run.id)}/${c.name}` }, `${c.name} in the playground`),
    el('br'),
  ]);
  return el(
    'div',
    { class: 'run', 'data-run': run.id },
    box,
    ' ',
    el('label', { for: id }, run.name),
    el('p', { class: s.training ? 'state training' : 'state' }, s.text),
    el('progress', { max: planned, value: run.history.length, 'aria-label': `${run.name}: epochs done` }),
    last
      ? el(
          'p',
          {},
          `epoch ${last.epoch}: loss ${fixed(last.loss)}, train acc ${fixed(last.trainAcc)}, test acc ${fixed(last.testAcc)}` +
            (last.valAcc !== undefined ? `, val acc ${fixed(last.valAcc)}` : '') +
            `, ${fixed(last.examplesPerSec, 1)} examples/sec`,
        )
      : el('p', {}, 'no completed epoch yet'),
    run.error ? el('p', { class: 'error', role: 'alert' }, run.error) : null,
    el('p', {}, ...links),
  );
}

function renderChart(): void {
  const runs = runList().filter((r) => ticked.has(r.id));
  const chart = $('chart');
  if (!runs.length) {
    chart.replaceChildren(el('p', { class: 'hint' }, 'Tick a run to see its curves.'));
  } else {
    const epochs = Math.max(...runs.map((r) => r.config?.epochs ?? 0));
    // renderCurves escapes every name it writes, so its SVG text is safe to insert.
    chart.innerHTML = renderCurves(
      runs.map((r) => ({ name: r.name, history: r.history })),
      { epochs },
    );
  }
  renderConfigs(runs);
}

function renderConfigs(runs: RunSummary[]): void {
  const details = $('run-details');
  if (!runs.length) {
    details.replaceChildren();
    return;
  }
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config ?? {})))];
  const table = el(
    'table',
    { id: 'config-table' },
    el('caption', {}, 'config.json'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'key'), ...runs.map((r) => el('th', { scope: 'col' }, r.name)))),
    el(
      'tbody',
      {},
      ...keys.map((k) => {
        const values = runs.map((r) => JSON.stringify((r.config as unknown as Record<string, unknown> | null)?.[k] ?? null));
        // Where compared runs differ is what a reader looks for.
        const differs = new Set(values).size > 1;
        return el(
          'tr',
          { class: differs ? 'differs' : undefined },
          el('th', { scope: 'row' }, differs ? `${k} (differs)` : k),
          ...values.map((v) => el('td', {}, v)),
        );
      }),
    ),
  );
  details.replaceChildren(el('div', { class: 'table-scroll' }, table));
}

export function renderRuns(): void {
  const runs = runList();
  if (!initialised && runs.length) {
    // At first: the runs training now, else the newest with an epoch (default run names are timestamps).
    initialised = true;
    const training = runs.filter((r) => r.training);
    const chosen = training.length ? training : [[...runs].reverse().find((r) => r.history.length) ?? runs[runs.length - 1]];
    for (const r of chosen) ticked.add(r.id);
  }
  for (const id of [...ticked]) if (!state.runs.has(id)) ticked.delete(id);
  // Events redraw the cards; a keyboard user's focus stays on the same checkbox.
  const focused = document.activeElement?.id;
  $('run-list').replaceChildren(
    ...(runs.length ? runs.map(card) : [el('p', {}, 'No runs yet: they appear here as nin train writes them.')]),
  );
  if (focused) document.getElementById(focused)?.focus();
  renderChart();
}
