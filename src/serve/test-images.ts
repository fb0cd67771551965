// Fashion-MNIST's test images as small PNGs for the report's gallery of misclassified examples: the
// 28x28 gray pictures exactly as the dataset holds them (the page scales them up, pixelated).
import { PNG } from 'pngjs';
import { findDatasetDir, IMAGE_SIZE_RAW, readSplit, type Split } from '../data/idx';
import { HttpError } from './http';

export class TestImages {
  private split: Split | null = null;
  private readonly pngs = new Map<number, Buffer>();

  constructor(private readonly dataDir?: string) {}

  /** Test image `index` as a grayscale PNG; the dataset is read (and its checksums checked) on first use. */
  png(index: number): Buffer {
    this.split ??= readSplit(findDatasetDir(this.dataDir), 'test');
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.split.count)
      throw new HttpError(404, `no test image ${index}: the test set has ${this.split.count}`);
    let png = this.pngs.get(index);
    if (!png) {
      const n = IMAGE_SIZE_RAW;
      const image = new PNG({ width: n, height: n, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
      image.data = Buffer.from(this.split.images.subarray(index * n * n, (index + 1) * n * n));
      png = PNG.sync.write(image, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
      if (this.pngs.size >= 2000) this.pngs.clear();
      this.pngs.set(index, png);
    }
    return png;
  }
}
