// nin serve in a real headless browser (Debian's chromium driven by playwright-core): the page loads
// without console errors, a new epoch reaches the chart within 5 s, the report's confusion matrix is
// nin eval's, and a photo in the playground gets nin predict's probabilities (TF.js in the browser
// against TF.js in Node, within 1e-4), and a page of another site cannot make it compute a report. CI installs chromium (scripts/setup.sh); without it these tests
// fail saying so, unless NIN_SKIP_BROWSER=1 skips them for local work.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'playwright-core';
import { initBackend } from '../../src/backend';
import { loadFashionMnist } from '../../src/data/idx';
import { RUN_FILES } from '../../src/run/layout';
import type { ServeHandle } from '../../src/serve/server';
import { runNin } from '../helpers/cli';
import { metricsLine, SERVE_TEST_LIMIT, trainTinyRun, writeDoubledRun } from '../helpers/serve-runs';
import { serveHere } from '../helpers/server';

const SKIP = process.env.NIN_SKIP_BROWSER === '1';
const CHROMIUM_CANDIDATES = [process.env.NIN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const SCREENSHOTS = process.env.NIN_SERVE_SCREENSHOTS; // a directory: also save the three views there

let work: string;
let out: string;
let trained: string;
let doubled: string;
let picture: string;
let server: ServeHandle;
let browser: Browser;
const problems: string[] = []; // console errors and uncaught exceptions of every page
const logged: string[] = []; // the server's log

function chromium(): string {
  const found = CHROMIUM_CANDIDATES.find((p): p is string => Boolean(p) && fs.existsSync(p as string));
  if (!found)
    throw new Error(
      'chromium is not installed, so nin serve cannot be tested in a browser: run scripts/setup.sh (apt-get install chromium), point NIN_CHROMIUM at a Chromium binary, or set NIN_SKIP_BROWSER=1 to skip these tests',
    );
  return found;
}

async function newPage(viewport = { width: 1100, height: 900 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  return page;
}

/** Test image 0 scaled 3x as an RGB PNG, as someone might save it. */
function writePicture(file: string): void {
  const test = loadFashionMnist({ trainLimit: 1, testLimit: 1 }).test;
  const png = new PNG({ width: 84, height: 84 });
  for (let y = 0; y < 84; y++)
    for (let x = 0; x < 84; x++) {
      const v = test.images[Math.floor(y / 3) * 28 + Math.floor(x / 3)];
      png.data.set([v, Math.min(255, v + 10), v, 255], (y * 84 + x) * 4);
    }
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 2 }));
}

async function shot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, `serve-${name}.png`), fullPage: name === 'report' });
}

/** The playground's probabilities once the photo has been classified with the model of `run`. */
async function playgroundProbabilities(query: string, run: string): Promise<{ probabilities: number[]; backend: string; page: Page }> {
  const page = await newPage();
  await page.goto(`${server.url}${query}#/playground/${run}/best`);
  await page.waitForSelector(`#play-status[data-ready^="${run}/best/"]`, { timeout: 60_000 });
  await page.setInputFiles('#photo', picture);
  await page.waitForFunction(() => document.getElementById('play-status')?.textContent?.includes('picture.png'), undefined, {
    timeout: 30_000,
  });
  const probabilities = JSON.parse((await page.getAttribute('#top', 'data-probabilities')) as string) as number[];
  const backend = (await page.getAttribute('#backend', 'data-backend')) as string;
  return { probabilities, backend, page };
}

describe('nin serve in a browser', { skip: SKIP ? 'NIN_SKIP_BROWSER=1' : false }, () => {
  before(async () => {
    const executablePath = chromium();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-serve-browser-'));
    out = path.join(work, 'runs');
    trained = await trainTinyRun(out);
    await initBackend('auto', null, () => {});
    doubled = await writeDoubledRun(out);
    picture = path.join(work, 'picture.png');
    writePicture(picture);
    server = await serveHere({ out, log: (l) => logged.push(l) });
    const { chromium: launcher } = await import('playwright-core');
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    browser = await launcher.launch({ executablePath, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the Runs view loads with no console errors, and an appended epoch reaches the chart within 5 s', async () => {
    const page = await newPage();
    await page.goto(server.url);
    await page.check('input[data-run="trained"]');
    const loss = 'polyline[data-run="trained"][data-metric="loss"]';
    // A one-epoch polyline has no extent, so it is attached, not visible.
    await page.waitForSelector(`#chart ${loss}`, { state: 'attached' });
    const points = () => page.$eval(`#chart ${loss}`, (p) => (p.getAttribute('points') ?? '').trim().split(/\s+/).length);
    assert.equal(await points(), 1);
    assert.match((await page.textContent('#run-list')) ?? '', /finished: 1 epochs/);
    const started = Date.now();
    fs.appendFileSync(path.join(trained, RUN_FILES.metricsJsonl), metricsLine(2));
    await page.waitForFunction(
      (selector) => (document.querySelector(selector)?.getAttribute('points') ?? '').trim().split(/\s+/).length === 2,
      `#chart ${loss}`,
      {
        timeout: 5000,
      },
    );
    process.stderr.write(`# serve-browser: the appended epoch was on the chart after ${Date.now() - started} ms\n`);
    // Both runs on one chart.
    await page.check('input[data-run="doubled"]');
    await page.check('input[data-run="trained"]');
    await page.waitForSelector('#chart polyline[data-run="doubled"]', { state: 'attached' });
    await shot(page, 'runs');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test("the Report view's confusion matrix is nin eval --json's, with the misclassified images", async () => {
    const page = await newPage();
    await page.goto(`${server.url}#/report/trained/best`);
    await page.waitForSelector('#confusion tbody tr', { timeout: 120_000 });
    const shown = await page.$$eval('#confusion tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => Number(td.textContent))),
    );
    const r = await runNin(['eval', path.join(trained, 'best'), '--json', '--test-limit', String(SERVE_TEST_LIMIT)]);
    assert.equal(r.code, 0, r.stderr);
    const evaluated = JSON.parse(r.stdout);
    assert.deepEqual(shown, evaluated.confusion);
    assert.match((await page.textContent('#accuracy')) ?? '', new RegExp(evaluated.accuracy.toFixed(4)));
    const wrong = evaluated.examples - evaluated.confusion.reduce((s: number, row: number[], i: number) => s + row[i], 0);
    const images = await page.$$('#gallery img');
    assert.equal(images.length, Math.min(60, wrong));
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('#gallery img')].every((i) => i.complete && i.naturalWidth === 28),
    );
    await shot(page, 'report');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a photo in the playground gets the probabilities nin predict --json gives (cpu backend, within 1e-4)', async () => {
    const r = await runNin(['predict', path.join(doubled, 'best'), picture, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const expected = JSON.parse(r.stdout).predictions[0].probabilities as number[];
    assert.ok(Math.max(...expected) > 0.15, `the test model should not answer ~0.1 everywhere: ${expected}`);
    const { probabilities, backend, page } = await playgroundProbabilities('?backend=cpu', 'doubled');
    assert.equal(backend, 'cpu');
    const worst = Math.max(...expected.map((p, i) => Math.abs(p - probabilities[i])));
    process.stderr.write(`# serve-browser: playground (cpu) vs nin predict: largest difference ${worst.toExponential(2)}\n`);
    assert.ok(worst < 1e-4, `largest difference ${worst}: ${probabilities} vs ${expected}`);
    // The same picture dropped on the pad gets the same answer.
    await page.click('#clear');
    const bytes = fs.readFileSync(picture).toString('base64');
    const drop = await page.evaluateHandle((b64) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], 'dropped.png', { type: 'image/png' }));
      return transfer;
    }, bytes);
    await page.dispatchEvent('#draw', 'drop', { dataTransfer: drop });
    await page.waitForFunction(() => document.getElementById('play-status')?.textContent?.includes('dropped.png'));
    assert.deepEqual(JSON.parse((await page.getAttribute('#top', 'data-probabilities')) as string), probabilities);
    // The 28x28 picture the network saw is shown.
    const lit = await page.$eval('#seen', (c) => {
      const data = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, 28, 28).data;
      return data.filter((_, i) => i % 4 === 0 && data[i] > 0).length;
    });
    assert.ok(lit > 50, `the preview should show the picture (${lit} lit pixels)`);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the default backend (webgpu, else webgl, else cpu) says which it is and agrees with nin predict', async () => {
    const r = await runNin(['predict', path.join(doubled, 'best'), picture, '--json']);
    const expected = JSON.parse(r.stdout).predictions[0].probabilities as number[];
    const { probabilities, backend, page } = await playgroundProbabilities('', 'doubled');
    assert.ok(['webgpu', 'webgl', 'cpu'].includes(backend), backend);
    assert.match((await page.textContent('#backend')) ?? '', new RegExp(`^TF.js backend: ${backend}`));
    const worst = Math.max(...expected.map((p, i) => Math.abs(p - probabilities[i])));
    process.stderr.write(`# serve-browser: playground (${backend}) vs nin predict: largest difference ${worst.toExponential(2)}\n`);
    assert.ok(worst < 1e-4, `largest difference ${worst} on ${backend}`);
    // Drawing on the pad classifies the drawing.
    await page.click('#clear');
    const box = (await page.$('#draw'))!.boundingBox();
    const b = (await box)!;
    await page.mouse.move(b.x + b.width * 0.3, b.y + b.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.3, b.y + b.height * 0.8, { steps: 8 });
    await page.mouse.move(b.x + b.width * 0.7, b.y + b.height * 0.8, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction((before) => document.getElementById('top')?.dataset.probabilities !== before, JSON.stringify(probabilities));
    await shot(page, 'playground');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a page of another site cannot make the server compute a report (fetch no-cors GET, no-cors POST, cors POST)', async () => {
    const target = path.join(out, 'cross-site');
    fs.mkdirSync(target);
    fs.copyFileSync(path.join(trained, RUN_FILES.config), path.join(target, RUN_FILES.config));
    fs.cpSync(path.join(trained, 'best'), path.join(target, 'best'), { recursive: true });
    const listed = async () => {
      const response = await fetch(`${server.url}api/runs`);
      return ((await response.json()) as { runs: { id: string }[] }).runs.some((r) => r.id === 'cross-site');
    };
    for (const end = Date.now() + 10_000; !(await listed()) && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await listed(), 'the new run is served');
    // The other site: a blank page on another origin of this machine (localhost is another site than 127.0.0.1).
    const site = http.createServer((_, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'),
    );
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    // Not newPage(): the refused cors request is a console error by design.
    const page = await browser.newPage();
    try {
      await page.goto(`http://localhost:${(site.address() as AddressInfo).port}/`);
      const answers = await page.evaluate(async (url) => {
        const seen: string[] = [];
        for (const init of [{ mode: 'no-cors' }, { mode: 'no-cors', method: 'POST' }, { method: 'POST' }] as RequestInit[]) {
          try {
            const r = await fetch(url, init);
            seen.push(`${init.method ?? 'GET'} ${init.mode ?? 'cors'}: ${r.type} ${r.status}`);
          } catch (err) {
            seen.push(`${init.method ?? 'GET'} ${init.mode ?? 'cors'}: ${(err as Error).message}`);
          }
        }
        return seen;
      }, `${server.url}api/runs/cross-site/checkpoints/best/report`);
      process.stderr.write(`# serve-browser: another site's requests: ${answers.join('; ')}\n`);
      // Each reached the server (an opaque answer, or a cors failure), and none was evaluated.
      assert.equal(answers.length, 3);
    } finally {
      await page.close();
      site.close();
    }
    assert.deepEqual(fs.readdirSync(target).sort(), ['best', RUN_FILES.config], 'nothing was written into the run');
    assert.deepEqual(
      logged.filter((l) => l.includes(target)),
      [],
      'nothing was evaluated',
    );
  });

  test('on a phone-sized screen nothing scrolls sideways, and every control has a name', async () => {
    const page = await newPage({ width: 390, height: 844 });
    for (const view of ['#/runs', '#/report/trained/best', '#/playground/doubled/best']) {
      await page.goto(`${server.url}?backend=cpu${view}`);
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${view} is ${overflow}px wider than the screen`);
    }
    const unnamed = await page.$$eval('input, select, button, canvas[tabindex]', (controls) =>
      controls
        .filter((c) => !(c.getAttribute('aria-label') || (c as HTMLInputElement).labels?.length || c.textContent?.trim()))
        .map((c) => c.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, []);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
