// `nin serve`: a local web app over training runs. A node:http server with a JSON API (the runs, their
// checkpoints for TF.js in the browser, each checkpoint's report, the test images of its gallery), a
// Server-Sent Events stream that pushes a run's new epochs as they are written, and the page bundled
// at build time into dist/web. Read-only except for the report cache, which only a POST from the page
// itself fills; only the runs given are reachable.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { initBackend } from '../backend';
import type { BackendChoice, PrecisionChoice } from '../config/config';
import { CLASS_NAMES } from '../data/idx';
import { NinError, UsageError } from '../sys/errors';
import { RUN_CHECKPOINTS, type RunCheckpoint } from '../run/layout';
import { LinkRefusedError } from '../sys/read-file';
import { type Log, stderrLog } from '../sys/log';
import { HttpError, parseRequestPath, send, sendError, sendJson, startStream } from './http';
import { isLoopbackAddress, isLoopbackHost, isSameOrigin } from './origin';
import { Reports } from './report';
import { RunStore } from './runs';
import { readSnapshot, SnapshotCache } from './snapshot';
import { EventHub } from './sse';
import { TestImages } from './test-images';
import { NIN_VERSION } from '../sys/version';

export interface ServeOptions {
  runs: string[]; // run directories; empty: every run in `out`
  out: string;
  host: string;
  port: number; // 0: any free port
  dataDir?: string;
  testLimit?: number; // reports on this many test images instead of each run's own --test-limit
  backend: BackendChoice; // the engine reports are computed on
  threads: number | null;
  precision?: PrecisionChoice; // of reports' convolutions (default fp32)
  webDir?: string; // the bundled page (default: dist/web beside the compiled server)
  log?: Log; // stderr lines: warnings, internal errors (default: stderr)
}

export interface ServeHandle {
  url: string; // where a browser on this machine reaches it
  port: number;
  address: string; // the address it listens on, as the socket reports it
  loopback: boolean; // it listens on a loopback address: only this machine reaches it, and the Host check is on
  close: () => Promise<void>;
}

export const DEFAULT_WEB_DIR = path.resolve(__dirname, '..', '..', 'web');

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

/** The methods each kind of route answers: reading is GET (and HEAD); computing a report is a POST. */
const READ = ['GET', 'HEAD'];
const COMPUTE = ['POST'];

function allow(req: http.IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? ''))
    throw new HttpError(
      405,
      methods === COMPUTE
        ? 'a report is computed by POST (the page does it); GET reads nothing here'
        : `only ${methods.join(' and ')} here: nin serve is read-only`,
      { Allow: methods.join(', ') },
    );
}

/** A malformed request Node's parser refused, answered as every other error is: one JSON line. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node's own handler does: a socket mid-response (a response's headers already went out) or gone is only closed.
  const current = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify({
    error: status === 431 ? 'request headers too large' : status === 408 ? 'request timed out' : 'bad request: not a valid HTTP request',
  });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The address `--host` names for listen(): `[::1]` as ::1; an empty one is refused (Node would listen on every interface). */
function listenAddress(host: string): string {
  if (host.trim() === '')
    throw new UsageError("--host '' names no address (it would listen on every interface); pass 127.0.0.1, or 0.0.0.0 for every interface");
  return /^\[.*\]$/.test(host) ? host.slice(1, -1) : host;
}

/** The URL a browser on this machine opens: the address listened on; an unspecified one (every interface) is reached on loopback. */
function urlOf(address: string, port: number): string {
  if (address === '0.0.0.0') return `http://127.0.0.1:${port}/`;
  if (address === '::') return `http://[::1]:${port}/`;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
}

/** Starts the server; resolves once it listens. */
export async function serve(options: ServeOptions): Promise<ServeHandle> {
  const host = listenAddress(options.host);
  const log = options.log ?? stderrLog;
  // Checkpoints are checked against NiN's topology, which TF.js builds on a backend; reports run on it.
  await initBackend(options.backend, options.threads, log);
  const web = readWebFiles(options.webDir ?? DEFAULT_WEB_DIR);
  if (!web.has('index.html')) log(`warning: the page is not built (no ${options.webDir ?? DEFAULT_WEB_DIR}/index.html); run npm run build`);
  const hub = new EventHub();
  const store = new RunStore({ dirs: options.runs, out: options.out }, (id, summary) =>
    summary ? hub.send('run', summary) : hub.send('removed', { id }),
  );
  const reports = new Reports({
    dataDir: options.dataDir,
    testLimit: options.testLimit,
    backend: options.backend,
    threads: options.threads,
    precision: options.precision ?? 'fp32',
    log: log,
  });
  const router = new Router(web, hub, store, reports, new TestImages(options.dataDir));
  // Without a Host header, Node would answer 400 with no body on its own: route() answers it, one JSON line.
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    router.route(req, res).catch((err: unknown) => answerError(err, req, res, log));
  });
  server.on('clientError', answerClientError);
  // A client that never finishes its request headers does not hold a connection for long.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  const closeParts = () => {
    store.close();
    hub.close();
    return reports.close(); // a report being computed is not waited for: its process is killed
  };
  await listen(server, host, options, closeParts);
  const { address, port } = server.address() as AddressInfo;
  router.loopback = isLoopbackAddress(address);
  return {
    url: urlOf(address, port),
    port,
    address,
    loopback: router.loopback,
    close: async () => {
      const stopped = closeParts();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await stopped;
    },
  };
}

/** Listens on `host`; a port in use, a privileged port or an address not of this machine is one line. */
function listen(server: http.Server, host: string, options: ServeOptions, closeParts: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      void closeParts();
      if (err.code === 'EADDRINUSE')
        reject(new NinError(`port ${options.port} on ${options.host} is in use; pass another --port (0 picks a free one)`));
      else if (err.code === 'EACCES') reject(new NinError(`port ${options.port} needs privileges; pass a --port above 1023`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND')
        reject(new NinError(`--host ${options.host} is not an address of this machine; pass 127.0.0.1, or 0.0.0.0 for every interface`));
      else reject(new NinError(`could not listen on ${options.host}:${options.port} (${err.message})`));
    });
    server.listen(options.port, host, () => resolve());
  });
}

/** A request that failed: its HTTP error, as one JSON line. */
function answerError(err: unknown, req: http.IncomingMessage, res: http.ServerResponse, log: Log): void {
  if (err instanceof HttpError) return sendError(res, err);
  // A link inside a run is refused as the checkpoint routes refuse it; a run's own file that cannot be
  // read is the problem and its fix, as the CLI would say it.
  if (err instanceof LinkRefusedError) return sendError(res, new HttpError(403, err.message));
  if (err instanceof NinError) return sendError(res, new HttpError(422, err.message));
  log(
    `nin serve: internal error on ${req.method} ${String(req.url).slice(0, 200)}: ${(err as Error)?.message ?? String(err)} (this is a bug)`,
  );
  sendError(res, new HttpError(500, 'internal error (this is a bug; the server log says more)'));
}

/** The routes: the page's files, the runs and their events, test images, and each checkpoint's files and report. */
class Router {
  // Decided on the address listened on, not on how --host spells it (127.1, 0177.0.0.1, ::ffff:127.0.0.1, localhost...).
  loopback = true;
  private readonly snapshots = new SnapshotCache();

  constructor(
    private readonly web: Map<string, WebFile>,
    private readonly hub: EventHub,
    private readonly store: RunStore,
    private readonly reports: Reports,
    private readonly testImages: TestImages,
  ) {}

  async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.headers.host === undefined) throw new HttpError(400, 'bad request: no Host header');
    // On loopback, only requests naming this machine: a page of another site reaching it by DNS rebinding names its own.
    if (this.loopback && !isLoopbackHost(req.headers.host))
      throw new HttpError(403, 'this server answers to localhost only (see nin serve --host)');
    const { segments, query } = parseRequestPath(req.url);
    const [first, ...rest] = segments;
    if (first === undefined || (segments.length === 1 && this.web.has(first))) return this.page(req, res, first ?? 'index.html');
    if (first !== 'api') throw new HttpError(404, 'not found');
    const [what, id, sub, name, file] = rest;
    if (what === 'runs' && rest.length === 1) {
      allow(req, READ);
      return sendJson(res, { nin: NIN_VERSION, classNames: CLASS_NAMES, runs: this.store.list() });
    }
    if (what === 'events' && rest.length === 1) {
      allow(req, READ);
      if (req.method === 'HEAD') {
        startStream(res, 'text/event-stream; charset=utf-8');
        res.end();
        return;
      }
      this.hub.add(res, [{ event: 'runs', data: { nin: NIN_VERSION, classNames: CLASS_NAMES, runs: this.store.list() } }]);
      return;
    }
    if (what === 'test-images' && rest.length === 2 && /^\d{1,6}\.png$/.test(id)) {
      allow(req, READ);
      return send(res, 200, 'image/png', this.testImages.png(Number(id.slice(0, -4))), { 'Cache-Control': 'max-age=86400' });
    }
    if (what === 'runs' && sub === 'checkpoints' && rest.length === 5) return this.checkpointFile(req, res, { id, name, file, query });
    throw new HttpError(404, 'not found');
  }

  private page(req: http.IncomingMessage, res: http.ServerResponse, name: string): void {
    allow(req, READ);
    const file = this.web.get(name);
    if (!file) throw new HttpError(503, 'the page is not built: run npm run build in the nin directory');
    const headers = { 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding' };
    if (acceptsGzip(req) && file.gzipped.length < file.body.length)
      return send(res, 200, TYPES[path.extname(name)], file.gzipped, { ...headers, 'Content-Encoding': 'gzip' });
    return send(res, 200, TYPES[path.extname(name)], file.body, headers);
  }

  /** /api/runs/ID/checkpoints/NAME/FILE: model.json, meta.json and weights.bin of one save, or its report (a POST). */
  private async checkpointFile(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    at: { id: string; name: string; file: string; query: URLSearchParams },
  ): Promise<void> {
    const { file } = at;
    if (file === 'report') {
      allow(req, COMPUTE);
      // Computing writes into the run: only the page this server served may ask, never a page of another site.
      if (!isSameOrigin(req)) throw new HttpError(403, 'a report is computed for the page nin serve serves only, not for another site');
    } else if (file === 'model.json' || file === 'meta.json' || file === 'weights.bin') allow(req, READ);
    else throw new HttpError(404, 'not found');
    const run = this.store.get(at.id);
    if (!run) throw new HttpError(404, `no run ${JSON.stringify(at.id)} is served here`);
    if (!(RUN_CHECKPOINTS as readonly string[]).includes(at.name))
      throw new HttpError(404, `no checkpoint ${JSON.stringify(at.name)}: best or last`);
    const checkpoint = at.name as RunCheckpoint;
    const dir = path.join(run.dir, checkpoint);
    if (file === 'model.json' || file === 'meta.json') {
      const snapshot = readSnapshot(dir, run.real, this.snapshots);
      if (file === 'meta.json') return sendJson(res, { ...snapshot.meta, snapshot: snapshot.id });
      return send(res, 200, TYPES['.json'], snapshot.modelJson(`weights.bin?snapshot=${snapshot.id}`), { 'Cache-Control': 'no-store' });
    }
    if (file === 'weights.bin') {
      const id = at.query.get('snapshot');
      const snapshot = id ? this.snapshots.get(id) : readSnapshot(dir, run.real, this.snapshots);
      if (!snapshot) throw new HttpError(410, 'that checkpoint save is no longer held; load model.json again');
      if (path.dirname(snapshot.dir) !== run.dir && path.dirname(snapshot.dir) !== path.resolve(run.dir))
        throw new HttpError(404, 'that snapshot is of another run');
      return send(res, 200, 'application/octet-stream', snapshot.weights, { 'Cache-Control': 'no-store' });
    }
    const report = await this.reports.get(run.dir, checkpoint);
    return sendJson(res, { ...report, checkpoint: `${run.summary.name}/${checkpoint}` });
  }
}
