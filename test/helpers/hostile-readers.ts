// The child process of fuzz.test.ts's hostile-run case: reads each run directory given with every
// reader nin has for a run (eval's, --resume's, plot's, serve's listing and snapshot, serve over
// HTTP), printing one JSON line when a reading starts and one when it ends. Run in a child, so a
// reader that blocks (a FIFO) is killed by the parent, which names it by its last "start" line.
// Usage: node hostile-readers.js '<run directories as JSON>' <scratch directory>
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { NinError } from '../../src/sys/errors';
import { plot } from '../../src/report/plot';
import { openRun } from '../../src/run/run-dir';
import { HttpError } from '../../src/serve/http';
import { readRun } from '../../src/serve/runs';
import { serve } from '../../src/serve/server';
import { readSnapshot } from '../../src/serve/snapshot';

export interface Reading {
  run: string;
  reader: string;
  start?: true;
  outcome?: 'read' | 'refused' | 'bad'; // bad: another exception, or a refusal of more than one line
  status?: number; // HTTP readings: the status (never 500)
  message?: string;
  ms?: number;
}

export const READERS = ['eval', 'resume', 'plot', 'serve listing', 'serve snapshot'] as const;
export const HTTP_PATHS = ['checkpoints/best/model.json', 'checkpoints/last/meta.json', 'checkpoints/best/weights.bin'];

function print(reading: Reading): void {
  process.stdout.write(JSON.stringify(reading) + '\n'); // a pipe: written at once, before the next reading may block
}

async function readers(run: string, scratch: string): Promise<Record<(typeof READERS)[number], () => Promise<unknown>>> {
  return {
    eval: async () => (await loadCheckpoint(run)).model.dispose(),
    resume: async () => {
      const opened = openRun(run);
      try {
        const last = await opened.loadLast();
        last?.model.dispose();
        for (const w of last?.optimizerWeights ?? []) w.tensor.dispose();
      } finally {
        opened.close();
      }
    },
    plot: async () => plot([run], { out: path.join(scratch, 'figure.svg') }),
    'serve listing': async () => JSON.stringify(readRun('run', run)),
    'serve snapshot': async () => {
      for (const name of ['best', 'last']) {
        try {
          readSnapshot(path.join(run, name), fs.realpathSync(run));
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
        }
      }
    },
  };
}

function get(url: URL, route: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get({ host: url.hostname, port: url.port, path: route, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    request.on('timeout', () => {
      request.destroy();
      resolve(-1);
    });
    request.on('error', () => resolve(-2));
  });
}

async function main(): Promise<void> {
  const runs = JSON.parse(process.argv[2]) as string[];
  const scratch = process.argv[3];
  await initBackend('cpu', null, () => {});
  for (const run of runs) {
    for (const [reader, read] of Object.entries(await readers(run, scratch))) {
      print({ run, reader, start: true });
      const started = Date.now();
      try {
        await read();
        print({ run, reader, outcome: 'read', ms: Date.now() - started });
      } catch (err) {
        const oneLine = err instanceof NinError && !err.message.includes('\n') && !/internal error|this is a bug/.test(err.message);
        const message = oneLine ? (err as Error).message : ((err as Error)?.stack ?? String(err));
        print({ run, reader, outcome: oneLine ? 'refused' : 'bad', message, ms: Date.now() - started });
      }
    }
  }
  // nin serve over HTTP: every run listed, each checkpoint's files a clean answer (never a 500).
  const server = await serve({ runs, out: scratch, host: '127.0.0.1', port: 0, backend: 'cpu', threads: null, log: () => {} });
  const url = new URL(server.url);
  try {
    print({ run: '', reader: 'http /api/runs', start: true });
    print({ run: '', reader: 'http /api/runs', status: await get(url, '/api/runs') });
    for (const run of runs) {
      for (const route of HTTP_PATHS) {
        const reader = `http ${route}`;
        print({ run, reader, start: true });
        const started = Date.now();
        print({ run, reader, status: await get(url, `/api/runs/${path.basename(run)}/${route}`), ms: Date.now() - started });
      }
    }
  } finally {
    await server.close();
  }
}

// Only as a child with its arguments: node --test also runs every file under dist/test, this one included.
if (require.main === module && process.argv.length > 3) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`hostile-readers: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
