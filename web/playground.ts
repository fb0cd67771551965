// The Playground: the checkpoint runs in this browser with TF.js (WebGPU where the browser has it,
// else WebGL, else the CPU). A drawing or a photo goes through the very code nin predict uses
// (src/picture-prep.ts, src/fashion-mnist.ts) before the model sees it. Loaded as its own chunk.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { IMAGE_SIZE_RAW, resizeInto } from '../src/data/fashion-mnist';
import { type RgbaImage, toFashionMnist } from '../src/predict/picture-prep';
import { $, el } from './dom';
import { apiPath, state } from './state';

const BACKENDS = ['webgpu', 'webgl', 'cpu'];
const BRUSH = 22; // px on the 280px pad: Fashion-MNIST's garments fill their frame, so a fat stroke
const TOP = 5;

let backendReady: Promise<string> | null = null;
let model: tf.LayersModel | null = null;
let loaded = ''; // run/checkpoint/snapshot of `model`
let source: RgbaImage | null = null; // a photo; null: the pad's drawing

/** The first backend that starts: ?backend=cpu (or webgl, webgpu) asks for one. */
async function pickBackend(): Promise<string> {
  const asked = new URLSearchParams(location.search).get('backend');
  const tried: string[] = [];
  for (const name of asked && BACKENDS.includes(asked) ? [asked] : BACKENDS) {
    if (name === 'webgpu') {
      const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      // Asked first, so a browser with WebGPU but no usable GPU gets a plain reason instead of TF.js's warning.
      const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
      if (!adapter) {
        tried.push(gpu ? 'WebGPU has no GPU adapter here' : 'this browser has no WebGPU');
        continue;
      }
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return tried.length ? `${name} (${tried.join('; ')})` : name;
      }
    } catch {
      // try the next one
    }
    tried.push(`${name} did not start`);
  }
  throw new Error(`no TF.js backend started (${tried.join('; ')})`);
}

function pad(): HTMLCanvasElement {
  return $('draw') as HTMLCanvasElement;
}

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser has no 2D canvas');
  return ctx;
}

function clearPad(): void {
  const ctx = context(pad());
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad().width, pad().height);
  source = null;
}

/** What the model should look at now: the photo, else the pad. */
function currentImage(): RgbaImage {
  if (source) return source;
  const canvas = pad();
  const data = context(canvas).getImageData(0, 0, canvas.width, canvas.height).data;
  return { width: canvas.width, height: canvas.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A photo's own pixels, undecorated: no colour management, no premultiplied alpha (as nin predict decodes it). */
async function decodePhoto(file: Blob): Promise<RgbaImage> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = el('canvas', { width: bitmap.width, height: bitmap.height });
  const ctx = context(canvas);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  return { width: canvas.width, height: canvas.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Shows a photo on the pad, scaled to fit, so the user sees what is being classified. */
function showPhoto(image: RgbaImage): void {
  const canvas = el('canvas', { width: image.width, height: image.height });
  context(canvas).putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  const ctx = context(pad());
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad().width, pad().height);
  const scale = Math.min(pad().width / image.width, pad().height / image.height);
  const w = image.width * scale;
  const h = image.height * scale;
  ctx.drawImage(canvas, (pad().width - w) / 2, (pad().height - h) / 2, w, h);
}

/** Classifies the current picture: nin predict's preparation, then the model's softmax. */
async function classify(): Promise<void> {
  if (!model) return;
  const invert = ($('invert') as HTMLInputElement).checked;
  const pixels = toFashionMnist(currentImage(), invert);
  const seen = context($('seen') as HTMLCanvasElement);
  const gray = new ImageData(IMAGE_SIZE_RAW, IMAGE_SIZE_RAW);
  pixels.forEach((v, i) => gray.data.set([v, v, v, 255], i * 4));
  seen.putImageData(gray, 0, 0);
  const size = model.inputs[0].shape[1] as number;
  const x = new Float32Array(size * size);
  resizeInto(pixels, 0, size, x, 0);
  const output = tf.tidy(() => tf.softmax(model!.predict(tf.tensor4d(x, [1, size, size, 1])) as tf.Tensor2D));
  const probabilities = Array.from(await output.data());
  output.dispose();
  const ranked = probabilities.map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i);
  const top = $('top');
  top.dataset.probabilities = JSON.stringify(probabilities);
  top.replaceChildren(
    ...ranked
      .slice(0, TOP)
      .map(({ p, i }) =>
        el(
          'li',
          {},
          el('strong', {}, state.classNames[i] ?? String(i)),
          ` ${(p * 100).toFixed(1)}% `,
          el('span', { class: 'bar', style: `width:${Math.round(p * 150)}px`, 'aria-hidden': 'true' }),
        ),
      ),
  );
}

let scheduled = false;
function classifySoon(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    classify().catch(report);
  });
}

function report(err: unknown): void {
  $('play-status').textContent = `error: ${(err as Error)?.message ?? String(err)}`;
}

function initDrawing(): void {
  const canvas = pad();
  clearPad();
  let drawing = false;
  let last: { x: number; y: number } | null = null;
  const point = (e: PointerEvent) => {
    const rect = canvas.getBoundingClientRect();
    return { x: ((e.clientX - rect.left) / rect.width) * canvas.width, y: ((e.clientY - rect.top) / rect.height) * canvas.height };
  };
  const stroke = (to: { x: number; y: number }) => {
    const ctx = context(canvas);
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineWidth = BRUSH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo((last ?? to).x, (last ?? to).y);
    ctx.lineTo(to.x + (last ? 0 : 0.01), to.y);
    ctx.stroke();
    last = to;
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (source) clearPad(); // drawing starts over a photo: the pad becomes the picture again
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    stroke(point(e));
    classifySoon();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    stroke(point(e));
    classifySoon();
  });
  const end = () => {
    drawing = false;
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('keydown', (e) => {
    if (e.key === 'Delete' || e.key === 'Backspace') {
      clearPad();
      classifySoon();
    }
  });
  $('clear').addEventListener('click', () => {
    clearPad();
    classifySoon();
  });
  $('invert').addEventListener('change', classifySoon);
  const usePhoto = async (file: File | undefined) => {
    if (!file) return;
    try {
      source = await decodePhoto(file);
      showPhoto(source);
      await classify();
      $('play-status').textContent = `${file.name}: ${source.width}x${source.height}`;
    } catch (err) {
      source = null;
      report(new Error(`${file.name} could not be read as a picture (${(err as Error)?.message ?? err}); use a PNG or JPEG`));
    }
  };
  $('photo').addEventListener('change', () => usePhoto(($('photo') as HTMLInputElement).files?.[0]));
  canvas.addEventListener('dragover', (e) => {
    e.preventDefault();
    canvas.classList.add('drop');
  });
  canvas.addEventListener('dragleave', () => canvas.classList.remove('drop'));
  canvas.addEventListener('drop', (e) => {
    e.preventDefault();
    canvas.classList.remove('drop');
    usePhoto(e.dataTransfer?.files[0]);
  });
}

let initialised = false;

/** Loads the picked checkpoint (again when it has a new save) and classifies what is on the pad. */
export async function showPlayground(runId: string, checkpoint: string): Promise<void> {
  if (!initialised) {
    initialised = true;
    initDrawing();
  }
  const status = $('play-status');
  const backendLine = $('backend');
  backendReady ??= pickBackend();
  try {
    backendLine.textContent = `TF.js backend: ${await backendReady}`;
    backendLine.dataset.backend = tf.getBackend();
  } catch (err) {
    backendLine.textContent = `TF.js: ${(err as Error)?.message ?? err}`;
    return;
  }
  const summary = state.runs.get(runId)?.checkpoints.find((c) => c.name === checkpoint);
  if (!summary) {
    status.textContent = 'No checkpoint to load yet: a run saves one after its first epoch.';
    return;
  }
  const wanted = `${runId}/${checkpoint}/${summary.createdAt}`;
  if (wanted === loaded) return;
  status.textContent = `Loading ${runId}/${checkpoint}…`;
  const next = await tf.loadLayersModel(apiPath(runId, checkpoint, 'model.json'));
  model?.dispose();
  model = next;
  loaded = wanted;
  const size = model.inputs[0].shape[1];
  status.textContent = `Model: ${runId}/${checkpoint}, epoch ${summary.epoch}, ${size}x${size} input. Draw, or drop a photo.`;
  status.dataset.ready = wanted;
  await classify();
}
