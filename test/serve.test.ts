// Tests for nin serve without a browser: the JSON API, checkpoints handed out whole, reports equal to
// nin eval's and cached in the run, the event stream, and every way of reaching outside the runs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { initBackend } from '../src/backend';
import { parseRequestPath, HttpError } from '../src/serve/http';
import { serve, type ServeHandle } from '../src/serve/server';
import type { RunSummary, RunsMessage } from '../src/serve/api';
import { RUN_FILES } from '../src/run-dir';
import { lines, runNin, startNin, waitForOutput } from './helpers/cli';
import { metricsLine, SERVE_TEST_LIMIT, trainTinyRun, writeDoubledRun } from './helpers/serve-runs';

let work: string;
let out: string;
let trained: string;
let server: ServeHandle;
const logged: string[] = [];

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A request with the path sent exactly as written (no client-side normalisation of `..`). */
function request(rawPath: string, options: { method?: string; host?: string } = {}): Promise<Answer> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: rawPath,
        method: options.method ?? 'GET',
        headers: options.host ? { Host: options.host } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function json<T>(rawPath: string): Promise<T> {
  const r = await request(rawPath);
  assert.equal(r.status, 200, `${rawPath}: ${r.body.toString()}`);
  return JSON.parse(r.body.toString()) as T;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-serve-'));
  out = path.join(work, 'runs');
  trained = await trainTinyRun(out);
  await initBackend('auto', null, () => {});
  await writeDoubledRun(out);
  server = await serve({ runs: [], out, host: '127.0.0.1', port: 0, backend: 'auto', threads: null, log: (l) => logged.push(l) });
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
    const report = await json<{
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
    const again = await json<{ confusion: number[][] }>('/api/runs/trained/checkpoints/best/report');
    assert.deepEqual(again.confusion, report.confusion);
    assert.equal(fs.statSync(cache).mtimeMs, before, 'served from the cache, not computed again');
    assert.equal(logged.filter((l) => l.startsWith('report: evaluating')).length, 1);
  });

  test('a damaged cached report is computed again', async () => {
    const cache = path.join(trained, RUN_FILES.reportLast);
    fs.writeFileSync(cache, '{"key": {"createdAt": "x"}, "report": ');
    const report = await json<{ confusion: number[][] }>('/api/runs/trained/checkpoints/last/report');
    assert.equal(report.confusion.length, 10);
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(cache, 'utf8')));
  });

  test('a report that cannot be written into the run is kept in memory', async () => {
    const doubled = path.join(out, 'doubled');
    // A directory where the cache file would go: reading it fails, and so does renaming onto it.
    fs.mkdirSync(path.join(doubled, RUN_FILES.reportBest));
    const first = await json<{ confusion: number[][] }>('/api/runs/doubled/checkpoints/best/report');
    const count = logged.filter((l) => l.startsWith('report: evaluating')).length;
    const second = await json<{ confusion: number[][] }>('/api/runs/doubled/checkpoints/best/report');
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
    const other = await serve({ runs: [run], out, host: '127.0.0.1', port: 0, backend: 'auto', threads: null, log: () => {} });
    const url = new URL(other.url);
    const get = (p: string) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) =>
        http
          .get({ host: url.hostname, port: url.port, path: p }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          })
          .on('error', reject),
      );
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
    const other = await serve({
      runs: [path.join(linked, 'sneaky')],
      out,
      host: '127.0.0.1',
      port: 0,
      backend: 'auto',
      threads: null,
      log: () => {},
    });
    try {
      const url = new URL(other.url);
      const status = await new Promise<number>((resolve, reject) =>
        http
          .get({ host: url.hostname, port: url.port, path: '/api/runs/sneaky/checkpoints/best/model.json' }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject),
      );
      assert.equal(status, 403);
    } finally {
      await other.close();
    }
  });

  test('another Host than localhost is refused (DNS rebinding), and so is anything but GET', async () => {
    assert.equal((await request('/api/runs', { host: 'evil.example:8080' })).status, 403);
    assert.equal((await request('/api/runs', { host: 'localhost:1' })).status, 200);
    assert.equal((await request('/api/runs', { method: 'POST' })).status, 405);
    assert.equal((await request('/api/runs', { method: 'DELETE' })).status, 405);
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
    const proc = startNin(['serve', trained, '--port', '0']);
    await waitForOutput(proc, (stdout) => /^http:\/\/127\.0\.0\.1:\d+\/\n/.test(stdout));
    const url = lines(proc.stdout())[0];
    const body = await new Promise<string>((resolve, reject) =>
      http
        .get(`${url}api/runs`, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        })
        .on('error', reject),
    );
    assert.deepEqual(
      (JSON.parse(body) as RunsMessage).runs.map((r) => r.id),
      ['trained'],
    );
    proc.child.kill('SIGTERM');
    const r = await proc.done;
    assert.equal(r.code, 0, r.stderr);
  });

  test('another --host warns loudly on stderr', async () => {
    const proc = startNin(['serve', trained, '--port', '0', '--host', '0.0.0.0']);
    await waitForOutput(proc, (stdout) => stdout.includes('http://'));
    assert.match(proc.stderr(), /WARNING: --host 0\.0\.0\.0 lets every machine/);
    proc.child.kill('SIGTERM');
    await proc.done;
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
