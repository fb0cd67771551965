// Where a request comes from, for nin serve's two browser-facing checks: the Host check that keeps a
// page of another site from reaching a loopback server by DNS rebinding, and the same-origin check
// that keeps a page of another site (or another port) from making the server compute a report.
// Addresses are compared as the WHATWG URL parser reads them, so every spelling of one address
// (127.1, 0177.0.0.1, 0x7f.1, ::ffff:127.0.0.1, [0:0:0:0:0:0:0:1]) is that address.
import type * as http from 'node:http';
import * as net from 'node:net';

/** The 8 groups of an IPv6 address (`::` expanded), or null for anything else. */
function ipv6Groups(address: string): number[] | null {
  if (!net.isIPv6(address)) return null;
  let text = address;
  // A dotted IPv4 tail (::ffff:127.0.0.1) is two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number);
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest === undefined ? [] : rest ? rest.split(':') : [];
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(zeros).fill('0'), ...right].map((g) => parseInt(g, 16));
}

/**
 * Whether an IP address (as a socket reports it: `127.0.0.2`, `::1`, `::ffff:127.0.0.1`) is a
 * loopback address: 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6.
 */
export function isLoopbackAddress(address: string): boolean {
  if (net.isIPv4(address)) return address.split('.')[0] === '127';
  const g = ipv6Groups(address);
  if (!g) return false;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(7) && g[7] === 1) return true; // ::1
  return zeros(5) && g[5] === 0xffff && g[6] >> 8 === 127; // ::ffff:127.x.y.z
}

/** The host name of a Host header (or of an origin's host part) as a browser reads it; null when it is not one. */
function hostName(host: string): string | null {
  if (host === '' || /[\s/?#@\\]/.test(host)) return null;
  try {
    const name = new URL(`http://${host}/`).hostname;
    return name.startsWith('[') ? name.slice(1, -1) : name;
  } catch {
    return null;
  }
}

/**
 * Whether a Host header names this machine's loopback: `localhost` (with or without its trailing
 * dot) or a loopback address in any spelling, with any port. A name that only a DNS server maps to
 * 127.0.0.1 is refused: that is exactly how DNS rebinding reaches a local server.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  const name = hostName(host ?? '');
  if (name === null) return false;
  return name === 'localhost' || name === 'localhost.' || isLoopbackAddress(name);
}

/**
 * Whether a request that changes something (POST) comes from a page this server served, or from
 * no page at all. Browsers say where a request comes from: `Sec-Fetch-Site` (every current browser,
 * to localhost at least) must be `same-origin`, and `Origin` (sent with every POST by browsers)
 * must be this server as the Host header names it. A client that sends neither is not a browser
 * (curl, a script), and so not a page of another site acting through one.
 */
export function isSameOrigin(req: http.IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (a sandboxed frame, a file: page) and anything unreadable
  }
  if (url.protocol !== 'http:') return false; // nin serve speaks plain http only
  const host = req.headers.host;
  if (!host || hostName(host) === null) return false;
  return url.host === new URL(`http://${host}/`).host;
}
