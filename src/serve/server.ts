// `nin serve`: a local web app over training runs. A node:http server with a JSON API (the runs, their
// checkpoints for TF.js in the browser, each checkpoint's report, the test images of its gallery), a
// Server-Sent Events stream that pushes a run's new epochs as they are written, and the page bundled
// at build time into dist/web. Read-only except for the report cache; only the runs given are reachable.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { initBackend } from '../backend';
import type { BackendChoice } from '../config';
import { CLASS_NAMES } from '../data';
import { NinError } from '../errors';
import { RUN_CHECKPOINTS, type RunCheckpoint } from '../run-dir';
import { HttpError, parseRequestPath, send, sendError, sendJson } from './http';
import { Reports } from './report';
import { RunStore } from './runs';
import { readSnapshot, SnapshotCache } from './snapshot';
import { EventHub } from './sse';
import { TestImages } from './test-images';
import { NIN_VERSION } from '../version';

export interface ServeOptions {
  runs: string[]; // run directories; empty: every run in `out`
  out: string;
  host: string;
  port: number; // 0: any free port
  dataDir?: string;
  testLimit?: number; // reports on this many test images instead of each run's own --test-limit
  backend: BackendChoice; // the engine reports are computed on
  threads: number | null;
  webDir?: string; // the bundled page (default: dist/web beside the compiled server)
  log: (line: string) => void; // stderr
}

export interface ServeHandle {
  url: string;
  port: number;
  close: () => Promise<void>;
}

export const DEFAULT_WEB_DIR = path.resolve(__dirname, '..', '..', 'web');

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

interface WebFile {
  body: Buffer;
  gzipped: Buffer; // TF.js's 1.3 MB script is 0.3 MB gzipped: it matters on a phone over Wi-Fi
}

/** The bundled page's files by name, read (and compressed) once: the only static files the server knows. */
function readWebFiles(dir: string): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  if (!fs.existsSync(dir)) return files;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (!TYPES[path.extname(name)] || !fs.lstatSync(file).isFile()) continue;
    const body = fs.readFileSync(file);
    files.set(name, { body, gzipped: zlib.gzipSync(body, { level: 9 }) });
  }
  return files;
}

/** Whether the client takes gzip (Accept-Encoding, without q=0 for it). */
function acceptsGzip(req: http.IncomingMessage): boolean {
  return String(req.headers['accept-encoding'] ?? '')
    .split(',')
    .some((part) => /^\s*gzip\s*(;\s*q=(?!0(\.0*)?\s*$)[\d.]+\s*)?$/i.test(part));
}

/** The Host header names this server, on a loopback bind: a page of another site reaching it by DNS rebinding does not. */
function hostAllowed(req: http.IncomingMessage, loopback: boolean): boolean {
  if (!loopback) return true;
  const host = req.headers.host ?? '';
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return isLoopback(name);
}

/** Starts the server; resolves once it listens. */
export async function serve(options: ServeOptions): Promise<ServeHandle> {
  // Checkpoints are checked against NiN's topology, which TF.js builds on a backend; reports run on it.
  await initBackend(options.backend, options.threads, options.log);
  const web = readWebFiles(options.webDir ?? DEFAULT_WEB_DIR);
  if (!web.has('index.html'))
    options.log(`warning: the page is not built (no ${options.webDir ?? DEFAULT_WEB_DIR}/index.html); run npm run build`);
  const hub = new EventHub();
  const store = new RunStore({ dirs: options.runs, out: options.out }, (id, summary) =>
    summary ? hub.send('run', summary) : hub.send('removed', { id }),
  );
  const snapshots = new SnapshotCache();
  const reports = new Reports({
    dataDir: options.dataDir,
    testLimit: options.testLimit,
    backend: options.backend,
    threads: options.threads,
    log: options.log,
  });
  const testImages = new TestImages(options.dataDir);
  const loopback = isLoopback(options.host);

  const runOf = (id: string) => {
    const run = store.get(id);
    if (!run) throw new HttpError(404, `no run ${JSON.stringify(id)} is served here`);
    return run;
  };
  const checkpointOf = (name: string): RunCheckpoint => {
    if (!(RUN_CHECKPOINTS as readonly string[]).includes(name))
      throw new HttpError(404, `no checkpoint ${JSON.stringify(name)}: best or last`);
    return name as RunCheckpoint;
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET and HEAD: nin serve is read-only');
    if (!hostAllowed(req, loopback)) throw new HttpError(403, 'this server answers to localhost only (see nin serve --host)');
    const { segments, query } = parseRequestPath(req.url);
    const [first, ...rest] = segments;
    if (first === undefined || (segments.length === 1 && web.has(first))) {
      const name = first ?? 'index.html';
      const file = web.get(name);
      if (!file) return send(res, 503, 'text/plain; charset=utf-8', 'the page is not built: run npm run build in the nin directory\n');
      const headers = { 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding' };
      if (acceptsGzip(req) && file.gzipped.length < file.body.length)
        return send(res, 200, TYPES[path.extname(name)], file.gzipped, { ...headers, 'Content-Encoding': 'gzip' });
      return send(res, 200, TYPES[path.extname(name)], file.body, headers);
    }
    if (first !== 'api') throw new HttpError(404, 'not found');
    const [what, id, sub, name, file] = rest;
    if (what === 'runs' && rest.length === 1) return sendJson(res, { nin: NIN_VERSION, classNames: CLASS_NAMES, runs: store.list() });
    if (what === 'events' && rest.length === 1) {
      hub.add(res, [{ event: 'runs', data: { nin: NIN_VERSION, classNames: CLASS_NAMES, runs: store.list() } }]);
      return;
    }
    if (what === 'test-images' && rest.length === 2 && /^\d{1,6}\.png$/.test(id))
      return send(res, 200, 'image/png', testImages.png(Number(id.slice(0, -4))), { 'Cache-Control': 'max-age=86400' });
    if (what === 'runs' && sub === 'checkpoints' && rest.length === 5) {
      const run = runOf(id);
      const checkpoint = checkpointOf(name);
      const dir = path.join(run.dir, checkpoint);
      if (file === 'model.json' || file === 'meta.json') {
        const snapshot = readSnapshot(dir, run.real, snapshots);
        if (file === 'meta.json') return sendJson(res, { ...snapshot.meta, snapshot: snapshot.id });
        return send(res, 200, TYPES['.json'], snapshot.modelJson(`weights.bin?snapshot=${snapshot.id}`), { 'Cache-Control': 'no-store' });
      }
      if (file === 'weights.bin') {
        const id = query.get('snapshot');
        const snapshot = id ? snapshots.get(id) : readSnapshot(dir, run.real, snapshots);
        if (!snapshot) throw new HttpError(410, 'that checkpoint save is no longer held; load model.json again');
        if (path.dirname(snapshot.dir) !== run.dir && path.dirname(snapshot.dir) !== path.resolve(run.dir))
          throw new HttpError(404, 'that snapshot is of another run');
        return send(res, 200, 'application/octet-stream', snapshot.weights, { 'Cache-Control': 'no-store' });
      }
      if (file === 'report') {
        const report = await reports.get(run.dir, checkpoint);
        return sendJson(res, { ...report, checkpoint: `${run.summary.name}/${checkpoint}` });
      }
    }
    throw new HttpError(404, 'not found');
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err);
      // A run's own file that cannot be read: the problem and its fix, as the CLI would say it.
      if (err instanceof NinError) return sendError(res, new HttpError(422, err.message));
      options.log(
        `nin serve: internal error on ${req.method} ${String(req.url).slice(0, 200)}: ${(err as Error)?.message ?? String(err)} (this is a bug)`,
      );
      sendError(res, new HttpError(500, 'internal error (this is a bug; the server log says more)'));
    });
  });
  // A client that never finishes its request headers does not hold a connection for long.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      store.close();
      hub.close();
      if (err.code === 'EADDRINUSE')
        reject(new NinError(`port ${options.port} on ${options.host} is in use; pass another --port (0 picks a free one)`));
      else if (err.code === 'EACCES') reject(new NinError(`port ${options.port} needs privileges; pass a --port above 1023`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND')
        reject(new NinError(`--host ${options.host} is not an address of this machine; pass 127.0.0.1, or 0.0.0.0 for every interface`));
      else reject(new NinError(`could not listen on ${options.host}:${options.port} (${err.message})`));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        store.close();
        hub.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
