// The HTTP plumbing nin serve's routes share: a request path split into checked segments (nothing a
// client sends ever becomes a file path by itself), errors as a status and one short line, and responses.
import type * as http from 'node:http';

/** A request the server refuses: its status and one short line for the client (never a stack trace). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {}, // e.g. Allow with a 405
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Encoded separators and NUL: a segment holding them would name a path the route never meant. */
const ENCODED_SEPARATOR = /%(2f|5c|00)/i;

/**
 * The path of a request URL as decoded segments. Refused (400): anything but an origin-form path,
 * backslashes, encoded slashes or backslashes (%2f, %5c), NUL, empty segments (`//`, which would
 * make an absolute path), `.` and `..`, and bad percent-encoding. The query string is returned apart.
 */
export function parseRequestPath(rawUrl: string | undefined): { segments: string[]; query: URLSearchParams } {
  const url = rawUrl ?? '';
  if (!url.startsWith('/')) throw new HttpError(400, 'bad request: the path must start with /');
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (pathname.includes('\\') || ENCODED_SEPARATOR.test(pathname))
    throw new HttpError(400, 'bad request: backslashes and encoded slashes are not allowed in paths');
  const parts = pathname.split('/').slice(1);
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // a trailing slash
  if (parts.length === 1 && parts[0] === '') return { segments: [], query };
  const segments = parts.map((part) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw new HttpError(400, 'bad request: malformed percent-encoding in the path');
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || /[/\\\0]/.test(decoded))
      throw new HttpError(400, 'bad request: empty, . and .. path segments are not allowed');
    return decoded;
  });
  return { segments, query };
}

/** Headers every response carries: no sniffing, no framing, scripts and styles from this server only. */
const COMMON_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' blob:; worker-src 'self' blob:; frame-ancestors 'none'",
};

export function send(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  extra: Record<string, string> = {},
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': contentType, 'Content-Length': String(bytes.byteLength), ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

export function sendJson(res: http.ServerResponse, value: unknown, status = 200): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), { 'Cache-Control': 'no-store' });
}

export function sendError(res: http.ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, err.status, 'application/json; charset=utf-8', JSON.stringify({ error: err.message }), {
    'Cache-Control': 'no-store',
    ...err.headers,
  });
}

/** Starts a response with its headers only (a Server-Sent Events stream). */
export function startStream(res: http.ServerResponse, contentType: string): void {
  res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType, 'Cache-Control': 'no-store', Connection: 'keep-alive' });
}
