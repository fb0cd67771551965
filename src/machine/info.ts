// `nin info`: what this machine offers nin: versions, CPU and its vector features, threads, each
// backend (and why not, when not), and where the dataset is and whether its checksums hold.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { backendAvailability, initBackend, type BackendAvailability } from '../backend';
import { onednnStatus } from '../backend/onednn';
import { probeAdapters, type AdapterProbe } from '../backend/webgpu';
import { checkDataset, findDatasetDir } from '../data/idx';
import { NinError } from '../sys/errors';
import { NIN_VERSION } from '../sys/version';

/** CPU flags that decide how fast the convolutions run, in the order a reader compares them. */
export const CPU_FEATURES = [
  'sse4_2',
  'avx',
  'avx2',
  'fma',
  'f16c',
  'avx_vnni',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512_vnni',
  'avx512_bf16',
  'avx512_fp16',
  'amx_tile',
  'amx_bf16',
  'amx_int8',
] as const;

export interface InfoOptions {
  dataDir?: string;
}

export interface InfoResult {
  versions: { nin: string; node: string; tfjs: string; onednn: string | null };
  backend: { name: string; detail: string; threads: number | null; library: string | null; warning: string | null };
  cpu: { model: string; cores: number; threads: number; features: string[] };
  backends: BackendAvailability[];
  webgpu: AdapterProbe; // each WebGPU adapter found, or why none and what to install
  dataset:
    | { found: true; dir: string; ok: boolean; files: { name: string; path: string; ok: boolean; problem?: string }[] }
    | { found: false; problem: string };
}

/** Model name and flags from /proc/cpuinfo (x86 Linux); elsewhere, what os.cpus() knows and no flags. */
export function readCpu(cpuinfo: string | null = readText('/proc/cpuinfo')): { model: string; features: string[] } {
  const field = (name: string) =>
    cpuinfo
      ?.split('\n')
      .find((l) => l.startsWith(name))
      ?.split(':')
      .slice(1)
      .join(':')
      .trim();
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/).filter(Boolean));
  return {
    model: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    features: CPU_FEATURES.filter((f) => flags.has(f)),
  };
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The shared library behind the backend, from this process's memory map (Linux), e.g. /usr/lib/x86_64-linux-gnu/libdnnl.so.3. */
function loadedLibrary(pattern: RegExp): string | null {
  const maps = readText('/proc/self/maps');
  const line = maps?.split('\n').find((l) => pattern.test(l));
  return line ? line.slice(line.indexOf('/')) : null;
}

export async function info(options: InfoOptions = {}): Promise<InfoResult> {
  let warning: string | null = null;
  const backend = await initBackend('auto', null, (line) => {
    warning = line;
  });
  const library =
    backend.name === 'onednn' ? loadedLibrary(/libdnnl\.so/) : backend.name === 'tensorflow' ? loadedLibrary(/libtensorflow\.so/) : null;
  const onednn = onednnStatus();
  const cpu = readCpu();

  let dataset: InfoResult['dataset'];
  try {
    const dir = findDatasetDir(options.dataDir);
    const files = checkDataset(dir).map((f) => ({ name: f.name, path: f.path, ok: f.ok, ...(f.problem ? { problem: f.problem } : {}) }));
    dataset = { found: true, dir, ok: files.every((f) => f.ok), files };
  } catch (err) {
    if (!(err instanceof NinError)) throw err;
    dataset = { found: false, problem: err.message };
  }

  return {
    versions: {
      nin: NIN_VERSION,
      node: process.versions.node,
      tfjs: tf.version.tfjs,
      onednn: onednn.available ? (onednn.version ?? null) : null,
    },
    backend: { name: backend.name, detail: backend.detail, threads: backend.threads, library, warning },
    cpu: { model: cpu.model, cores: os.cpus().length, threads: os.availableParallelism(), features: cpu.features },
    backends: await backendAvailability(),
    webgpu: await probeAdapters(),
    dataset,
  };
}
