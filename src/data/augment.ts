// On-the-fly augmentation of 28x28 Fashion-MNIST images: random horizontal flip and random crop
// with zero padding, drawn from a seeded stream per (seed, epoch, example) so runs and resumes repeat.
import { mulberry32, deriveSeed } from '../sys/random';

export const AUGMENT_PADDING = 4; // pixels of zero padding around the 28x28 image before cropping

/**
 * Writes an augmented copy of the `side`x`side` image at `src[offset..]` into `out`: flipped
 * left-right with probability 1/2, then shifted by up to AUGMENT_PADDING pixels each way
 * (a crop of the zero-padded image), so the garment never leaves the frame entirely.
 */
export function augmentImage(
  src: Uint8Array,
  offset: number,
  side: number,
  out: Uint8Array,
  seed: number,
  epoch: number,
  example: number,
): void {
  const random = mulberry32(deriveSeed(seed, 3, epoch, example));
  const flip = random() < 0.5;
  const span = 2 * AUGMENT_PADDING + 1;
  const dy = Math.floor(random() * span) - AUGMENT_PADDING;
  const dx = Math.floor(random() * span) - AUGMENT_PADDING;
  for (let y = 0; y < side; y++) {
    const sy = y + dy;
    for (let x = 0; x < side; x++) {
      const shifted = x + dx;
      const sx = flip ? side - 1 - shifted : shifted;
      out[y * side + x] = sy >= 0 && sy < side && sx >= 0 && sx < side ? src[offset + sy * side + sx] : 0;
    }
  }
}
