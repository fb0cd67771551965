// Deterministic, framework-free weights for NiN: a fixed formula instead of a random generator, so
// PyTorch can be handed exactly the same starting point (test/fixtures/torch-steps.json).
import type * as tf from '@tensorflow/tfjs';
import { type ManifestWeight, writeWeightsManifest } from './manifest';

/**
 * Writes `model`'s weight names and shapes with formula values as a TF.js weights manifest
 * (`<dir>/init.json` + `init.bin`): kernels spread like Xavier-uniform, biases small and positive
 * so that no ReLU starts dead. Returns the manifest's path.
 */
export function writeFormulaWeights(model: tf.LayersModel, dir: string): string {
  const weights: ManifestWeight[] = model.weights.map((w, k) => {
    const shape = w.shape as number[];
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    // A convolution's kernel is height x width x in x out, a dense layer's in x out: Xavier's bound for either.
    const isKernel = shape.length >= 2;
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const bound = isKernel ? Math.sqrt(6 / (receptive * (shape[shape.length - 2] + shape[shape.length - 1]))) : 0.05;
    for (let i = 0; i < values.length; i++) {
      const s = Math.sin(12.9898 * i + 78.233 * (k + 1));
      values[i] = isKernel ? bound * s : bound * (1 + s);
    }
    return { name: (w as unknown as { originalName: string }).originalName, shape, values };
  });
  return writeWeightsManifest(dir, weights);
}
