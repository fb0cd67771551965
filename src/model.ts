// d2l's NiN as a TF.js LayersModel: built from a small spec, no side effects at import.
// TF.js layers are NHWC; `shapes` reports NCHW to read like the notebook.
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from './random';
import { NinError } from './errors';

export const NUM_CLASSES = 10;

/** The smallest input NiN's three 3x3/2 max-pools leave at least one pixel for. */
export const MIN_IMAGE_SIZE = 67;

/** One row of d2l's `for layer in net` printout: the TF.js layers that make up that top-level PyTorch module. */
export interface LayerGroup {
  name: 'Sequential' | 'MaxPool2d' | 'Dropout' | 'AdaptiveAvgPool2d' | 'Flatten';
  layers: string[];
}

/** d2l: nin_block(in, out, kernel, stride, padding) = conv + ReLU, then two 1x1 convs + ReLU. */
interface BlockSpec {
  filters: number;
  kernelSize: number;
  strides: number;
  padding: 'valid' | 'same'; // 'same' at stride 1 equals d2l's padding 2 (5x5) and 1 (3x3)
}

const BLOCKS: BlockSpec[] = [
  { filters: 96, kernelSize: 11, strides: 4, padding: 'valid' },
  { filters: 256, kernelSize: 5, strides: 1, padding: 'same' },
  { filters: 384, kernelSize: 3, strides: 1, padding: 'same' },
  { filters: NUM_CLASSES, kernelSize: 3, strides: 1, padding: 'same' },
];

export const DROPOUT_RATE = 0.5;

export type BiasInit = 'zeros' | 'pytorch';
export const BIAS_INITS: readonly BiasInit[] = ['zeros', 'pytorch'];

/** Conv kernels: d2l's Xavier-uniform (glorot), or He/Kaiming-uniform for ReLU (PyTorch's kaiming_uniform_, nonlinearity='relu'). */
export type KernelInit = 'xavier' | 'he';
export const KERNEL_INITS: readonly KernelInit[] = ['xavier', 'he'];

export interface ModelOptions {
  imageSize: number;
  seed: number;
  /**
   * zeros (this function's default); or PyTorch's Conv2d default, uniform in +-1/sqrt(fan_in), which d2l's
   * train_ch6 keeps. Training passes the config's choice (PyTorch's by default, src/config.ts); the default
   * here serves the callers whose biases are overwritten or do not matter (loading a checkpoint, shapes,
   * bench) and the test fixtures recorded from zero biases, so it stays zeros.
   */
  biasInit?: BiasInit;
  /** xavier (default, d2l's), or he: keeps the activations' scale through NiN's twelve ReLU convs. */
  kernelInit?: KernelInit;
  /** Start the last convolution's biases (one per class) at this value instead of biasInit's; null: as biasInit. */
  classBias?: number | null;
}

/** Spatial size after each stage, or throws when the image is too small for the three max-pools. */
export function finalFeatureSize(imageSize: number): number {
  if (!Number.isInteger(imageSize) || imageSize < MIN_IMAGE_SIZE) {
    throw new NinError(
      `an image size of ${imageSize} does not fit NiN: its three 3x3/2 max-pools need whole sizes of at least ${MIN_IMAGE_SIZE}`,
    );
  }
  let size = Math.floor((imageSize - 11) / 4) + 1;
  for (let i = 0; i < 3; i++) size = Math.floor((size - 3) / 2) + 1;
  return size;
}

/**
 * Floats of NiN's activations for one image (every conv and pool output), the bulk of a training
 * step's memory: the backward pass keeps them all, plus gradients and workspace of similar size.
 */
export function activationsPerImage(imageSize: number): number {
  let size = Math.floor((imageSize - 11) / 4) + 1;
  let total = 0;
  BLOCKS.forEach((spec, b) => {
    // Three convs per block ('same' at stride 1 after the first keeps the size), then a 3x3/2 max-pool.
    total += 3 * size * size * spec.filters;
    if (b < BLOCKS.length - 1) {
      size = Math.floor((size - 3) / 2) + 1;
      total += size * size * spec.filters;
    }
  });
  return total;
}

export function buildNin({ imageSize, seed, biasInit = 'zeros', kernelInit = 'xavier', classBias = null }: ModelOptions): tf.Sequential {
  const featureSize = finalFeatureSize(imageSize);
  const model = tf.sequential({ name: 'nin' });
  let convIndex = 0;
  let channels = 1;
  // Xavier-uniform (glorot) kernels, as d2l's train_ch6 initialises them; biases zero unless asked.
  // Xavier keeps variance for linear layers, so through twelve ReLU convs the signal shrinks ~2x per layer
  // and a fresh NiN's logits are ~1e-4: the first epoch can sit at chance. He-uniform (limit sqrt(6/fan_in))
  // compensates for the ReLUs' halving.
  const conv = (block: number, part: number, spec: BlockSpec, first: boolean) => {
    const kernelSize = first ? spec.kernelSize : 1;
    const bound = 1 / Math.sqrt(channels * kernelSize * kernelSize);
    channels = spec.filters;
    const layer = tf.layers.conv2d({
      name: `block${block}_conv${part}`,
      filters: spec.filters,
      kernelSize,
      strides: first ? spec.strides : 1,
      padding: first ? spec.padding : 'valid',
      activation: 'relu',
      kernelInitializer:
        kernelInit === 'he'
          ? tf.initializers.heUniform({ seed: deriveSeed(seed, 1, convIndex) })
          : tf.initializers.glorotUniform({ seed: deriveSeed(seed, 1, convIndex) }),
      // A positive class bias starts every class's ReLU channel active on every image, so each class's
      // own weights get gradient from the first step (see the `classBias` recipe key).
      biasInitializer:
        classBias !== null && block === BLOCKS.length && part === 3
          ? tf.initializers.constant({ value: classBias })
          : biasInit === 'pytorch'
            ? tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: deriveSeed(seed, 4, convIndex) })
            : 'zeros',
      ...(block === 1 && first ? { inputShape: [imageSize, imageSize, 1] } : {}),
    });
    convIndex++;
    model.add(layer);
  };
  BLOCKS.forEach((spec, b) => {
    const block = b + 1;
    if (block === 4) model.add(tf.layers.dropout({ name: 'dropout', rate: DROPOUT_RATE }));
    conv(block, 1, spec, true);
    conv(block, 2, spec, false);
    conv(block, 3, spec, false);
    if (block < 4) model.add(tf.layers.maxPooling2d({ name: `pool${block}`, poolSize: 3, strides: 2, padding: 'valid' }));
  });
  // AdaptiveAvgPool2d((1, 1)) is an average over the whole remaining feature map.
  model.add(tf.layers.averagePooling2d({ name: 'global_avg_pool', poolSize: featureSize, strides: featureSize, padding: 'valid' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  return model;
}

/** The ten rows of d2l's shape printout, in order. */
export const LAYER_GROUPS: LayerGroup[] = [
  { name: 'Sequential', layers: ['block1_conv1', 'block1_conv2', 'block1_conv3'] },
  { name: 'MaxPool2d', layers: ['pool1'] },
  { name: 'Sequential', layers: ['block2_conv1', 'block2_conv2', 'block2_conv3'] },
  { name: 'MaxPool2d', layers: ['pool2'] },
  { name: 'Sequential', layers: ['block3_conv1', 'block3_conv2', 'block3_conv3'] },
  { name: 'MaxPool2d', layers: ['pool3'] },
  { name: 'Dropout', layers: ['dropout'] },
  { name: 'Sequential', layers: ['block4_conv1', 'block4_conv2', 'block4_conv3'] },
  { name: 'AdaptiveAvgPool2d', layers: ['global_avg_pool'] },
  { name: 'Flatten', layers: ['flatten'] },
];

/**
 * Forward pass. In training mode dropout draws its mask from a seed we pass per step, so a run is
 * reproducible and a resumed run continues the same stream (TF.js's Dropout layer would either use
 * an unseeded generator or, given a seed, the same mask every step).
 */
export function forward(model: tf.LayersModel, x: tf.Tensor4D, training: false): tf.Tensor2D;
export function forward(model: tf.LayersModel, x: tf.Tensor4D, training: true, dropoutSeed: number): tf.Tensor2D;
export function forward(model: tf.LayersModel, x: tf.Tensor4D, training: boolean, dropoutSeed = 0): tf.Tensor2D {
  let y: tf.Tensor = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'Dropout') {
      if (training) y = tf.dropout(y, DROPOUT_RATE, undefined, dropoutSeed);
      continue;
    }
    y = layer.apply(y) as tf.Tensor;
  }
  return y as tf.Tensor2D;
}
