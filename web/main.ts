// nin serve's page: three views (Runs, Report, Playground) chosen by the URL's hash, over one
// Server-Sent Events stream that keeps the runs current.
import { $ } from './dom';
import { renderRuns } from './runs-view';
import { initReport, renderReportPickers, showReport } from './report-view';
import { connect, fillPickers, mountPickers, onChange, type Pickers } from './state';

type View = 'runs' | 'report' | 'playground';
const VIEWS: View[] = ['runs', 'report', 'playground'];

function route(): { view: View; run?: string; checkpoint?: string } {
  const [, view, run, checkpoint] = location.hash.split('/');
  return {
    view: VIEWS.includes(view as View) ? (view as View) : 'runs',
    run: run ? decodeURIComponent(run) : undefined,
    checkpoint: checkpoint ? decodeURIComponent(checkpoint) : undefined,
  };
}

function navigate(hash: string): void {
  if (location.hash !== hash) location.hash = hash;
}

let playground: Promise<typeof import('./playground')> | null = null;
let playPickers: Pickers;

function show(): void {
  const { view, run, checkpoint } = route();
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== view;
    const link = $(`nav-${v}`);
    if (v === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (view === 'runs') renderRuns();
  if (view === 'report') {
    renderReportPickers(run, checkpoint);
    showReport().catch((err) => ($('report-status').textContent = `error: ${err?.message ?? err}`));
  }
  if (view === 'playground') {
    fillPickers(playPickers, run, checkpoint);
    playground ??= import('./playground');
    const runId = playPickers.run.value;
    const name = playPickers.checkpoint.value;
    playground.then((p) => p.showPlayground(runId, name)).catch((err) => ($('play-status').textContent = `error: ${err?.message ?? err}`));
  }
}

function init(): void {
  initReport(navigate);
  playPickers = mountPickers('playground', navigate);
  window.addEventListener('hashchange', show);
  onChange(() => show());
  connect((text) => ($('connection').textContent = text));
  show();
}

init();
