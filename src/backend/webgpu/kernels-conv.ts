// A filter gradient (Conv2DBackpropFilter) for the webgpu backend built from TF.js's own tiled matmul
// programs, registered over TF.js's kernel. TF.js's WGSL kernel gives each weight one invocation that
// loops over batch x height x width, re-reading the input and dy from memory with no reuse: 58% of a
// NiN step on lavapipe. As matmuls, dW[kh, kw] = slice(x, kh, kw)^T . dy over batch x height x width,
// and TF.js's matmul programs tile that through workgroup memory (or split K, for these small outputs
// over a long sum) as every GPU BLAS does. Measured per NiN layer by scripts/webgpu-filter-grad.js.
import * as tf from '@tensorflow/tfjs';

/**
 * Input channels below which TF.js's kernel is kept: NiN's first conv (1 channel, 11x11 stride 4) would
 * be 121 matmuls of one row each, slower than the direct loop there (173 ms against 289 on lavapipe).
 */
const MIN_CHANNELS = 8;

interface FilterGradAttrs {
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** dW of a conv whose input is x and whose output gradient is dy, NHWC, as one matmul per kernel offset. */
export function filterGradByMatmul(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: FilterGradAttrs): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: n, inChannels: ci, outChannels: co, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw, padInfo } = info;
  return tf.tidy(() => {
    const rows = n * ho * wo;
    const dy2 = tf.reshape(dy, [rows, co]);
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0) {
      return tf.reshape(tf.matMul(tf.reshape(x, [rows, ci]), dy2, true, false), [1, 1, ci, co]);
    }
    const padded = tf.pad(x, [
      [0, 0],
      [padInfo.top, padInfo.bottom],
      [padInfo.left, padInfo.right],
      [0, 0],
    ]);
    const perOffset: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // Each slice is freed once its matmul is queued, so one slice's memory is reused for the next.
        perOffset.push(
          tf.tidy(() => {
            const end = [n, i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1, ci];
            const slice = tf.stridedSlice(padded, [0, i, j, 0], end, [1, sh, sw, 1]);
            return tf.matMul(tf.reshape(slice, [rows, ci]), dy2, true, false);
          }),
        );
      }
    }
    return tf.reshape(tf.stack(perOffset), [kh, kw, ci, co]);
  });
}

/** Whether the matmul form serves this call; otherwise TF.js's own kernel runs. */
function useMatmul(x: tf.TensorInfo, attrs: FilterGradAttrs): boolean {
  return attrs.dataFormat === 'NHWC' && x.dtype === 'float32' && x.shape.length === 4 && x.shape[3] >= MIN_CHANNELS;
}

/** Registers the matmul form over webgpu's Conv2DBackpropFilter, keeping TF.js's kernel for the calls it leaves. */
export function registerFilterGrad(): void {
  const original = tf.getKernel('Conv2DBackpropFilter', 'webgpu');
  if (!original || (original as { nin?: boolean }).nin) return;
  tf.unregisterKernel('Conv2DBackpropFilter', 'webgpu');
  const kernel = {
    ...original,
    nin: true, // already replaced (a second backend start in one process)
    kernelFunc: (args: Parameters<typeof original.kernelFunc>[0]) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const attrs = args.attrs as unknown as FilterGradAttrs;
      if (!useMatmul(x, attrs)) return original.kernelFunc(args);
      // Tensors over the inputs' data so TF.js's ops can run on them. makeTensorFromTensorInfo does not
      // count a reference while disposing one drops it, so one is added first (as TF.js's own
      // composite kernels do through the engine's incRef).
      const wrap = (info: tf.TensorInfo) => {
        (args.backend as tf.KernelBackend).incRef(info.dataId);
        return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
      };
      const xt = wrap(x);
      const dyt = wrap(dy);
      try {
        return filterGradByMatmul(xt, dyt, attrs);
      } finally {
        tf.dispose([xt, dyt]);
      }
    },
  };
  tf.registerKernel(kernel);
}
