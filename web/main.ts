// nin serve's page: three views (Runs, Report, Playground) chosen by the URL's hash, over one
// Server-Sent Events stream that keeps the runs current.
import { $, setOptions } from './dom';
import { renderRuns } from './runs-view';
import { initReport, renderReportPickers, showReport } from './report-view';
import { checkpointOptions, connect, fillPickers, onChange, state } from './state';

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
    fillPickers('play-run', 'play-checkpoint', run, checkpoint);
    playground ??= import('./playground');
    const runId = ($('play-run') as HTMLSelectElement).value;
    const name = ($('play-checkpoint') as HTMLSelectElement).value;
    playground.then((p) => p.showPlayground(runId, name)).catch((err) => ($('play-status').textContent = `error: ${err?.message ?? err}`));
  }
}

function init(): void {
  initReport(navigate);
  const goPlay = () =>
    navigate(
      `#/playground/${encodeURIComponent(($('play-run') as HTMLSelectElement).value)}/${($('play-checkpoint') as HTMLSelectElement).value}`,
    );
  $('play-run').addEventListener('change', () => {
    setOptions($('play-checkpoint') as HTMLSelectElement, checkpointOptions(state.runs.get(($('play-run') as HTMLSelectElement).value)));
    goPlay();
  });
  $('play-checkpoint').addEventListener('change', goPlay);
  window.addEventListener('hashchange', show);
  onChange(() => show());
  connect((text) => ($('connection').textContent = text));
  show();
}

init();
