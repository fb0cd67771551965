// Conv + bias + ReLU as one op while training. While a gradient tape records, TF.js's fused conv2d falls
// back to Conv2D, Add(bias), Relu, whose backward adds Step, Multiply and Sum: four extra passes over every
// activation. On the onednn backend, tf.fused.conv2d (what tf.layers.conv2d calls) records FUSED_CONV
// instead: one native convolution with bias and ReLU, and a backward whose ReLU and bias gradients are one pass
// (RELU_BIAS_GRAD). Same math as TF.js's own fused gradient (dy * step(y), bias gradient = its sum).
import * as tf from '@tensorflow/tfjs';
import { isRecordingGradients, replaceFusedConv2d } from '../../sys/tfjs-internals';
import { isNhwc, isOne } from './kernels-conv';
import { RELU_BIAS_GRAD } from './kernels-elementwise';

export const FUSED_CONV = 'NinFusedConv2D';

interface FusedConvAttrs {
  strides: [number, number] | number;
  pad: tf.backend_util.ExplicitPadding | 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function registerFusedConvGradient(): void {
  tf.registerGradient({
    kernelName: FUSED_CONV,
    inputsToSave: ['x', 'filter', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, bias, y] = saved;
      const { strides, pad, dimRoundingMode } = attrs as unknown as FusedConvAttrs;
      const engine = tf.engine();
      const [dyActivation, dbias] = engine.runKernel(RELU_BIAS_GRAD, { dy: dy as tf.Tensor, x: y }) as tf.Tensor[];
      const convAttrs = { strides, pad, dimRoundingMode, dataFormat: 'NHWC' };
      // The closures keep dyActivation alive until both convolution gradients have read it.
      return {
        // Lazy, so the first layer's input gradient (never needed) is not computed.
        x: () =>
          engine.runKernel(tf.Conv2DBackpropInput, { dy: dyActivation, filter }, {
            ...convAttrs,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () =>
          engine.runKernel(tf.Conv2DBackpropFilter, { x, dy: dyActivation }, {
            ...convAttrs,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        bias: () => tf.reshape(dbias, bias.shape),
      };
    },
  });
}

type FusedConv2dOp = typeof tf.fused.conv2d;

type FusedConv2dArgs = Parameters<FusedConv2dOp>[0];

/** Whether FUSED_CONV takes this tf.fused.conv2d call: conv + bias + ReLU on float32 NHWC tensors, no dilation. */
function fusable(args: FusedConv2dArgs): boolean {
  const { x, filter, bias, dataFormat, dilations, activation, preluActivationWeights } = args;
  if (activation !== 'relu' || preluActivationWeights != null || !isNhwc(dataFormat) || !isOne(dilations)) return false;
  if (!(x instanceof tf.Tensor) || !(filter instanceof tf.Tensor) || !(bias instanceof tf.Tensor)) return false;
  const ranks = x.rank === 4 && filter.rank === 4 && bias.rank === 1 && bias.size === filter.shape[3];
  return ranks && [x, filter, bias].every((t) => t.dtype === 'float32');
}

/** Routes tf.fused.conv2d with bias + ReLU through FUSED_CONV when on `backendName` and a gradient tape records. */
export function registerFusedConv(backendName: string): void {
  registerFusedConvGradient();
  replaceFusedConv2d((original) => {
    const replacement = (args: FusedConv2dArgs) => {
      if (!isRecordingGradients() || tf.getBackend() !== backendName || !fusable(args)) return original(args);
      const { x, filter, bias, strides, pad, dimRoundingMode, activation } = args;
      const attrs = { strides, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode, activation };
      return tf
        .engine()
        .runKernel(FUSED_CONV, { x, filter, bias } as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    };
    return replacement as FusedConv2dOp;
  });
}
