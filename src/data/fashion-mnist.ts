// What a Fashion-MNIST picture is: its ten classes, its 28x28 size, and the bilinear resize to a
// model's input size. Plain TypeScript without Node imports, so a browser bundle can use it too.

export const CLASS_NAMES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);
export const IMAGE_SIZE_RAW = 28;
/** The training split's examples (the test split has 10,000). */
export const TRAIN_EXAMPLES = 60000;

/** Per output index: the two source indices and the weight of the second (one table serves rows and columns). */
interface ResizeTable {
  lower: Int32Array;
  upper: Int32Array;
  frac: Float64Array;
  rows: Float64Array;
}
const resizeTables = new Map<number, ResizeTable>();

function resizeTable(size: number): ResizeTable {
  let table = resizeTables.get(size);
  if (table) return table;
  const lower = new Int32Array(size);
  const upper = new Int32Array(size);
  const frac = new Float64Array(size);
  const scale = IMAGE_SIZE_RAW / size;
  for (let i = 0; i < size; i++) {
    // Half-pixel centers (align_corners=False), clamped at the borders like PyTorch, PIL and tf.
    const source = scale * (i + 0.5) - 0.5;
    lower[i] = Math.max(0, Math.floor(source));
    upper[i] = Math.min(IMAGE_SIZE_RAW - 1, Math.ceil(source));
    frac[i] = source - lower[i];
  }
  // Scratch for the horizontal pass: 28 source rows, each interpolated to `size` columns.
  table = { lower, upper, frac, rows: new Float64Array(IMAGE_SIZE_RAW * size) };
  resizeTables.set(size, table);
  return table;
}

/**
 * Bilinear resize of one 28x28 uint8 image to size x size floats in [0,1] at out[outOffset...].
 * Same arithmetic as tf.image.resizeBilinear(x, [size, size], false, true), done separably:
 * columns first for the 28 source rows, then rows.
 */
export function resizeInto(src: Uint8Array, srcOffset: number, size: number, out: Float32Array, outOffset: number): void {
  const n = IMAGE_SIZE_RAW;
  if (size === n) {
    for (let i = 0; i < n * n; i++) out[outOffset + i] = src[srcOffset + i] / 255;
    return;
  }
  const { lower, upper, frac, rows } = resizeTable(size);
  for (let r = 0; r < n; r++) {
    const s = srcOffset + r * n;
    const d = r * size;
    for (let c = 0; c < size; c++) {
      const left = src[s + lower[c]];
      rows[d + c] = left + (src[s + upper[c]] - left) * frac[c];
    }
  }
  for (let r = 0; r < size; r++) {
    const top = lower[r] * size;
    const bottom = upper[r] * size;
    const f = frac[r];
    const o = outOffset + r * size;
    for (let c = 0; c < size; c++) {
      const t = rows[top + c];
      out[o + c] = (t + (rows[bottom + c] - t) * f) / 255;
    }
  }
}
