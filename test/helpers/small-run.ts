// The small real training runs the end-to-end tests share: the engine they run on and the flags
// that make a run a few batches of real Fashion-MNIST at 67px, written once for every test file.

import { onednnStatus } from '../../src/backend/onednn';

/** onednn makes a step ~1000x faster than TF.js's pure-JS cpu kernels; the sizes below assume it. */
export const TEST_BACKEND: 'onednn' | 'cpu' = onednnStatus().available ? 'onednn' : 'cpu';

/** How long one small run may take: minutes on the cpu backend, where a 67px step takes seconds. */
export const SMALL_RUN_TIMEOUT = TEST_BACKEND === 'onednn' ? 120_000 : 600_000;

/**
 * `--backend`, `--image-size 67` and the limits of a small run: 64 training and 32 test images in
 * batches of 16 on onednn; on cpu `cpuTrainLimit` training images (4 unless a test needs more, e.g.
 * to hold out a validation split) and 4 test images in batches of 4.
 */
export function smallRunFlags(cpuTrainLimit = 4): string[] {
  return [
    '--backend',
    TEST_BACKEND,
    '--image-size',
    '67',
    ...(TEST_BACKEND === 'onednn'
      ? ['--train-limit', '64', '--test-limit', '32', '--batch-size', '16']
      : ['--train-limit', String(cpuTrainLimit), '--test-limit', '4', '--batch-size', '4']),
  ];
}

/** The value that follows `flag` in a flag list such as smallRunFlags()'s. */
export function flagValue(flags: readonly string[], flag: string): string {
  const i = flags.indexOf(flag);
  if (i < 0 || i + 1 >= flags.length) throw new Error(`no ${flag} in ${flags.join(' ')}`);
  return flags[i + 1];
}
