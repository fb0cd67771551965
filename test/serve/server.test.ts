// Tests for nin serve without a browser: the JSON API, checkpoints handed out whole, reports equal to
// nin eval's and cached in the run, the event stream, and every way of reaching outside the runs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { initBackend } from '../../src/backend';
import { parseRequestPath, HttpError } from '../../src/serve/http';
import type { ServeHandle, ServeOptions } from '../../src/serve/server';
import type { RunSummary, RunsMessage } from '../../src/serve/api';
import { RUN_FILES } from '../../src/run/layout';
import { assertOneLineError, lines, runNin, waitForOutput } from '../helpers/cli';
import {
  type Answer,
  request as requestAt,
  type RequestOptions as ServerRequestOptions,
  requestText,
  serveHere,
  startServe,
} from '../helpers/server';
import { metricsLine, SERVE_TEST_LIMIT, trainTinyRun, writeDoubledRun } from '../helpers/serve-runs';

let work: string;
let out: string;
let trained: string;
let server: ServeHandle;
const logged: string[] = [];

interface RequestOptions extends ServerRequestOptions {
  server?: ServeHandle; // default: the suite's server
}

/** A request with the path sent exactly as written (no client-side normalisation of `..`), to the address the server printed. */
function request(rawPath: string, options: RequestOptions = {}): Promise<Answer> {
  return requestAt((options.server ?? server).url, rawPath, options);
}

async function json<T>(rawPath: string, options: RequestOptions = {}): Promise<T> {
  const r = await request(rawPath, options);
  assert.equal(r.status, 200, `${rawPath}: ${r.body.toString()}`);
  return JSON.parse(r.body.toString()) as T;
}

/** A checkpoint's report, asked for as the page asks: a POST. */
function postReport<T>(rawPath: string, options: RequestOptions = {}): Promise<T> {
  return json<T>(rawPath, { method: 'POST', ...options });
}

/** `<parent>/<name>`: a copy of the trained run's config.json and best/, with no report in it yet. */
function copyTrained(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(trained, RUN_FILES.config), path.join(dir, RUN_FILES.config));
  fs.cpSync(path.join(trained, 'best'), path.join(dir, 'best'), { recursive: true });
  return dir;
}

/** Whether this machine lets a server listen on `address` (IPv6 may be switched off). */
function canListen(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, address, () => probe.close(() => resolve(true)));
  });
}

/** A server of its own, on the suite's defaults, with its log lines kept. */
async function serveAlso(options: Partial<ServeOptions>, log: string[] = []): Promise<ServeHandle> {
  return serveHere({ out, log: (l) => log.push(l), ...options });
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-serve-'));
  out = path.join(work, 'runs');
  trained = await trainTinyRun(out);
  await initBackend('auto', null, () => {});
  await writeDoubledRun(out);
  server = await serveAlso({}, logged);
});

after(async () => {
  await server?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('request paths', () => {
  test('plain paths split into decoded segments', () => {
    assert.deepEqual(parseRequestPath('/api/runs/a%20b?x=1').segments, ['api', 'runs', 'a b']);
    assert.equal(parseRequestPath('/api/runs/x/weights.bin?snapshot=ab').query.get('snapshot'), 'ab');
    assert.deepEqual(parseRequestPath('/').segments, []);
  });

  for (const bad of [
    '/../etc/passwd',
    '/a/%2e%2e/b',
    '/a/%2F/b',
    '/a%5cb',
    '/a\\b',
    '//etc/passwd',
    '/a/./b',
    '/%zz',
    '/a%00b',
    'http://x/y',
    '*',
  ]) {
    test(`${JSON.stringify(bad)} is refused with 400`, () => {
      assert.throws(
        () => parseRequestPath(bad),
        (err) => err instanceof HttpError && err.status === 400,
      );
    });
  }
});

test('random request paths are refused with 400 or split into segments that name nothing outside', () => {
  // A seeded walk over the characters that matter: separators, dots, percent-escapes and their digits.
  const alphabet = [
    '/',
    '/',
    '.',
    '..',
    '%',
    '2',
    'e',
    'E',
    'f',
    'F',
    '5',
    'c',
    'C',
    '0',
    '\\',
    'a',
    '?',
    '%2e',
    '%2f',
    '%5c',
    '%00',
    '%25',
  ];
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % alphabet.length;
  for (let i = 0; i < 5000; i++) {
    let raw = '/';
    for (let n = 1 + (i % 12); n > 0; n--) raw += alphabet[next()];
    try {
      const { segments } = parseRequestPath(raw);
      for (const segment of segments) {
        assert.ok(segment !== '' && segment !== '.' && segment !== '..', `${raw} gave ${JSON.stringify(segments)}`);
        assert.ok(!/[/\\\0]/.test(segment), `${raw} gave ${JSON.stringify(segments)}`);
      }
    } catch (err) {
      assert.ok(err instanceof HttpError && err.status === 400, `${raw}: ${err}`);
    }
  }
});

describe('the API', () => {
  test('lists every run under --out with its config, history and checkpoints', async () => {
    const message = await json<RunsMessage>('/api/runs');
    assert.deepEqual(
      message.runs.map((r) => r.id),
      ['doubled', 'trained'],
    );
    const run = message.runs.find((r) => r.id === 'trained') as RunSummary;
    assert.equal(run.config?.testLimit, SERVE_TEST_LIMIT);
    assert.equal(run.history.length, 1);
    assert.equal(run.training, false);
    assert.deepEqual(run.checkpoints.map((c) => c.name).sort(), ['best', 'last']);
    assert.equal(run.error, null);
    assert.equal(message.classNames.length, 10);
  });

  test('model.json names a weights.bin of the same save, byte for byte the checkpoint', async () => {
    const model = await json<{ weightsManifest: { paths: string[]; weights: { shape: number[] }[] }[] }>(
      '/api/runs/trained/checkpoints/best/model.json',
    );
    const [weightsPath] = model.weightsManifest[0].paths;
    assert.match(weightsPath, /^weights\.bin\?snapshot=[0-9a-f]{16}$/);
    const weights = await request(`/api/runs/trained/checkpoints/best/${weightsPath}`);
    assert.equal(weights.status, 200);
    assert.deepEqual(weights.body, fs.readFileSync(path.join(trained, 'best', 'weights.bin')));
    const expected = model.weightsManifest[0].weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(weights.body.length, expected);
    const gone = await request('/api/runs/trained/checkpoints/best/weights.bin?snapshot=0000000000000000');
    assert.equal(gone.status, 410);
  });

  test("a checkpoint's report equals nin eval --json, is cached in the run, and lists the misclassified examples", async () => {
    const report = await postReport<{
      confusion: number[][];
      accuracy: number;
      examples: number;
      misclassified: { index: number; label: number; predicted: number }[];
    }>('/api/runs/trained/checkpoints/best/report');
    const r = await runNin(['eval', path.join(trained, 'best'), '--json', '--test-limit', String(SERVE_TEST_LIMIT)]);
    assert.equal(r.code, 0, r.stderr);
    const evaluated = JSON.parse(r.stdout);
    assert.deepEqual(report.confusion, evaluated.confusion);
    assert.equal(report.examples, evaluated.examples);
    assert.ok(Math.abs(report.accuracy - evaluated.accuracy) < 1e-12);
    const wrong = evaluated.confusion.reduce(
      (sum: number, row: number[], i: number) => sum + row.reduce((a, b, j) => a + (i === j ? 0 : b), 0),
      0,
    );
    assert.equal(report.misclassified.length, wrong);
    for (const m of report.misclassified) assert.notEqual(m.label, m.predicted);
    const cache = path.join(trained, RUN_FILES.reportBest);
    assert.ok(fs.existsSync(cache), 'report-best.json written');
    const before = fs.statSync(cache).mtimeMs;
    const again = await postReport<{ confusion: number[][] }>('/api/runs/trained/checkpoints/best/report');
    assert.deepEqual(again.confusion, report.confusion);
    assert.equal(fs.statSync(cache).mtimeMs, before, 'served from the cache, not computed again');
    assert.equal(logged.filter((l) => l.startsWith('report: evaluating')).length, 1);
  });

  test('a damaged cached report is computed again', async () => {
    const cache = path.join(trained, RUN_FILES.reportLast);
    fs.writeFileSync(cache, '{"key": {"createdAt": "x"}, "report": ');
    const report = await postReport<{ confusion: number[][] }>('/api/runs/trained/checkpoints/last/report');
    assert.equal(report.confusion.length, 10);
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(cache, 'utf8')));
  });

  test('a report that cannot be written into the run is kept in memory', async () => {
    const doubled = path.join(out, 'doubled');
    // A directory where the cache file would go: reading it fails, and so does renaming onto it.
    fs.mkdirSync(path.join(doubled, RUN_FILES.reportBest));
    const first = await postReport<{ confusion: number[][] }>('/api/runs/doubled/checkpoints/best/report');
    const count = logged.filter((l) => l.startsWith('report: evaluating')).length;
    const second = await postReport<{ confusion: number[][] }>('/api/runs/doubled/checkpoints/best/report');
    assert.deepEqual(second.confusion, first.confusion);
    assert.equal(logged.filter((l) => l.startsWith('report: evaluating')).length, count, 'computed once');
    assert.ok(logged.some((l) => l.startsWith('report: kept in memory only')));
    fs.rmSync(path.join(doubled, RUN_FILES.reportBest), { recursive: true });
  });

  test('a run being trained says so, and a damaged log is named while the rest of the run still shows', async () => {
    const doubled = path.join(out, 'doubled');
    const runOf = async (id: string) => (await json<RunsMessage>('/api/runs')).runs.find((r) => r.id === id) as RunSummary;
    const waitFor = async (id: string, predicate: (r: RunSummary) => boolean) => {
      for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
        if (predicate(await runOf(id))) return;
      assert.fail(`${id} never changed as expected: ${JSON.stringify(await runOf(id))}`);
    };
    fs.writeFileSync(path.join(doubled, RUN_FILES.lock), `${process.pid}\n`);
    await waitFor('doubled', (r) => r.training);
    fs.rmSync(path.join(doubled, RUN_FILES.lock));
    await waitFor('doubled', (r) => !r.training);
    fs.writeFileSync(path.join(doubled, RUN_FILES.metricsJsonl), '{"epoch": 1, "loss": \n');
    await waitFor('doubled', (r) => r.error !== null);
    const run = await runOf('doubled');
    assert.match(run.error as string, /metrics\.jsonl:1 is not JSON/);
    assert.equal(run.checkpoints.length, 1);
    fs.rmSync(path.join(doubled, RUN_FILES.metricsJsonl));
    await waitFor('doubled', (r) => r.error === null);
  });

  test('while checkpoints are swapped into place, model.json, meta.json and weights.bin are always of one save', async () => {
    // Two saves of one run; a child process swaps them into best/ every 0.7 s, as saveCheckpoint swaps (a real run saves seconds apart).
    const run = path.join(work, 'swapping', 'swapped');
    fs.mkdirSync(run, { recursive: true });
    fs.copyFileSync(path.join(trained, RUN_FILES.config), path.join(run, RUN_FILES.config));
    fs.cpSync(path.join(trained, 'best'), path.join(run, 'best'), { recursive: true });
    fs.cpSync(path.join(out, 'doubled', 'best'), path.join(run, 'spare'), { recursive: true });
    const createdAt = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')).createdAt as string;
    const hash = (dir: string) =>
      createHash('sha256')
        .update(fs.readFileSync(path.join(dir, 'weights.bin')))
        .digest('hex')
        .slice(0, 16);
    const saves = new Map([path.join(run, 'best'), path.join(run, 'spare')].map((d) => [createdAt(d), hash(d)]));
    const swapper = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'), p = require('path'), run = ${JSON.stringify(run)};
       const sleep = new Int32Array(new SharedArrayBuffer(4));
       for (const end = Date.now() + 30000; Date.now() < end; ) {
         fs.renameSync(p.join(run, 'best'), p.join(run, '.best.old'));
         fs.renameSync(p.join(run, 'spare'), p.join(run, 'best'));
         fs.renameSync(p.join(run, '.best.old'), p.join(run, 'spare'));
         Atomics.wait(sleep, 0, 0, 700);
       }`,
    ]);
    const other = await serveAlso({ runs: [run] });
    const get = (p: string) => request(p, { server: other });
    const seen = new Set<string>();
    try {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 150));
        const meta = await get('/api/runs/swapped/checkpoints/best/meta.json');
        assert.equal(meta.status, 200, meta.body.toString());
        const { createdAt: when, snapshot } = JSON.parse(meta.body.toString()) as { createdAt: string; snapshot: string };
        assert.equal(snapshot, saves.get(when), 'meta.json and the weights are of one save');
        const weights = await get(`/api/runs/swapped/checkpoints/best/weights.bin?snapshot=${snapshot}`);
        assert.equal(weights.status, 200);
        assert.equal(createHash('sha256').update(weights.body).digest('hex').slice(0, 16), snapshot);
        seen.add(snapshot);
      }
    } finally {
      swapper.kill();
      await other.close();
    }
    assert.equal(seen.size, 2, 'both saves were served');
  });

  test('test images are 28x28 PNGs; an index out of range is 404', async () => {
    const png = await request('/api/test-images/3.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.deepEqual([...png.body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.equal(png.body.readUInt32BE(16), 28);
    assert.equal((await request('/api/test-images/99999.png')).status, 404);
  });

  test('the page is served, with a content security policy', async () => {
    const page = await request('/');
    if (page.status === 503) return; // not built: npm run build makes dist/web
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /<title>nin serve<\/title>/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    // Scripts go gzipped to a client that takes gzip, plain to one that does not.
    const script = (await request('/app.js')).body;
    const gzipped = await new Promise<Answer>((resolve, reject) => {
      const url = new URL(server.url);
      http
        .get({ host: url.hostname, port: url.port, path: '/app.js', headers: { 'Accept-Encoding': 'gzip, deflate' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gzipped.body), script);
  });
});

describe('what is refused', () => {
  const refused = [
    '/../../../../etc/passwd',
    '/api/runs/..%2f..%2f..%2fetc%2fpasswd',
    '/api/runs/%2e%2e/checkpoints/best/model.json',
    '/api/runs/trained/checkpoints/..%5c..%5cconfig.json/model.json',
    '/api/runs/trained/checkpoints/../../../etc/model.json',
    '//etc/passwd',
    '/api/test-images/..%2F..%2Fetc%2Fpasswd',
    '/api/runs/trained/checkpoints/best/optimizer.bin',
    '/api/runs/trained/config.json',
    '/api/runs/nope/checkpoints/best/model.json',
    '/api/runs/trained/checkpoints/old/model.json',
    '/etc/passwd',
    '/api/test-images/-1.png',
    '/%00',
    '/%zz',
  ];
  for (const p of refused) {
    test(`GET ${p}: 4xx with one short JSON line, no file, no stack`, async () => {
      const r = await request(p);
      assert.ok(r.status >= 400 && r.status < 500, `${p} answered ${r.status}`);
      const text = r.body.toString();
      const body = JSON.parse(text) as { error: string };
      assert.equal(typeof body.error, 'string');
      assert.ok(!text.includes('root:') && !text.includes('    at ') && !text.includes('"epochs"'), text);
    });
  }

  test('a checkpoint that is a symlink out of its run is refused (403)', async () => {
    const outside = path.join(work, 'outside');
    const linked = path.join(work, 'linked-runs');
    fs.mkdirSync(path.join(linked, 'sneaky'), { recursive: true });
    fs.cpSync(path.join(trained, 'best'), outside, { recursive: true });
    fs.copyFileSync(path.join(trained, RUN_FILES.config), path.join(linked, 'sneaky', RUN_FILES.config));
    fs.symlinkSync(outside, path.join(linked, 'sneaky', 'best'));
    const other = await serveAlso({ runs: [path.join(linked, 'sneaky')] });
    try {
      assert.equal((await request('/api/runs/sneaky/checkpoints/best/model.json', { server: other })).status, 403);
    } finally {
      await other.close();
    }
  });

  test("a run's config.json and metrics.jsonl that are symlinks out of the run are listed as unreadable, never read", async () => {
    // Files outside every served run, each with a mark that must not reach a client: a seed no run has, 42 epochs of history.
    const elsewhere = path.join(work, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const config = JSON.parse(fs.readFileSync(path.join(trained, RUN_FILES.config), 'utf8'));
    fs.writeFileSync(path.join(elsewhere, 'config.json'), JSON.stringify({ ...config, seed: 9876543 }));
    fs.writeFileSync(path.join(elsewhere, 'metrics.jsonl'), Array.from({ length: 42 }, (_, i) => metricsLine(i + 1)).join(''));
    const planted = path.join(work, 'planted-runs', 'planted');
    fs.mkdirSync(planted, { recursive: true });
    for (const file of [RUN_FILES.config, RUN_FILES.metricsJsonl]) fs.symlinkSync(path.join(elsewhere, file), path.join(planted, file));
    // Listed by name (the directories given) and found under --out alike.
    for (const options of [{ runs: [planted] }, { out: path.dirname(planted) }]) {
      const other = await serveAlso(options);
      try {
        const answer = await request('/api/runs', { server: other });
        assert.equal(answer.status, 200);
        const text = answer.body.toString();
        assert.ok(!text.includes('9876543') && !text.includes('"epoch":42'), text);
        const run = (JSON.parse(text) as RunsMessage).runs.find((r) => r.name === 'planted');
        assert.ok(run, text);
        assert.equal(run.config, null);
        assert.deepEqual(run.history, []);
        for (const file of [RUN_FILES.config, RUN_FILES.metricsJsonl])
          assert.ok(run.error?.includes(`${path.join(planted, file)} is a symbolic link; nin follows no link`), run.error ?? 'no error');
      } finally {
        await other.close();
      }
    }
  });

  test('a cached report that is a symlink out of the run is computed again, not served', async () => {
    const dir = copyTrained(path.join(work, 'report-link-runs'), 'reportlink');
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'best', 'meta.json'), 'utf8'));
    // A well-formed report of this very save (its key matches), with a mark no real one has, outside the run.
    const counts = Array.from({ length: 10 }, () => Array.from({ length: 10 }, () => 0));
    const planted = {
      key: { createdAt: meta.createdAt, epoch: meta.epoch, testLimit: meta.config.testLimit ?? null },
      report: { accuracy: 0.123456789, loss: 1, confusion: counts, perClass: counts, misclassified: [] },
    };
    const outside = path.join(work, 'outside-report.json');
    fs.writeFileSync(outside, JSON.stringify(planted));
    fs.symlinkSync(outside, path.join(dir, RUN_FILES.reportBest));
    const other = await serveAlso({ runs: [dir] });
    try {
      const report = await postReport<{ accuracy: number; confusion: number[][] }>('/api/runs/reportlink/checkpoints/best/report', {
        server: other,
      });
      assert.notEqual(report.accuracy, 0.123456789);
      assert.equal(
        report.confusion.flat().reduce((a, b) => a + b, 0),
        SERVE_TEST_LIMIT,
        'computed from the checkpoint',
      );
      assert.deepEqual(JSON.parse(fs.readFileSync(outside, 'utf8')), planted, 'the file outside is left alone');
    } finally {
      await other.close();
    }
  });

  test('another Host than localhost is refused (DNS rebinding), and so is any method a route does not take', async () => {
    for (const host of ['evil.example:8080', 'evil.example', '127.0.0.1.evil.example', 'localhost.evil.example', '127.0.0.1@evil.example'])
      assert.equal((await request('/api/runs', { host })).status, 403, host);
    // Every spelling of this machine's loopback, with any port.
    for (const host of [
      'localhost:1',
      'LOCALHOST',
      'localhost.',
      '127.0.0.1',
      '127.1:8080',
      '0177.0.0.1',
      '[::1]:80',
      '[::ffff:127.0.0.1]',
    ])
      assert.equal((await request('/api/runs', { host })).status, 200, host);
    for (const method of ['POST', 'DELETE', 'PUT', 'OPTIONS']) {
      const r = await request('/api/runs', { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
  });

  // Each spelling listens on a loopback address; the Host check goes by the address listened on, not by the spelling.
  for (const host of ['127.1', '0177.0.0.1', '127.0.0.2', '::ffff:127.0.0.1', '::1', '[::1]', 'localhost']) {
    test(`--host ${host}: the Host check is on, and the printed URL reaches the server`, async (t) => {
      if (host.includes(':') && !(await canListen('::1'))) return t.skip('this machine has no IPv6 loopback');
      const other = await serveAlso({ runs: [trained], host });
      try {
        assert.ok(other.loopback);
        assert.equal((await request('/api/runs', { server: other })).status, 200, `${other.url} answers`);
        assert.equal((await request('/api/runs', { server: other, host: 'evil.example' })).status, 403);
        assert.equal((await request('/api/runs', { server: other, host: `evil.example:${other.port}` })).status, 403);
      } finally {
        await other.close();
      }
    });
  }

  test('a malformed request, and the page when it is not built, are one JSON line too', async () => {
    const url = new URL(server.url);
    // A header line without a colon (Node's parser refuses it), and an HTTP/1.1 request without a Host.
    for (const bad of [
      'GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n',
      'GET /api/runs HTTP/1.1\r\nConnection: close\r\n\r\n',
    ]) {
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(url.port), url.hostname, () => socket.end(bad));
        let text = '';
        socket.setEncoding('utf8').on('data', (c: string) => (text += c));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 /, JSON.stringify(bad));
      const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      assert.equal(body.split('\n').length, 1, body);
      assert.equal(typeof (JSON.parse(body) as { error: string }).error, 'string');
    }
    const empty = fs.mkdtempSync(path.join(work, 'no-page-'));
    const other = await serveAlso({ runs: [trained], webDir: empty });
    try {
      const page = await request('/', { server: other });
      assert.equal(page.status, 503);
      assert.match((JSON.parse(page.body.toString()) as { error: string }).error, /npm run build/);
    } finally {
      await other.close();
    }
  });

  test('computing a report takes a POST from the page itself: a cross-site request is refused and writes nothing', async () => {
    const dir = copyTrained(path.join(work, 'cross-site'), 'fresh');
    const log: string[] = [];
    const other = await serveAlso({ runs: [dir] }, log);
    try {
      const reportPath = '/api/runs/fresh/checkpoints/best/report';
      const own = new URL(other.url).origin;
      const attempts: RequestOptions[] = [
        { method: 'GET' }, // what fetch(url, {mode: 'no-cors'}), an <img> or a link of a page elsewhere sends
        { method: 'GET', headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' } },
        { method: 'HEAD' },
        { method: 'POST', headers: { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' } },
        { method: 'POST', headers: { Origin: 'http://evil.example' } }, // a browser that sends no Sec-Fetch-Site
        { method: 'POST', headers: { Origin: 'http://localhost:1', 'Sec-Fetch-Site': 'same-site' } }, // another port of this machine
        { method: 'POST', headers: { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' } }, // a sandboxed frame
        { method: 'POST', headers: { Origin: own, 'Sec-Fetch-Site': 'cross-site' } },
        { method: 'POST', headers: { 'Sec-Fetch-Site': 'none' } },
        { method: 'PUT', headers: { Origin: own, 'Sec-Fetch-Site': 'same-origin' } },
      ];
      for (const attempt of attempts) {
        const r = await request(reportPath, { server: other, ...attempt });
        const what = JSON.stringify(attempt);
        assert.ok(r.status === 403 || r.status === 405, `${what}: answered ${r.status}`);
        if (attempt.method !== 'HEAD') {
          assert.equal(r.body.toString().split('\n').length, 1, what);
          assert.equal(typeof (JSON.parse(r.body.toString()) as { error: string }).error, 'string', what);
        }
      }
      assert.deepEqual(fs.readdirSync(dir).sort(), ['best', RUN_FILES.config], 'nothing was written into the run');
      assert.deepEqual(
        log.filter((l) => l.startsWith('report:')),
        [],
        'nothing was evaluated',
      );
      // The page's own request, as a browser sends it, computes the report and caches it in the run.
      const computed = await postReport<{ examples: number }>(reportPath, {
        server: other,
        headers: { Origin: own, 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' },
      });
      assert.equal(computed.examples, SERVE_TEST_LIMIT);
      assert.ok(fs.existsSync(path.join(dir, RUN_FILES.reportBest)));
    } finally {
      await other.close();
    }
  });

  test('runs named with a backslash or a leading dot are listed, and every run listed can be viewed', async () => {
    const names = ['back\\slash', '.hidden', 'per%cent', 'sp ace', 'q?x#y', 'ünï'];
    const parent = path.join(work, 'names');
    for (const name of names) copyTrained(parent, name);
    // A run being created (a temporary directory renamed into place when whole) is not one yet.
    copyTrained(parent, '.being-made.tmp-4242');
    const other = await serveAlso({ out: parent });
    try {
      const listed = (await json<RunsMessage>('/api/runs', { server: other })).runs;
      assert.deepEqual(listed.map((r) => r.name).sort(), [...names].sort());
      for (const run of listed) {
        const r = await request(`/api/runs/${encodeURIComponent(run.id)}/checkpoints/best/meta.json`, { server: other });
        assert.equal(r.status, 200, `${run.name} (id ${run.id}): ${r.body.toString()}`);
      }
    } finally {
      await other.close();
    }
  });
});

describe('HEAD', () => {
  test('answers every GET route with its headers and no body; HEAD /api/events ends at once', async () => {
    for (const p of [
      '/',
      '/api/runs',
      '/api/test-images/3.png',
      '/api/runs/trained/checkpoints/best/model.json',
      '/api/runs/trained/checkpoints/best/meta.json',
      '/api/runs/trained/checkpoints/best/weights.bin',
      '/api/runs/nope/checkpoints/best/model.json',
    ]) {
      const get = await request(p);
      const head = await request(p, { method: 'HEAD', timeoutMs: 20_000 });
      assert.equal(head.status, get.status, p);
      assert.equal(head.body.length, 0, p);
      assert.equal(head.headers['content-type'], get.headers['content-type'], p);
      if (!p.endsWith('meta.json') && !p.endsWith('model.json'))
        assert.equal(head.headers['content-length'], get.headers['content-length'], p);
    }
    // The event stream's headers, and the end: a HEAD has no body to stream.
    const events = await request('/api/events', { method: 'HEAD', timeoutMs: 20_000 });
    assert.equal(events.status, 200);
    assert.equal(events.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(events.body.length, 0);
    const report = await request('/api/runs/trained/checkpoints/best/report', { method: 'HEAD', timeoutMs: 20_000 });
    assert.equal(report.status, 405);
    assert.equal(report.headers.allow, 'POST');
  });
});

describe('reports off the request thread', () => {
  test('while a report is computed, /api/runs answers; closing the server ends the computation and writes nothing', async () => {
    const dir = copyTrained(path.join(work, 'slow'), 'slow');
    const log: string[] = [];
    // The whole test set: an evaluation of many seconds.
    const other = await serveAlso({ runs: [dir], testLimit: 10_000 }, log);
    let finished = false;
    const computing = request('/api/runs/slow/checkpoints/best/report', { server: other, method: 'POST' }).then(
      (r) => ((finished = true), r),
      (err: unknown) => ((finished = true), err),
    );
    let pid = 0;
    try {
      for (const end = Date.now() + 60_000; !pid && Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
        pid = Number(/^report: evaluating .* in process (\d+)$/.exec(log.find((l) => l.startsWith('report: evaluating')) ?? '')?.[1] ?? 0);
      assert.ok(pid > 0, `the report started: ${log.join('; ')}`);
      for (let i = 0; i < 5; i++) {
        const runs = await request('/api/runs', { server: other });
        assert.equal(runs.status, 200);
        assert.equal(finished, false, `answer ${i + 1} came only after the report`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await other.close();
    }
    await computing;
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process computing the report is gone');
    assert.ok(!fs.existsSync(path.join(dir, RUN_FILES.reportBest)), 'no report was written');
  });
});

describe('the event stream', () => {
  test('a metrics line appended to a run is pushed within 5 seconds', async () => {
    const url = new URL(server.url);
    let buffer = '';
    const events: { event: string; data: unknown; at: number }[] = [];
    const req = http.get({ host: url.hostname, port: url.port, path: '/api/events' });
    const response = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
    response.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data), at: Date.now() });
      }
    });
    try {
      const wait = async (predicate: () => boolean, ms: number) => {
        for (const end = Date.now() + ms; Date.now() < end;) {
          if (predicate()) return true;
          await new Promise((r) => setTimeout(r, 150));
        }
        return predicate();
      };
      assert.ok(await wait(() => events.some((e) => e.event === 'runs'), 5000), 'the first event lists the runs');
      const appendedAt = Date.now();
      fs.appendFileSync(path.join(trained, RUN_FILES.metricsJsonl), metricsLine(2));
      const pushed = () =>
        events.find((e) => e.event === 'run' && (e.data as RunSummary).id === 'trained' && (e.data as RunSummary).history.length === 2);
      assert.ok(await wait(() => pushed() !== undefined, 5000), 'the new epoch arrives within 5 s');
      process.stderr.write(`# serve: the appended epoch was pushed after ${pushed()!.at - appendedAt} ms\n`);
    } finally {
      req.destroy();
    }
  });
});

describe('nin serve on the command line', () => {
  test('prints its URL on stdout, serves, and stops cleanly on SIGTERM', async () => {
    const { proc, url } = await startServe([trained]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { body } = await requestText(url, '/api/runs');
    assert.deepEqual(
      (JSON.parse(body) as RunsMessage).runs.map((r) => r.id),
      ['trained'],
    );
    proc.child.kill('SIGTERM');
    const r = await proc.done;
    assert.equal(r.code, 0, r.stderr);
  });

  test('another --host warns loudly on stderr', async () => {
    const { proc } = await startServe([trained, '--host', '0.0.0.0']);
    assert.match(proc.stderr(), /WARNING: --host 0\.0\.0\.0 lets every machine/);
    proc.child.kill('SIGTERM');
    await proc.done;
  });

  test('--host 127.1 listens on loopback: no warning, the URL of the address listened on, a foreign Host refused', async () => {
    const { proc, url } = await startServe([trained, '--host', '127.1']);
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.doesNotMatch(proc.stderr(), /WARNING/);
      assert.equal((await requestAt(url, '/api/runs')).status, 200);
      assert.equal((await requestAt(url, '/api/runs', { host: 'evil.example' })).status, 403);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.done;
    }
  });

  test("--host '' is refused in one line (exit 2): it would listen on every interface", async () => {
    const r = await runNin(['serve', trained, '--port', '0', '--host', ''], { timeoutMs: 60_000 });
    assertOneLineError(r, 2, /--host '' names no address/);
  });

  test('Ctrl-C while a report is computed stops nin serve before the report is done, and ends its process', async () => {
    const dir = copyTrained(path.join(work, 'interrupted'), 'interrupted');
    const { proc, url: base } = await startServe([dir, '--test-limit', '10000']);
    const url = new URL(`${base}api/runs/interrupted/checkpoints/best/report`);
    const answer = new Promise<string>((resolve) => {
      const req = http.request(url, { method: 'POST' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
        res.on('error', () => resolve(`${res.statusCode} cut off`));
      });
      req.on('error', (err) => resolve(`no answer (${err.message})`));
      req.end();
    });
    await waitForOutput(proc, (_, stderr) => /report: evaluating .* in process \d+/.test(stderr));
    const pid = Number(/in process (\d+)/.exec(proc.stderr())?.[1]);
    const signalled = Date.now();
    proc.child.kill('SIGINT');
    const r = await proc.done;
    process.stderr.write(`# serve: stopped ${Date.now() - signalled} ms after SIGINT while a report was computed\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nin serve: stopped/);
    assert.doesNotMatch(r.stderr, /internal error|this is a bug/);
    assert.doesNotMatch(await answer, /^200 /, 'the report was not finished');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process computing the report is gone');
    assert.ok(!fs.existsSync(path.join(dir, RUN_FILES.reportBest)), 'no report was written');
  });

  test('a directory that is not a run is a usage error (exit 2, one line)', async () => {
    const r = await runNin(['serve', work, '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^nin: .* is not a nin run directory \(no config\.json\)/);
    assert.equal(lines(r.stderr).length, 1);
  });

  test('a port in use is one line, exit 1', async () => {
    const port = new URL(server.url).port;
    const r = await runNin(['serve', trained, '--port', port]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use; pass another --port`));
  });
});
