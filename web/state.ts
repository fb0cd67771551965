// The page's picture of the server: the runs as the last event described them, kept current by the
// one Server-Sent Events stream (the page never polls), and the views to tell when they change.
import type { RunSummary, RunsMessage } from '../src/serve/api';
import { $, el, setOptions } from './dom';

export interface State {
  classNames: string[];
  runs: Map<string, RunSummary>;
  connected: boolean;
}

export const state: State = { classNames: [], runs: new Map(), connected: false };

type Listener = (changed: string | null) => void; // a run's id, or null for all
const listeners: Listener[] = [];

export function onChange(listener: Listener): void {
  listeners.push(listener);
}

function changed(id: string | null): void {
  for (const l of listeners) l(id);
}

/** Opens /api/events; EventSource reconnects by itself after a dropped stream (the server says after 2 s). */
export function connect(onStatus: (text: string) => void): void {
  const events = new EventSource('api/events');
  events.addEventListener('runs', (e) => {
    const message = JSON.parse((e as MessageEvent).data) as RunsMessage;
    state.classNames = message.classNames;
    state.runs = new Map(message.runs.map((r) => [r.id, r]));
    state.connected = true;
    onStatus(`live: ${message.runs.length} run${message.runs.length === 1 ? '' : 's'}, nin ${message.nin}`);
    changed(null);
  });
  events.addEventListener('run', (e) => {
    const run = JSON.parse((e as MessageEvent).data) as RunSummary;
    state.runs.set(run.id, run);
    changed(run.id);
  });
  events.addEventListener('removed', (e) => {
    const { id } = JSON.parse((e as MessageEvent).data) as { id: string };
    state.runs.delete(id);
    changed(id);
  });
  events.addEventListener('error', () => {
    state.connected = false;
    onStatus('disconnected from nin serve; reconnecting…');
  });
}

/** The runs sorted by name, and those with a checkpoint. */
export function runList(): RunSummary[] {
  return [...state.runs.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export function checkpointOptions(run: RunSummary | undefined): { value: string; label: string }[] {
  return (run?.checkpoints ?? []).map((c) => ({ value: c.name, label: `${c.name} (epoch ${c.epoch})` }));
}

export function apiPath(runId: string, checkpoint: string, file: string): string {
  return `api/runs/${encodeURIComponent(runId)}/checkpoints/${encodeURIComponent(checkpoint)}/${file}`;
}

/** A view's run and checkpoint pickers: the two <select>s `mountPickers` put in its `.picker` box. */
export interface Pickers {
  run: HTMLSelectElement;
  checkpoint: HTMLSelectElement;
}

/**
 * Builds a view's run and checkpoint pickers into `#${view}-picker` (ids `${view}-run`, `${view}-checkpoint`),
 * and makes a change of either go to `#/${view}/run/checkpoint`, the URL the view is drawn from.
 */
export function mountPickers(view: string, navigate: (hash: string) => void): Pickers {
  const run = el('select', { id: `${view}-run` });
  const checkpoint = el('select', { id: `${view}-checkpoint` });
  $(`${view}-picker`).replaceChildren(el('label', {}, 'Run ', run), el('label', {}, 'Checkpoint ', checkpoint));
  const go = () => navigate(`#/${view}/${encodeURIComponent(run.value)}/${encodeURIComponent(checkpoint.value)}`);
  run.addEventListener('change', () => {
    setOptions(checkpoint, checkpointOptions(state.runs.get(run.value)));
    go();
  });
  checkpoint.addEventListener('change', go);
  return { run, checkpoint };
}

/** Fills a view's pickers (runs with a checkpoint only), keeping or taking the chosen ones. */
export function fillPickers(pickers: Pickers, runId?: string, checkpoint?: string): void {
  setOptions(
    pickers.run,
    runList()
      .filter((r) => r.checkpoints.length)
      .map((r) => ({ value: r.id, label: r.name })),
    runId,
  );
  setOptions(pickers.checkpoint, checkpointOptions(state.runs.get(pickers.run.value)), checkpoint);
}
