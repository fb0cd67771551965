// Hand-built PNG and JPEG files for tests of hostile pictures: any header a file may claim, with
// valid chunk checksums, so the decoder gets past its CRC check to whatever the header promises.
import { deflateSync } from 'node:zlib';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngSpec {
  width: number;
  height: number;
  depth?: number; // default 8
  colourType?: number; // default 0 (gray)
  interlace?: number; // default 0
  idat?: Uint8Array; // compressed image data; default: deflate of `raw`
  raw?: Uint8Array; // filtered scanlines; default: all zero rows of the declared size (gray 8-bit)
}

/** A PNG whose IHDR says exactly what `spec` says, whatever its data holds. */
export function pngWithHeader(spec: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width >>> 0, 0);
  ihdr.writeUInt32BE(spec.height >>> 0, 4);
  ihdr[8] = spec.depth ?? 8;
  ihdr[9] = spec.colourType ?? 0;
  ihdr[12] = spec.interlace ?? 0;
  const idat = spec.idat ?? deflateSync(spec.raw ?? Buffer.alloc(spec.height * (spec.width + 1)));
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND')]);
}

/** An ordinary RGB PNG of width x height with a diagonal gradient, written by pngjs. */
export function gradientPng(width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const v = Math.round((255 * (x + y)) / Math.max(1, width + height - 2));
      png.data[p] = v;
      png.data[p + 1] = 255 - v;
      png.data[p + 2] = (x * 7) % 256;
      png.data[p + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: 2 });
}

/** An ordinary baseline JPEG of width x height, written by jpeg-js. */
export function gradientJpeg(width: number, height: number, quality = 90): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([(p * 3) % 256, (p * 5) % 256, (p * 11) % 256, 255], p * 4);
  return Buffer.from(jpeg.encode({ width, height, data }, quality).data);
}

/** Offset of the first SOF0 segment's height field in a JPEG (height, then width, 2 bytes each). */
export function jpegSizeOffset(bytes: Uint8Array): number {
  for (let i = 2; i + 4 < bytes.length;) {
    const marker = bytes[i + 1];
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    if (marker === 0xc0) return i + 5;
    i += 2 + length;
  }
  throw new Error('no SOF0 in this JPEG');
}
