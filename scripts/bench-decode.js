#!/usr/bin/env node
// Times `nin predict`'s picture path on a phone-sized JPEG it writes itself (4000x3000, quality 90,
// 4:2:0), stored upright and with EXIF orientation 6: sharp (src/predict/picture-decode.ts) against the
// jpeg-js decoder nin used before, each followed by nin's 28x28 preparation, alternating so all see
// the same load.
// Uses the compiled dist/ and jpeg-js (a devDependency).
// usage: node scripts/bench-decode.js [--width 4000] [--height 3000] [--rounds 5]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const jpeg = require('jpeg-js');
const sharp = require('sharp');
const { decodeImage } = require('../dist/src/predict/picture-decode');
const { toFashionMnist } = require('../dist/src/predict/picture-prep');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const width = option('width', 4000);
const height = option('height', 3000);
const rounds = option('rounds', 5);

/** A photo-like picture: smooth gradients with seeded noise, so the JPEG is the size a camera's is. */
function photo() {
  const rgb = Buffer.alloc(width * height * 3);
  let seed = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const noise = (seed >>> 24) & 31;
      const p = (y * width + x) * 3;
      rgb[p] = ((x / width) * 200 + noise) | 0;
      rgb[p + 1] = ((y / height) * 200 + noise) | 0;
      rgb[p + 2] = (((x + y) % 256) / 2 + noise) | 0;
    }
  }
  return rgb;
}

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-bench-decode-'));
  try {
    const rgb = photo();
    const encode = (orientation) =>
      sharp(rgb, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
        .withMetadata({ orientation })
        .toBuffer();
    const upright = await encode(1);
    const sideways = await encode(6);
    fs.writeFileSync(path.join(dir, 'photo.jpg'), sideways);
    console.log(`${width}x${height} JPEG, ${(sideways.length / 1e6).toFixed(1)} MB; ${rounds} rounds, median ms`);
    const cases = {
      'sharp, upright': (bytes) => decodeImage(bytes, 'upright.jpg'),
      'sharp, EXIF 6': (bytes) => decodeImage(bytes, 'sideways.jpg'),
      'jpeg-js, EXIF 6': async (bytes) =>
        jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100, maxMemoryUsageInMB: 2048 }),
    };
    const input = { 'sharp, upright': upright, 'sharp, EXIF 6': sideways, 'jpeg-js, EXIF 6': sideways };
    const times = Object.fromEntries(Object.keys(cases).map((name) => [name, { decode: [], prepare: [], shape: '' }]));
    for (let round = 0; round < rounds; round++) {
      for (const [name, decode] of Object.entries(cases)) {
        let start = process.hrtime.bigint();
        const image = await decode(input[name]);
        times[name].decode.push(ms(start));
        start = process.hrtime.bigint();
        toFashionMnist(image, true);
        times[name].prepare.push(ms(start));
        times[name].shape = `${image.width}x${image.height}`;
      }
    }
    const totals = {};
    for (const [name, t] of Object.entries(times)) {
      const decode = median(t.decode);
      const prepare = median(t.prepare);
      totals[name] = decode + prepare;
      console.log(
        `${name.padEnd(16)} decode ${decode.toFixed(0).padStart(5)}  prepare ${prepare.toFixed(0).padStart(4)}  total ${totals[name].toFixed(0).padStart(5)}  (${t.shape})`,
      );
    }
    const old = totals['jpeg-js, EXIF 6'];
    console.log(
      `jpeg-js takes ${(old / totals['sharp, upright']).toFixed(1)}x as long as sharp upright, ${(old / totals['sharp, EXIF 6']).toFixed(1)}x as long as sharp turning it`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
