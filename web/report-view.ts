// The Report view: a checkpoint's nin eval results (test accuracy, per-class accuracy, confusion
// matrix), computed by the server once (asked for by a POST) and cached in the run, and the
// misclassified test images.
import type { ReportMessage } from '../src/serve/api';
import { $, el, fixed } from './dom';
import { apiPath, fillPickers, mountPickers, type Pickers, state } from './state';

const GALLERY_SIZE = 60; // pictures shown; the count says how many there are in all
let shown = ''; // run/checkpoint/createdAt of the report on the page
let asked = '';

let pickers: Pickers;

export function renderReportPickers(runId?: string, checkpoint?: string): void {
  fillPickers(pickers, runId, checkpoint);
}

export function initReport(navigate: (hash: string) => void): void {
  pickers = mountPickers('report', navigate);
}

/** Shows the report of the picked checkpoint; asks the server again only when that checkpoint has a new save. */
export async function showReport(): Promise<void> {
  const runId = pickers.run.value;
  const checkpoint = pickers.checkpoint.value;
  const status = $('report-status');
  const run = state.runs.get(runId);
  const summary = run?.checkpoints.find((c) => c.name === checkpoint);
  if (!run || !summary) {
    status.textContent = state.runs.size ? 'No checkpoint yet: a run saves one after its first epoch.' : '';
    $('report-body').replaceChildren();
    return;
  }
  const wanted = `${runId}/${checkpoint}/${summary.createdAt}`;
  if (wanted === shown || wanted === asked) return;
  asked = wanted;
  const limit = run.config?.testLimit;
  status.textContent = `computing the report of ${run.name}/${checkpoint} (epoch ${summary.epoch}) on ${limit ?? 'all 10,000'} test images… (once: it is cached in the run)`;
  // A POST: computing a report writes it into the run, which the server does only for its own page.
  const response = await fetch(apiPath(runId, checkpoint, 'report'), { method: 'POST' });
  const body = (await response.json()) as ReportMessage & { error?: string };
  if (asked !== wanted) return; // another checkpoint was picked meanwhile
  asked = '';
  if (!response.ok) {
    status.textContent = '';
    $('report-body').replaceChildren(el('p', { class: 'error', role: 'alert' }, body.error ?? `the server answered ${response.status}`));
    return;
  }
  shown = wanted;
  status.textContent = '';
  render(body);
}

function render(report: ReportMessage): void {
  const names = state.classNames;
  const perClass = el(
    'table',
    { id: 'per-class' },
    el('caption', {}, 'Accuracy per class'),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col' }, 'class'),
        el('th', { scope: 'col' }, 'accuracy'),
        el('th', { scope: 'col' }, 'examples'),
        el('th', { scope: 'col' }, ''),
      ),
    ),
    el(
      'tbody',
      {},
      ...report.perClass.map((c) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, c.name),
          el('td', {}, fixed(c.accuracy)),
          el('td', {}, String(c.examples)),
          el('td', {}, el('span', { class: 'bar', style: `width:${Math.round(c.accuracy * 120)}px`, 'aria-hidden': 'true' })),
        ),
      ),
    ),
  );
  const confusion = el(
    'table',
    { id: 'confusion' },
    el('caption', {}, 'Confusion matrix (rows: true class, columns: predicted)'),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col' }, 'true \\ predicted'),
        ...names.map((n, j) => el('th', { scope: 'col', title: n }, `${j} ${n}`)),
      ),
    ),
    el(
      'tbody',
      {},
      ...report.confusion.map((row, i) => {
        const total = row.reduce((a, b) => a + b, 0) || 1;
        return el(
          'tr',
          {},
          el('th', { scope: 'row' }, `${i} ${names[i]}`),
          ...row.map((count, j) =>
            el(
              'td',
              {
                class: i === j ? 'diagonal' : undefined,
                // The shade says the share of the row; the number says the count.
                style: `background: rgba(${i === j ? '26,127,55' : '180,35,24'}, ${(0.6 * count) / total})`,
              },
              String(count),
            ),
          ),
        );
      }),
    ),
  );
  const wrong = report.misclassified;
  const gallery = el(
    'ul',
    { class: 'gallery', id: 'gallery' },
    ...wrong.slice(0, GALLERY_SIZE).map((m) =>
      el(
        'li',
        {},
        el(
          'figure',
          {},
          el('img', {
            src: `api/test-images/${m.index}.png`,
            width: 28,
            height: 28,
            alt: `test image ${m.index}: a ${names[m.label]}, taken for a ${names[m.predicted]}`,
          }),
          el('figcaption', {}, `#${m.index}: `, el('strong', {}, names[m.label]), ' taken for ', names[m.predicted]),
        ),
      ),
    ),
  );
  $('report-body').replaceChildren(
    el(
      'p',
      {},
      `${report.checkpoint}, epoch ${report.epoch}, ${report.imageSize}px, ${report.examples} test images, ${report.backend} backend`,
    ),
    el('p', { class: 'big', id: 'accuracy' }, `test acc ${fixed(report.accuracy, 4)}`),
    el('p', {}, `test loss ${fixed(report.loss, 4)}`),
    el('div', { class: 'table-scroll' }, perClass),
    el('div', { class: 'table-scroll' }, confusion),
    el(
      'h3',
      {},
      `Misclassified: ${wrong.length} of ${report.examples}${wrong.length > GALLERY_SIZE ? ` (the first ${GALLERY_SIZE})` : ''}`,
    ),
    gallery,
  );
}
