// NiN as a TF.js LayersModel, built from an architecture's plan (src/architecture.ts; d2l's by default), no
// side effects at import. TF.js layers are NHWC; `shapes` reports NCHW to read like the notebook.
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../sys/random';
import { type Architecture, DEFAULT_ARCHITECTURE, DROPOUT_RATE, planNin } from './architecture';

export { DROPOUT_RATE, MIN_IMAGE_SIZE, NUM_CLASSES } from './architecture';

export type BiasInit = 'zeros' | 'pytorch';
export const BIAS_INITS: readonly BiasInit[] = ['zeros', 'pytorch'];

/** Conv kernels: d2l's Xavier-uniform (glorot), or He/Kaiming-uniform for ReLU (PyTorch's kaiming_uniform_, nonlinearity='relu'). */
export type KernelInit = 'xavier' | 'he';
export const KERNEL_INITS: readonly KernelInit[] = ['xavier', 'he'];

export interface ModelOptions {
  imageSize: number;
  seed: number;
  /** Which NiN (src/architecture.ts); d2l's by default. */
  architecture?: Architecture;
  /**
   * zeros (this function's default); or PyTorch's Conv2d default, uniform in +-1/sqrt(fan_in), which d2l's
   * train_ch6 keeps. Training passes the config's choice (PyTorch's by default, src/config.ts); the default
   * here serves the callers whose biases are overwritten or do not matter (loading a checkpoint, shapes,
   * bench) and the test fixtures recorded from zero biases, so it stays zeros.
   */
  biasInit?: BiasInit;
  /** xavier (default, d2l's), or he: keeps the activations' scale through NiN's twelve ReLU convs. */
  kernelInit?: KernelInit;
  /**
   * Start the biases of the convolution that outputs one channel per class (the last one) at this value
   * instead of biasInit's; null: as biasInit. With the dense head too: that convolution's ReLU channels are
   * what can die, the dense layer after it has no ReLU, so its biases follow biasInit.
   */
  classBias?: number | null;
}

/**
 * Floats of NiN's activations for one image (every conv and pool output), the bulk of a training
 * step's memory: the backward pass keeps them all, plus gradients and workspace of similar size.
 */
export function activationsPerImage(imageSize: number, architecture: Architecture = DEFAULT_ARCHITECTURE): number {
  return planNin(architecture, imageSize)
    .layers.filter((l) => l.kind === 'conv' || l.kind === 'maxPool')
    .reduce((sum, l) => sum + l.output.reduce((a, b) => a * b, 1), 0);
}

/** Builds an architecture's plan (src/architecture.ts) as TF.js layers; throws one line, before building, for one that does not fit. */
export function buildNin({
  imageSize,
  seed,
  architecture = DEFAULT_ARCHITECTURE,
  biasInit = 'zeros',
  kernelInit = 'xavier',
  classBias = null,
}: ModelOptions): tf.Sequential {
  const plan = planNin(architecture, imageSize);
  const model = tf.sequential({ name: 'nin' });
  // Xavier-uniform (glorot) kernels, as d2l's train_ch6 initialises them (its init_weights covers Linear
  // layers too); biases zero unless asked. Xavier keeps variance for linear layers, so through twelve ReLU
  // convs the signal shrinks ~2x per layer and a fresh NiN's logits are ~1e-4: the first epoch can sit at
  // chance. He-uniform (limit sqrt(6/fan_in)) compensates for the ReLUs' halving. Each weight layer's seeds
  // derive from its place among them, so d2l's NiN draws what it always drew.
  const initializers = (weightIndex: number, fanIn: number, classes: boolean) => ({
    kernelInitializer:
      kernelInit === 'he'
        ? tf.initializers.heUniform({ seed: deriveSeed(seed, 1, weightIndex) })
        : tf.initializers.glorotUniform({ seed: deriveSeed(seed, 1, weightIndex) }),
    // A positive class bias starts every class's ReLU channel active on every image, so each class's
    // own weights get gradient from the first step (see the `classBias` recipe key).
    biasInitializer:
      classBias !== null && classes
        ? tf.initializers.constant({ value: classBias })
        : biasInit === 'pytorch'
          ? tf.initializers.randomUniform({
              minval: -1 / Math.sqrt(fanIn),
              maxval: 1 / Math.sqrt(fanIn),
              seed: deriveSeed(seed, 4, weightIndex),
            })
          : ('zeros' as const),
  });
  plan.layers.forEach((layer, i) => {
    const input = i === 0 ? { inputShape: layer.input } : {};
    const fanIn = layer.input.reduce((a, b) => a * b, 1);
    switch (layer.kind) {
      case 'conv':
        model.add(
          tf.layers.conv2d({
            name: layer.name,
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            strides: layer.strides,
            padding: layer.padding,
            activation: 'relu',
            ...initializers(layer.weightIndex, layer.input[2] * layer.kernelSize * layer.kernelSize, layer.classes),
            ...input,
          }),
        );
        break;
      case 'maxPool':
        model.add(tf.layers.maxPooling2d({ name: layer.name, poolSize: layer.poolSize, strides: layer.strides, padding: 'valid' }));
        break;
      case 'dropout':
        model.add(tf.layers.dropout({ name: layer.name, rate: layer.rate }));
        break;
      case 'globalAvgPool':
        model.add(tf.layers.averagePooling2d({ name: layer.name, poolSize: layer.poolSize, strides: layer.poolSize, padding: 'valid' }));
        break;
      case 'flatten':
        model.add(tf.layers.flatten({ name: layer.name }));
        break;
      case 'dense':
        // Logits: no activation. TF.js flattens NHWC (position-major), PyTorch NCHW (channel-major): the
        // reference scripts permute this kernel's rows when they exchange weights.
        model.add(tf.layers.dense({ name: layer.name, units: layer.units, ...initializers(layer.weightIndex, fanIn, false) }));
        break;
    }
  });
  return model;
}

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
