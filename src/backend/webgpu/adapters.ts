// Which WebGPU adapters this machine has: what each is (vendor, limits, software or not), how to find
// them without loading Dawn into nin's own process, and, when there are none, why and what to install.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDawn, withoutNativeStderr } from './dawn';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  type: 'gpu' | 'software'; // software: runs on the CPU (lavapipe, SwiftShader, WARP); never picked by auto
  maxBufferSize: number; // bytes, the largest buffer the adapter can create
  maxStorageBufferBindingSize: number; // bytes, the largest buffer one kernel may bind, i.e. the largest tensor
  shaderF16: boolean; // the 'shader-f16' feature: half-precision arithmetic in shaders
}

export interface AdapterProbe {
  adapters: AdapterReport[];
  problem: string | null; // when no adapter was found: why, and what to install
}

/** Software rasterisers that expose Vulkan or D3D12: correct, and far slower than the CPU backends. */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

/**
 * Dawn's binding reports no adapter type (discrete/integrated/CPU) in `GPUAdapterInfo`, so a software
 * adapter is recognised by what it does report: the fallback flag (on the info in Dawn 2025, on the
 * adapter before) and the names lavapipe ("llvmpipe", architecture "software"), SwiftShader and WARP give.
 */
export function isSoftwareAdapter(
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean; type?: string },
  adapterFallback?: boolean,
): boolean {
  if (info.isFallbackAdapter === true || adapterFallback === true) return true;
  if (typeof info.type === 'string' && /cpu/i.test(info.type)) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((s) => SOFTWARE_NAMES.test(s ?? ''));
}

export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  // @webgpu/types 0.1.38 (TF.js's) predates GPUAdapter.info; Dawn has it.
  const info = (adapter as unknown as { info: unknown }).info as {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
    type?: string;
  };
  const fallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    type: isSoftwareAdapter(info, fallback) ? 'software' : 'gpu',
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    shaderF16: adapter.features.has('shader-f16'),
  };
}

/** A short name for the backend line: "NVIDIA H200 (nvidia, hopper)" or "llvmpipe: Mesa 25.0.7 ...". */
export function adapterName(a: AdapterReport): string {
  const name = a.description || a.device || 'unnamed adapter';
  const extra = [a.vendor, a.architecture].filter((s) => s && s !== 'software' && !name.toLowerCase().includes(s.toLowerCase()));
  return extra.length ? `${name} (${extra.join(', ')})` : name;
}

function sameAdapter(a: AdapterReport, b: AdapterReport): boolean {
  return a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description;
}

/**
 * Every adapter WebGPU hands out, in this process. WebGPU has no "list all" call: it answers one
 * adapter per request, so ask with each power preference and for the fallback adapter, and keep the
 * distinct ones (a machine with several identical GPUs shows one).
 */
export async function probeAdaptersHere(): Promise<AdapterProbe> {
  let gpu;
  try {
    gpu = await loadDawn();
  } catch (err) {
    return { adapters: [], problem: dawnLoadProblem(err as Error) };
  }
  const adapters: AdapterReport[] = [];
  const requests = [
    { powerPreference: 'high-performance' as const },
    { powerPreference: 'low-power' as const },
    { forceFallbackAdapter: true },
  ];
  for (const options of requests) {
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await withoutNativeStderr(() => gpu.requestAdapter(options));
    } catch {
      adapter = null;
    }
    if (!adapter) continue;
    const report = describeAdapter(adapter);
    if (!adapters.some((a) => sameAdapter(a, report))) adapters.push(report);
  }
  return { adapters, problem: adapters.length ? null : noAdapterProblem() };
}

function dawnLoadProblem(err: Error): string {
  const first = err.message.split('\n')[0];
  if (/Cannot find (module|package) 'webgpu'|MODULE_NOT_FOUND/.test(err.message))
    return 'the npm package webgpu is not installed (npm ci installs it)';
  if (/dawn\.node/.test(err.message)) return `the npm package webgpu has no Dawn build for ${process.platform}-${process.arch} (${first})`;
  return `Dawn (npm package webgpu) did not load: ${first}`;
}

const LIBRARY_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/lib64',
  '/usr/lib',
  '/lib',
  '/usr/local/lib',
];
/** ICD manifests that Mesa ships (lvp_icd is lavapipe). */
const MESA_ICD = /^(lvp|intel|intel_hasvk|radeon|virtio|gfxstream_vk|nouveau|asahi|freedreno|panfrost|broadcom|powervr_mesa|dzn)_icd/;
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'];

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Why Dawn found no adapter, and the fix, from what the OS has installed. */
export function noAdapterProblem(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'no Metal adapter found (WebGPU needs macOS 11 or newer; nothing to install)';
  if (platform === 'win32') return 'no D3D12 or Vulkan adapter found (update the GPU driver; nothing else to install)';
  const libraryDirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIBRARY_DIRS];
  if (!libraryDirs.some((dir) => fs.existsSync(path.join(dir, 'libvulkan.so.1')))) {
    return "the Vulkan loader (libvulkan.so.1) is missing: install libvulkan1 and your GPU's Vulkan driver";
  }
  const explicit = (process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? '')
    .split(':')
    .filter(Boolean)
    .map((f) => path.basename(f));
  const icds = explicit.length ? explicit : ICD_DIRS.flatMap(listDir).filter((f) => f.endsWith('.json'));
  const gpuDriver = "install the GPU's Vulkan driver (NVIDIA: the driver's Vulkan ICD, nvidia_icd.json; AMD, Intel: mesa-vulkan-drivers)";
  if (icds.length === 0) return `no Vulkan driver is installed: ${gpuDriver}`;
  if (icds.every((f) => MESA_ICD.test(f))) {
    // mesa-vulkan-drivers installs all of these on any machine, GPU or not; lavapipe is the one that
    // needs no GPU, and Dawn rejects Mesa before 25 (Debian 12's own 22.3 lacks a feature it requires).
    return `Vulkan found no usable device. For Mesa's lavapipe (a CPU device, for tests) install Mesa 25 or newer (Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers); for a GPU, ${gpuDriver}`;
  }
  return `Vulkan drivers are installed (${icds.join(', ')}) but none found a usable device: check the driver (nvidia-smi, or vulkaninfo --summary)`;
}

let cachedProbe: Promise<AdapterProbe> | null = null;
const PROBE_TIMEOUT_MS = 30_000;

/**
 * The adapters, found in a child process: a Vulkan driver that crashes or hangs then costs `auto` a
 * probe, not the command; Dawn and a software driver's threads stay out of runs that end up on the
 * CPU; and Dawn's own stderr lines go nowhere. Cached for the life of the process.
 */
export function probeAdapters(): Promise<AdapterProbe> {
  cachedProbe ??= new Promise((resolve) => {
    const script = path.join(__dirname, 'probe-main.js');
    execFile(process.execPath, [script], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        try {
          resolve(JSON.parse(line) as AdapterProbe);
          return;
        } catch {
          // fall through
        }
      }
      const why = (err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string }) | null)?.killed
        ? `timed out after ${PROBE_TIMEOUT_MS / 1000} s (a hung Vulkan driver?)`
        : `${err?.signal ? `died with ${err.signal}` : 'failed'}${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
      resolve({ adapters: [], problem: `probing WebGPU adapters ${why}` });
    });
  });
  return cachedProbe;
}
