// Preparing a decoded picture for NiN the way Fashion-MNIST's pictures were prepared: luma, centred
// on a square of background, area-averaged to 28x28, light object on black. Plain TypeScript without
// Node imports, so `nin predict` and a browser page prepare a picture with the same code.

import { IMAGE_SIZE_RAW } from '../data/fashion-mnist';

/** ITU-R BT.601 luma, as PIL's convert('L') (how the Fashion-MNIST pictures were made gray). */
const LUMA = [0.299, 0.587, 0.114];

/** An 8-bit RGBA picture, as a decoder gives it (a browser canvas's ImageData has this shape too). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array; // width*height*4
}

/** For each output index: the source indices it reads and their weights (which sum to 1). */
interface Taps {
  index: Int32Array[];
  weight: Float64Array[];
}

/**
 * Downscaling: area average (each output pixel is the mean of the source pixels it covers, partial
 * pixels weighted by coverage), so thin stripes do not alias. Upscaling: bilinear with half-pixel centers.
 */
function resampleTaps(from: number, to: number): Taps {
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    if (scale >= 1) {
      const start = o * scale;
      const end = (o + 1) * scale;
      const first = Math.floor(start);
      const last = Math.min(from - 1, Math.ceil(end) - 1);
      const idx: number[] = [];
      const w: number[] = [];
      for (let s = first; s <= last; s++) {
        const cover = Math.min(end, s + 1) - Math.max(start, s);
        if (cover > 1e-12) {
          idx.push(s);
          w.push(cover / scale);
        }
      }
      index.push(Int32Array.from(idx));
      weight.push(Float64Array.from(w));
    } else {
      const source = Math.max(0, scale * (o + 0.5) - 0.5);
      const lower = Math.min(from - 1, Math.floor(source));
      const upper = Math.min(from - 1, lower + 1);
      const frac = source - lower;
      index.push(Int32Array.from([lower, upper]));
      weight.push(Float64Array.from([1 - frac, frac]));
    }
  }
  return { index, weight };
}

/**
 * For each output index, the run of its taps that falls inside a picture placed at `offset` in
 * the square (taps are in ascending order, so it is one run), and the weight of those outside it.
 */
function tapsInside(taps: Taps, offset: number, size: number): { from: Int32Array; to: Int32Array; outside: Float64Array } {
  const count = taps.index.length;
  const from = new Int32Array(count);
  const to = new Int32Array(count);
  const outside = new Float64Array(count);
  for (let o = 0; o < count; o++) {
    const idx = taps.index[o];
    let k = 0;
    while (k < idx.length && idx[k] - offset < 0) outside[o] += taps.weight[o][k++];
    from[o] = k;
    while (k < idx.length && idx[k] - offset < size) k++;
    to[o] = k;
    for (; k < idx.length; k++) outside[o] += taps.weight[o][k];
  }
  return { from, to, outside };
}

/**
 * A picture as a Fashion-MNIST example: luma, centred on a square of background, scaled to 28x28,
 * light object on black. Fashion-MNIST was made the same way (its longest edge resized to 28, the
 * other side extended), so a pair of trousers keeps its shape instead of being stretched wide.
 * `invert` is for dark objects on a light background (most photos). Transparent pixels become
 * background. The square is never built: the taps that fall outside the picture read background,
 * so time and memory follow the picture's own pixels, whatever its shape (a 20000x1 strip included).
 */
export function toFashionMnist(image: RgbaImage, invert: boolean): Uint8Array {
  const { width: w, height: h, data } = image;
  const background = invert ? 255 : 0;
  const side = Math.max(w, h);
  const n = IMAGE_SIZE_RAW;
  const taps = resampleTaps(side, n);
  const columns = tapsInside(taps, Math.floor((side - w) / 2), w);
  const rows = tapsInside(taps, Math.floor((side - h) / 2), h);
  const left = Math.floor((side - w) / 2);
  const top = Math.floor((side - h) / 2);
  // Columns first (each picture row to 28 values), then rows (28 x 28).
  const narrow = new Float64Array(h * n);
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < n; c++) {
      const idx = taps.index[c];
      const weight = taps.weight[c];
      let sum = background * columns.outside[c];
      for (let k = columns.from[c]; k < columns.to[c]; k++) {
        const p = (y * w + idx[k] - left) * 4;
        const alpha = data[p + 3] / 255;
        const luma = LUMA[0] * data[p] + LUMA[1] * data[p + 1] + LUMA[2] * data[p + 2];
        sum += (alpha * luma + (1 - alpha) * background) * weight[k];
      }
      narrow[y * n + c] = sum;
    }
  }
  const out = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) {
    const idx = taps.index[r];
    const weight = taps.weight[r];
    for (let c = 0; c < n; c++) {
      // A row of background above or below the picture is background whatever its weight.
      let sum = background * rows.outside[r];
      for (let k = rows.from[r]; k < rows.to[r]; k++) sum += narrow[(idx[k] - top) * n + c] * weight[k];
      const value = Math.min(255, Math.max(0, Math.round(sum)));
      out[r * n + c] = invert ? 255 - value : value;
    }
  }
  return out;
}
