// Server-Sent Events: the one push channel from nin serve to its pages. Each event is a name and one
// JSON object; a comment every 15 seconds keeps proxies and idle timers from closing the stream.
import type * as http from 'node:http';
import { startStream } from './http';

const KEEPALIVE_MS = 15_000;

export class EventHub {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor() {
    this.keepalive = setInterval(() => this.write(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  /** Opens a stream on `res` and sends it `first` (the state so far) before any later event. */
  add(res: http.ServerResponse, first: { event: string; data: unknown }[]): void {
    startStream(res, 'text/event-stream; charset=utf-8');
    // The browser reconnects after 2 s if the stream drops (a restarted server).
    res.write('retry: 2000\n\n');
    for (const e of first) res.write(frame(e.event, e.data));
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  send(event: string, data: unknown): void {
    this.write(frame(event, data));
  }

  get size(): number {
    return this.clients.size;
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}

/** One event: JSON has no raw newlines, so the data is one `data:` line. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
