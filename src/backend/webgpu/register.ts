// Registers TF.js's `webgpu` backend on an adapter nin chose, owns the device it creates (errors,
// loss, destruction at the end of a command), and turns GPU failures into errors that name the fix.
import * as tf from '@tensorflow/tfjs';
import { NinError } from '../../sys/errors';
import { adapterName, describeAdapter, noAdapterProblem, type AdapterReport } from './adapters';
import { installNavigatorGpu, withoutNativeStderr } from './dawn';
import { registerFilterGrad } from './kernels-conv';

export type GpuFaultKind = 'out-of-memory' | 'device-lost' | 'gpu-error';

/** The GPU failed under a run: out of memory, device lost, or a kernel rejected by WebGPU's validation. */
export class GpuFaultError extends NinError {
  constructor(
    readonly kind: GpuFaultKind,
    readonly detail: string,
  ) {
    super(GpuFaultError.describe(kind, detail), 1);
    this.name = 'GpuFaultError';
  }

  private static describe(kind: GpuFaultKind, detail: string): string {
    switch (kind) {
      case 'out-of-memory':
        return `the GPU ran out of memory (${detail}); use a smaller --batch-size`;
      case 'device-lost':
        return `the GPU device was lost (${detail}); if it ran out of memory use a smaller --batch-size, else check the GPU driver`;
      case 'gpu-error':
        return `a WebGPU kernel failed (${detail}); a smaller --batch-size avoids the adapter's size limits, and if it persists this is a bug`;
    }
  }
}

interface Session {
  adapter: AdapterReport;
  device: GPUDevice | null; // null until TF.js initialises the backend
  fault: GpuFaultError | null; // the first failure the device reported
}

let session: Session | null = null;

const SYNC_READ =
  "webgpu cannot read a GPU tensor synchronously in Node (TF.js would read it through a browser's OffscreenCanvas): the caller must use await tensor.data(), not dataSync()";

/** Where the webgpu backend stands in this process: its adapter, and the first GPU failure if any. */
export function webgpuSession(): { adapter: AdapterReport; fault: GpuFaultError | null } | null {
  return session && { adapter: session.adapter, fault: session.fault };
}

/** Throws the first failure the GPU reported since the backend started (errors arrive asynchronously). */
export function throwIfGpuFault(): void {
  if (session?.fault) throw session.fault;
}

/**
 * What an exception from a webgpu run really was: a read of a buffer that an out-of-memory or lost
 * device left invalid rejects with a generic "mapAsync" error, so the recorded fault is the cause.
 */
export function explainGpuError(err: unknown): unknown {
  return session?.fault ?? err;
}

function watchDevice(device: GPUDevice, state: Session): void {
  const record = (fault: GpuFaultError) => {
    state.fault ??= fault;
  };
  device.addEventListener('uncapturederror', (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    // Handled here: without preventDefault Dawn also prints the error to stdout, into --json output.
    event.preventDefault();
    const message = error.message.split('\n')[0];
    record(new GpuFaultError(error.constructor.name === 'GPUOutOfMemoryError' ? 'out-of-memory' : 'gpu-error', message));
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') record(new GpuFaultError('device-lost', info.message.split('\n')[0] || 'no reason given'));
  });
}

/**
 * Picks the adapter: the high-performance one, or if that is software while a GPU is wanted, the
 * low-power one. Dawn's first request enumerates the machine's drivers and logs to fd 2; see
 * withoutNativeStderr.
 */
async function chooseAdapter(requireGpu: boolean): Promise<GPUAdapter> {
  const gpu = await installNavigatorGpu();
  const preferences = ['high-performance', 'low-power'] as const;
  let first: GPUAdapter | null = null;
  for (const powerPreference of preferences) {
    const adapter = await withoutNativeStderr(() => gpu.requestAdapter({ powerPreference }));
    if (!adapter) continue;
    first ??= adapter;
    if (describeAdapter(adapter).type === 'gpu') return adapter;
  }
  if (!first) throw new NinError(`--backend webgpu: no WebGPU adapter found: ${noAdapterProblem()}`);
  if (requireGpu)
    throw new NinError(
      `webgpu: the only adapter is a software one (${adapterName(describeAdapter(first))}); use --backend webgpu to run on it anyway`,
    );
  return first;
}

/**
 * TF.js's WebGPU backend, with a clear error instead of a browser's OffscreenCanvas for synchronous
 * reads, and nin's filter gradient over TF.js's (kernels-conv.ts).
 */
async function nodeBackendClass(): Promise<new (device: GPUDevice, info?: GPUAdapterInfo) => tf.KernelBackend> {
  // Loaded here, not at import: a machine without a GPU never loads it.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  registerFilterGrad();
  return class NodeWebGPUBackend extends WebGPUBackend {
    override readSync(dataId: object) {
      // Values already on the CPU (just uploaded, or read before) are fine; a GPU buffer is not.
      const data = this.tensorMap.get(dataId);
      if (data.values != null || data.dtype === 'string' || data.dtype === 'complex64') return super.readSync(dataId);
      throw new Error(SYNC_READ);
    }
  };
}

/**
 * Makes `webgpu` TF.js's backend on the chosen adapter and returns the adapter. `requireGpu`: refuse
 * a software adapter (auto never picks one); an explicit --backend webgpu accepts it.
 */
export async function startWebgpu(requireGpu: boolean): Promise<AdapterReport> {
  if (session && tf.getBackend() === 'webgpu') return session.adapter;
  const adapter = await chooseAdapter(requireGpu);
  const state: Session = { adapter: describeAdapter(adapter), device: null, fault: null };
  const Backend = await nodeBackendClass();
  // The package registered its own factory (any adapter) on import if navigator.gpu existed; ours
  // uses the adapter chosen above and keeps the device.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      const limits = adapter.limits;
      const device = await adapter.requestDevice({
        // TF.js's own factory asks for the adapter's maxima of these; so does nin.
        requiredLimits: {
          maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
          maxBufferSize: limits.maxBufferSize,
          maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        },
        // Timestamps make tf.profile / tf.time report kernel times on the GPU.
        requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      });
      state.device = device;
      watchDevice(device, state);
      return new Backend(device, (adapter as unknown as { info: GPUAdapterInfo }).info);
    },
    0 /* priority: only ever chosen by name */,
  );
  session = state;
  if (!(await tf.setBackend('webgpu'))) {
    session = null;
    throw new NinError(`--backend webgpu: TF.js could not start WebGPU on ${adapterName(state.adapter)}`);
  }
  return state.adapter;
}

/**
 * Frees the device at the end of a command (a referenced device can keep Node alive). TF.js falls
 * back to the cpu backend if anything runs after this.
 */
export function stopWebgpu(): void {
  if (!session) return;
  const device = session.device;
  session = null;
  if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  device?.destroy();
}
