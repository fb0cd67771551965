// nin serve for the tests: started in this process on a free loopback port, or as the real `nin serve`
// process with the URL it prints; and one HTTP request that answers with its status, headers and body.

import * as http from 'node:http';
import { serve, type ServeHandle, type ServeOptions } from '../../src/serve/server';
import { lines, startNin, waitForOutput, type CliOptions, type CliProcess } from './cli';

/** `serve` in this process on 127.0.0.1, any free port, serving every run in `out` unless `runs` are given; quiet unless `log`. */
export function serveHere(options: Partial<ServeOptions> & Pick<ServeOptions, 'out'>): Promise<ServeHandle> {
  return serve({ runs: [], host: '127.0.0.1', port: 0, backend: 'auto', threads: null, log: () => {}, ...options });
}

/** `nin serve ARGS --port 0` as a process, once it has printed its URL (the first line of stdout, ending in /). */
export async function startServe(args: string[], options: CliOptions = {}): Promise<{ proc: CliProcess; url: string }> {
  const proc = startNin(['serve', ...args, '--port', '0'], options);
  await waitForOutput(proc, (stdout) => /^http:\/\/\S+\/\n/.test(stdout));
  return { proc, url: lines(proc.stdout())[0] };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  host?: string; // the Host header (default: the URL's)
  headers?: Record<string, string>;
  timeoutMs?: number; // fails instead of waiting for ever (default 60 s)
}

/** A request for `rawPath` sent exactly as written (no client-side normalisation of `..`) to the server at `base`. */
export function request(base: string, rawPath: string, options: RequestOptions = {}): Promise<Answer> {
  const url = new URL(base);
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path: rawPath,
        method: options.method ?? 'GET',
        headers: { ...(options.host ? { Host: options.host } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      reject(new Error(`${options.method ?? 'GET'} ${rawPath}: no complete answer within ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The body of a request as text, with its status. */
export async function requestText(base: string, rawPath: string, options: RequestOptions = {}): Promise<{ status: number; body: string }> {
  const answer = await request(base, rawPath, options);
  return { status: answer.status, body: answer.body.toString('utf8') };
}
