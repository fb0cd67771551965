// Loads Dawn (the npm package `webgpu`, Chrome's WebGPU as a Node addon) on demand and gives this
// process what a browser has: `navigator.gpu` and the GPU* constants that tfjs-backend-webgpu reads.
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The slice of the WebGPU API nin itself calls; TF.js's backend uses the rest through navigator.gpu. */
export interface DawnGpu {
  requestAdapter(options?: {
    powerPreference?: 'low-power' | 'high-performance';
    forceFallbackAdapter?: boolean;
  }): Promise<GPUAdapter | null>;
}

interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}

let dawnModule: Promise<DawnModule> | null = null;
let gpu: Promise<DawnGpu> | null = null;

/**
 * `webgpu` is an ES module; it is imported through its resolved file URL because this CommonJS build
 * would otherwise turn `import()` into `require()`, which only Node 20.19+ accepts for ES modules.
 */
function importDawn(): Promise<DawnModule> {
  dawnModule ??= (async () => {
    const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<DawnModule>;
    return importModule(pathToFileURL(require.resolve('webgpu')).href);
  })();
  return dawnModule;
}

/** Dawn's GPU object (what navigator.gpu is in a browser), created once per process. */
export function loadDawn(): Promise<DawnGpu> {
  gpu ??= importDawn().then((dawn) => dawn.create([]));
  return gpu;
}

/** Installs Dawn as `navigator.gpu` (and GPUBufferUsage, GPUMapMode, ...) for tfjs-backend-webgpu. */
export async function installNavigatorGpu(): Promise<DawnGpu> {
  const [{ globals }, dawnGpu] = await Promise.all([importDawn(), loadDawn()]);
  const global = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(globals)) if (!(name in global)) global[name] = value;
  // Node 20 has no navigator; Node 21+ has one without `gpu`.
  if (global.navigator === undefined)
    Object.defineProperty(global, 'navigator', { value: { gpu: dawnGpu }, configurable: true, writable: true });
  else if ((global.navigator as { gpu?: unknown }).gpu !== dawnGpu)
    Object.defineProperty(global.navigator, 'gpu', { value: dawnGpu, configurable: true });
  return dawnGpu;
}

/**
 * Runs `request` with file descriptor 2 pointed at /dev/null. Dawn enumerates the machine's GPUs
 * synchronously inside the first requestAdapter() and its C++ logger writes straight to fd 2 (lavapipe:
 * "maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."; no driver: the Vulkan loader's
 * "Failed to detect any valid GPUs"), which JS cannot intercept. Node has no dup2, so: reopen the
 * current stderr through /proc, close fd 2, open /dev/null (the lowest free descriptor, i.e. 2), and
 * undo it the same way. Node's own stderr writes are synchronous on Linux, so none is in flight.
 * Linux only; elsewhere, or if any step is not as expected, the request runs unsilenced. That includes
 * a stderr that is a socket, which /proc cannot reopen: Node's child_process makes its pipes from
 * socketpairs, so a nin spawned by Node (the test runner) still shows lavapipe's two lines.
 */
export function withoutNativeStderr<T>(request: () => T): T {
  if (process.platform !== 'linux') return request();
  let saved: number;
  try {
    saved = fs.openSync('/proc/self/fd/2', 'a');
  } catch {
    return request(); // a socket, or closed: leave it alone
  }
  let silenced = false;
  try {
    fs.closeSync(2);
    const devNull = fs.openSync('/dev/null', 'a');
    silenced = devNull === 2;
    if (!silenced) fs.closeSync(devNull);
  } catch {
    // fall through: restore below
  }
  try {
    return request();
  } finally {
    try {
      if (silenced) fs.closeSync(2);
      const restored = fs.openSync(`/proc/self/fd/${saved}`, 'a');
      if (restored !== 2) fs.closeSync(restored); // fd 2 was never closed: nothing to restore
    } finally {
      fs.closeSync(saved);
    }
  }
}
