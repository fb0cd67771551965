// Registers the 'onednn' backend with TF.js: every cpu kernel under the new name, the native ones in front of
// their JS versions (which still run for inputs the native ones do not take), and the gradients that use them.
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { requireAddon } from './addon';
import { type Conversions, NativeKernel, OnednnBackend, pinAliasedInputs } from './backend';
import { FUSED_CONV, registerFusedConv } from './fused-conv';
import { conv2dBackpropFilterKernel, conv2dBackpropInputKernel, conv2dKernel, cpuKernel, fusedConv2dKernel } from './kernels-conv';
import {
  binary,
  reduce,
  registerReluGradient,
  RELU_BIAS_GRAD,
  RELU_GRAD,
  reluBiasGradKernel,
  reluBiasGradNative,
  reluGradKernel,
  reluGradNative,
  unary,
} from './kernels-elementwise';
import { avgPoolGradKernel, maxPoolGradKernel, pool } from './kernels-pool';
import { DROPOUT_MASK, dropoutMaskKernel, dropoutMaskNative, registerDropout } from './dropout';
import { SGD_UPDATE, sgdUpdateKernel, sgdUpdateNative } from './kernels-update';

export const ONEDNN_BACKEND = 'onednn';
// Below 'cpu' (1): TF.js never picks this backend on its own, callers ask for it with tf.setBackend.
const BACKEND_PRIORITY = -1;

/** TF.js kernels the addon replaces. */
const NATIVE_KERNELS: Record<string, NativeKernel> = {
  [tf.Conv2D]: conv2dKernel,
  [tf.FusedConv2D]: fusedConv2dKernel,
  [tf.Conv2DBackpropInput]: conv2dBackpropInputKernel,
  [tf.Conv2DBackpropFilter]: conv2dBackpropFilterKernel,
  [tf.MaxPool]: pool('max'),
  [tf.MaxPoolGrad]: maxPoolGradKernel,
  [tf.AvgPool]: pool('avg'),
  [tf.AvgPoolGrad]: avgPoolGradKernel,
  [tf.Relu]: unary('relu'),
  [tf.Step]: unary('step'),
  [tf.Sqrt]: unary('sqrt'),
  [tf.Square]: unary('square'),
  [tf.Add]: binary('add'),
  [tf.Sub]: binary('sub'),
  [tf.Multiply]: binary('mul'),
  [tf.RealDiv]: binary('div'),
  [tf.Sum]: reduce('sum'),
  [tf.Mean]: reduce('mean'),
};

/**
 * TF.js kernels that hand on their input's storage without reading it (Identity, and Reshape, which only gives it
 * another shape): a tensor in a native layout passes through them as it is, not converted to TF.js's values.
 */
const DATA_FREE_KERNELS = new Set<string>([tf.Identity, tf.Reshape]);

/** nin's own kernels, which only onednn's gradients run: name, JS path, native path. */
function ninKernels(): [string, tf.KernelFunc, NativeKernel][] {
  return [
    [RELU_GRAD, reluGradKernel as tf.KernelFunc, reluGradNative],
    [FUSED_CONV, cpuKernel(tf.FusedConv2D), fusedConv2dKernel],
    [RELU_BIAS_GRAD, reluBiasGradKernel as tf.KernelFunc, reluBiasGradNative as unknown as NativeKernel],
    [SGD_UPDATE, sgdUpdateKernel as tf.KernelFunc, sgdUpdateNative as unknown as NativeKernel],
    [DROPOUT_MASK, dropoutMaskKernel as tf.KernelFunc, dropoutMaskNative as NativeKernel],
  ];
}

/** The kernels the onednn backend runs natively (the rest are TF.js's pure-JS 'cpu' kernels). */
export function onednnNativeKernels(): string[] {
  return [...Object.keys(NATIVE_KERNELS), RELU_GRAD, FUSED_CONV, RELU_BIAS_GRAD, SGD_UPDATE, DROPOUT_MASK];
}

let registered = false;
const calls = new Map<string, { native: number; fallback: number }>();

/**
 * Per replaced kernel: how often it ran natively, and how often it handed its inputs to the JS kernel
 * (unsupported dtype, layout or shape). For tests and profiling.
 */
export function onednnKernelCalls(): Record<string, { native: number; fallback: number }> {
  return Object.fromEntries([...calls].map(([name, count]) => [name, { ...count }]));
}

/** The onednn backend's instance, once TF.js has made it (tf.setBackend('onednn')). */
function instance(): OnednnBackend | undefined {
  const backend = tf.findBackend(ONEDNN_BACKEND);
  return backend instanceof OnednnBackend ? backend : undefined;
}

/**
 * Tensors converted since the last reset: into TF.js's float32 values (JavaScript read a tensor a native kernel
 * wrote), and from one native layout into another (a kernel read a layout the tensor was not in). Zeros before the
 * backend exists.
 */
export function onednnConversions(): Conversions {
  return { ...(instance()?.conversions ?? { toJavaScript: 0, betweenLayouts: 0 }) };
}

export function resetOnednnConversions(): void {
  const backend = instance();
  if (backend === undefined) return;
  backend.conversions.toJavaScript = 0;
  backend.conversions.betweenLayouts = 0;
}

/** Registers the 'onednn' backend (idempotent); throws Error(reason) when the addon is unavailable. */
export function registerOnednnBackend(): void {
  if (registered && tf.findBackendFactory(ONEDNN_BACKEND) != null) return;
  const native = requireAddon();
  if (tf.findBackendFactory(ONEDNN_BACKEND) == null) {
    tf.registerBackend(ONEDNN_BACKEND, () => new OnednnBackend(), BACKEND_PRIORITY);
  }
  const nin = ninKernels();
  const configs: tf.KernelConfig[] = [
    ...tf.getKernelsForBackend('cpu'),
    ...nin.map(([kernelName, kernelFunc]) => ({ kernelName, backendName: 'cpu', kernelFunc })),
  ];
  const nativeKernels: Record<string, NativeKernel> = {
    ...NATIVE_KERNELS,
    ...Object.fromEntries(nin.map(([name, , nativeKernel]) => [name, nativeKernel])),
  };
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, ONEDNN_BACKEND) !== undefined) tf.unregisterKernel(config.kernelName, ONEDNN_BACKEND);
    const nativeKernel = nativeKernels[config.kernelName];
    const jsKernel = config.kernelFunc;
    const readsValues = !DATA_FREE_KERNELS.has(config.kernelName);
    const fallback: tf.KernelFunc = (args) => {
      // TF.js's kernels read their inputs' values: a tensor that lives only in a native layout gets them here.
      if (readsValues && args.backend instanceof OnednnBackend) {
        for (const input of Object.values(args.inputs)) if (input != null) args.backend.values(input.dataId);
      }
      const result = jsKernel(args);
      pinAliasedInputs(args.backend as MathBackendCPU, args.inputs, result);
      return result;
    };
    if (nativeKernel === undefined) {
      tf.registerKernel({ ...config, backendName: ONEDNN_BACKEND, kernelFunc: fallback });
      continue;
    }
    const count = { native: 0, fallback: 0 };
    calls.set(config.kernelName, count);
    tf.registerKernel({
      ...config,
      backendName: ONEDNN_BACKEND,
      kernelFunc: (args) => {
        const out = args.backend instanceof OnednnBackend ? nativeKernel(args, native, args.backend) : undefined;
        if (out !== undefined) {
          count.native++;
          return out;
        }
        count.fallback++;
        return fallback(args);
      },
    });
  }
  registerReluGradient(ONEDNN_BACKEND);
  registerFusedConv(ONEDNN_BACKEND);
  registerDropout(ONEDNN_BACKEND);
  registered = true;
}
