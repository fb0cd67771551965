// Decoding a picture file to 8-bit RGBA with sharp (libvips, prebuilt from npm): the formats nin
// reads, EXIF orientation, and the checks that keep a hostile file from taking the machine.
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { NinError } from '../sys/errors';
import type { RgbaImage } from './picture-prep';

/** The formats nin hands to sharp, found by content; anything else (SVG, PDF, libvips' own) never reaches it. */
export type PictureFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' | 'avif';

const FORMAT_NAMES: Record<PictureFormat, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP', gif: 'GIF', tiff: 'TIFF', avif: 'AVIF' };
/** How sharp's metadata() names each format (it calls AVIF heif, after the container). */
const SHARP_FORMATS: Record<PictureFormat, string> = { png: 'png', jpeg: 'jpeg', webp: 'webp', gif: 'gif', tiff: 'tiff', avif: 'heif' };
export const READABLE_FORMATS = 'PNG, JPEG, WebP, GIF, TIFF or AVIF';
const INTACT = `pass an intact picture (${READABLE_FORMATS})`;
const SCALE_DOWN = 'scale it down first (a few hundred pixels a side is plenty: Fashion-MNIST pictures are 28x28)';

/**
 * Memory per pixel while a picture decodes: the 8-bit RGBA result, and up to twice that inside
 * libvips (a progressive JPEG's 16-bit coefficients for three components, or the whole picture
 * held to turn it by its EXIF orientation).
 */
const DECODE_BYTES_PER_PIXEL = 12;
/**
 * The memory one picture may take while it is decoded, whatever its file claims: pictures whose
 * header promises more are refused before decoding. About 40 megapixels; Fashion-MNIST's pictures
 * are 28x28, so anything over a few hundred pixels a side is plenty.
 */
export const DECODE_BUDGET_BYTES = 512e6;
/** The longest side nin converts (JPEG's own limit): the conversion keeps 28 values per row of the longer side. */
export const MAX_PICTURE_SIDE = 65535;
/** A decode that takes longer is a hostile file (a JPEG with thousands of scans, say): a 40-megapixel JPEG takes about a second. */
const DECODE_TIMEOUT_SECONDS = 30;

/** What a picture's header says, read before any pixel is decoded. */
export interface PictureHeader {
  format: PictureFormat;
  width: number; // as stored, before its EXIF orientation turns it
  height: number;
  orientation: number; // EXIF orientation, 1 (as stored) to 8; 5-8 swap width and height
  decodeBytes: number; // memory decoding it takes, estimated from its size
}

function startsWith(bytes: Uint8Array, signature: number[], at = 0): boolean {
  return bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);
}

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** ISO-BMFF brands (ftyp box) of AVIF, and of HEIC, whose HEVC the prebuilt libvips cannot decode (patents). */
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEVC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis']);

/** The format of a picture from its first bytes, or null; HEIC is a NinError of its own (see HEVC_BRANDS). */
function sniffFormat(bytes: Uint8Array, file: string): PictureFormat | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  // Classic and big TIFF, either byte order.
  if (
    [
      [0x49, 0x49, 0x2a, 0],
      [0x4d, 0x4d, 0, 0x2a],
      [0x49, 0x49, 0x2b, 0],
      [0x4d, 0x4d, 0, 0x2b],
    ].some((s) => startsWith(bytes, s))
  )
    return 'tiff';
  if (startsWith(bytes, ascii('ftyp'), 4) && bytes.length >= 16) {
    const boxSize = Math.min(bytes.length, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0));
    const brands = [String.fromCharCode(...bytes.subarray(8, 12))];
    for (let i = 16; i + 4 <= boxSize; i += 4) brands.push(String.fromCharCode(...bytes.subarray(i, i + 4)));
    if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
    if (brands.some((b) => HEVC_BRANDS.has(b)))
      throw new NinError(`${file} is a HEIC picture, whose HEVC coding nin's libvips cannot decode; convert it to JPEG or PNG first`);
  }
  return null;
}

let sharpModule: ((input: Uint8Array, options: SharpOptions) => Sharp) | null = null;

/** sharp, loaded on first use: a platform without its prebuilt libvips fails here, in one line, and only for pictures. */
async function loadSharp(): Promise<(input: Uint8Array, options: SharpOptions) => Sharp> {
  if (sharpModule) return sharpModule;
  try {
    sharpModule = (await import('sharp')).default;
    return sharpModule;
  } catch (err) {
    throw new NinError(
      `reading pictures needs sharp's prebuilt libvips, which did not load on ${process.platform}-${process.arch} (${oneLine(err)}); reinstall nin with npm's optional dependencies (npm install --include=optional)`,
    );
  }
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.ceil(bytes / 1e6)} MB`;
}

/** A decoder's error message as a short line (libvips' messages run over several lines). */
export function oneLine(err: unknown): string {
  const text = String((err as Error)?.message ?? err)
    .split('\n')[0]
    .trim();
  return text.length > 100 ? `${text.slice(0, 97)}...` : text || 'unreadable';
}

function damaged(format: PictureFormat, file: string, why: unknown): NinError {
  const name = FORMAT_NAMES[format];
  return new NinError(`${file} is a damaged or unsupported ${name} (${typeof why === 'string' ? why : oneLine(why)}); ${INTACT}`);
}

/**
 * The format, size and orientation of a picture from its header alone (sharp's metadata(), which
 * decodes no pixels); anything nin does not read, or a header sharp cannot parse, is a NinError naming the file.
 */
export async function pictureHeader(bytes: Uint8Array, file: string): Promise<PictureHeader> {
  if (bytes.length === 0) throw new NinError(`${file} is empty; pass a picture (${READABLE_FORMATS})`);
  const format = sniffFormat(bytes, file);
  if (!format) throw new NinError(`${file} is not a picture nin reads (${READABLE_FORMATS}); convert it to PNG or JPEG first`);
  const sharp = await loadSharp();
  let metadata: Metadata;
  try {
    // No pixel limit here: the header is all it reads, and a picture too big is refused with its size below.
    metadata = await sharp(bytes, { limitInputPixels: false, failOn: 'error' }).metadata();
  } catch (err) {
    throw damaged(format, file, err);
  }
  if (metadata.format !== SHARP_FORMATS[format]) throw damaged(format, file, `libvips reads it as ${String(metadata.format)}`);
  if (format === 'avif' && metadata.compression !== 'av1')
    throw new NinError(
      `${file} is a HEIF picture coded with ${String(metadata.compression)}, which nin cannot decode; convert it to JPEG or PNG first`,
    );
  const { width, height } = metadata; // of the first page, the one nin reads (an animated GIF's first frame)
  if (!width || !height) throw damaged(format, file, `its header says ${width}x${height} pixels`);
  const orientation = metadata.orientation ?? 1;
  return { format, width, height, orientation, decodeBytes: width * height * DECODE_BYTES_PER_PIXEL };
}

/** A header's picture fits the decoding budget, or a NinError says how big it is and what to do. */
function checkBudget(header: PictureHeader, file: string): void {
  if (Math.max(header.width, header.height) > MAX_PICTURE_SIDE) {
    throw new NinError(
      `${file} is ${header.width}x${header.height} pixels, longer than the ${MAX_PICTURE_SIDE} pixels a side nin reads; ${SCALE_DOWN}`,
    );
  }
  if (header.decodeBytes > DECODE_BUDGET_BYTES) {
    throw new NinError(
      `${file} is ${header.width}x${header.height} pixels: decoding it would take about ${megabytes(header.decodeBytes)}, more than the ${megabytes(DECODE_BUDGET_BYTES)} nin allows for one picture; ${SCALE_DOWN}`,
    );
  }
}

/**
 * Decodes a picture (by content, not by extension) to 8-bit sRGB RGBA at its full size, turned
 * upright by its EXIF orientation, after checking its header against the decoding budget. A damaged
 * file (cut short included: sharp fails on libvips' warnings) is a NinError naming the file, never
 * a half-decoded picture.
 *
 * Full size on purpose: nin's own area average (picture-prep.ts) then makes the 28x28, as
 * Fashion-MNIST's were made, from every pixel and whatever the format. Letting libvips shrink first
 * (JPEG shrink-on-load plus its kernels) measured 4x faster on a 4000x3000 JPEG at 1/4 size, but
 * moved some 28x28 values by a level, and would make a JPEG prepare differently from the same
 * pixels as PNG; decoding 12 megapixels whole takes a fraction of a second, so it is not worth it.
 */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<RgbaImage> {
  const header = await pictureHeader(bytes, file);
  checkBudget(header, file);
  const turned = header.orientation >= 5; // EXIF 5-8 turn the picture a quarter
  const width = turned ? header.height : header.width;
  const height = turned ? header.width : header.height;
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, {
      // Checked above from the header; this holds libvips to it should the pixel data say otherwise.
      limitInputPixels: Math.floor(DECODE_BUDGET_BYTES / DECODE_BYTES_PER_PIXEL),
      failOn: 'warning',
    })
      .timeout({ seconds: DECODE_TIMEOUT_SECONDS })
      .autoOrient()
      .toColourspace('srgb') // gray, CMYK and 16-bit pictures become 8-bit sRGB; an ICC profile is applied
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height || info.channels !== 4 || data.length !== width * height * 4)
      throw new Error(`its size changed while decoding (${info.width}x${info.height}x${info.channels})`);
    return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    if (/timeout/i.test(oneLine(err)))
      throw damaged(header.format, file, `decoding it took more than ${DECODE_TIMEOUT_SECONDS} s, as only a hostile file does`);
    throw damaged(header.format, file, err);
  }
}
