// Downloading the four official files, each checked against its SHA-256 before it is renamed into place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NinError } from '../sys/errors';
import { describeFsError } from '../sys/safe-file';

// The pure pieces (no Node) live where a browser bundle can take them; re-exported so callers keep importing them from here.
import { ALL_FILES, DEFAULT_MIRROR, DOWNLOAD_TIMEOUT_MS, type FileCheck, MAX_IDX_BYTES, OFFICIAL_SHA256 } from './files';
import { checkOne, sha256Hex } from './idx';
import { datasetFilePath } from './locate';

// ---------------------------------------------------------------------------------------------
// Downloading

/**
 * Fetches the four .gz files from `baseUrl` into `destDir`. Each is written to a temporary name,
 * its unpacked content checked against `expectedSha256`, then renamed into place, so a failed or
 * interrupted download never leaves a file under the final name. Files already present and
 * correct are kept.
 */
export async function downloadFashionMnist(
  destDir: string,
  baseUrl: string = DEFAULT_MIRROR,
  log: (line: string) => void = () => {},
  expectedSha256: Readonly<Record<string, string>> = OFFICIAL_SHA256,
  timeoutMs: number = DOWNLOAD_TIMEOUT_MS,
): Promise<FileCheck[]> {
  try {
    fs.mkdirSync(destDir, { recursive: true });
  } catch (err) {
    throw describeFsError(err, `creating ${destDir}`, 'pass a --data-dir you can write to');
  }
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const results: FileCheck[] = [];
  for (const name of ALL_FILES) {
    const expected = expectedSha256[name];
    const finalPath = path.join(destDir, name + '.gz');
    const present = datasetFilePath(destDir, name);
    if (present !== null) {
      const existing = checkOne(present, name, expected);
      if (existing.ok) {
        log(`${present}: already present, sha256 ok`);
        results.push(existing);
        continue;
      }
    }
    const url = base + name + '.gz';
    log(`downloading ${url}`);
    const body = await fetchBytes(url, timeoutMs);
    const tempPath = `${finalPath}.partial-${process.pid}`;
    try {
      try {
        fs.writeFileSync(tempPath, body);
      } catch (err) {
        throw describeFsError(err, `writing ${tempPath}`, 'free some space or pass a --data-dir you can write to');
      }
      let sha256: string;
      try {
        sha256 = sha256Hex(gunzipSync(body, { maxOutputLength: MAX_IDX_BYTES }));
      } catch (err) {
        throw new NinError(`${url}: not a valid gzip file of a Fashion-MNIST size (${(err as Error).message}); ${RETRY}`);
      }
      if (sha256 !== expected) {
        throw new NinError(`${url}: checksum mismatch: sha256 of the unpacked file is ${sha256}, expected ${expected}; ${RETRY}`);
      }
      try {
        fs.renameSync(tempPath, finalPath);
      } catch (err) {
        throw describeFsError(err, `renaming ${tempPath} to ${finalPath}`, 'pass a --data-dir you can write to');
      }
      log(`${finalPath}: ${(body.length / 1e6).toFixed(1)} MB, sha256 ok`);
      results.push({ name, path: finalPath, sha256, expected, ok: true });
    } finally {
      fs.rmSync(tempPath, { force: true });
    }
  }
  return results;
}

const RETRY = 'retry later, or set NIN_MIRROR_URL to another mirror, or install with `apt-get install dataset-fashion-mnist`';

/** Why a connection failed, in words (undici reports an errno-style code as the cause). */
const NETWORK_PROBLEMS: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'the host name was not found',
  EAI_AGAIN: 'the host name could not be looked up (no network?)',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_SOCKET: 'the connection was lost',
};

/**
 * The body of `url`, with a timeout on every step: connecting, the response's headers and each
 * read of its body. A mirror that sends nothing for `timeoutMs` is abandoned with one line, and a
 * body larger than any Fashion-MNIST file is refused before it fills memory.
 */
async function fetchBytes(url: string, timeoutMs: number): Promise<Buffer> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), timeoutMs);
  };
  const stalled = () => new NinError(`could not download ${url}: the mirror sent nothing for ${timeoutMs / 1000} s; ${RETRY}`);
  const failed = (err: unknown, what: string) => {
    if (controller.signal.aborted) return stalled();
    const cause = (err as { cause?: { code?: string } }).cause;
    const reason = (cause?.code && NETWORK_PROBLEMS[cause.code]) || what;
    return new NinError(`could not download ${url}: ${reason}; ${RETRY}`);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (err) {
      throw failed(err, 'the connection failed');
    }
    if (!response.ok) {
      throw new NinError(`could not download ${url}: HTTP ${response.status} ${response.statusText}; ${RETRY}`);
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > MAX_IDX_BYTES)
      throw new NinError(`could not download ${url}: it is ${declared} bytes, more than any Fashion-MNIST file; ${RETRY}`);
    const chunks: Uint8Array[] = [];
    let received = 0;
    try {
      const reader = response.body?.getReader();
      for (;;) {
        arm();
        const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
        if (chunk.done) break;
        received += chunk.value.byteLength;
        if (received > MAX_IDX_BYTES) {
          controller.abort();
          throw new NinError(
            `could not download ${url}: it sent more than ${MAX_IDX_BYTES} bytes, more than any Fashion-MNIST file; ${RETRY}`,
          );
        }
        chunks.push(chunk.value);
      }
    } catch (err) {
      if (err instanceof NinError) throw err;
      throw failed(err, 'the connection was lost');
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
  }
}

