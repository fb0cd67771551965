// `nin shapes` as a full summary: every row's shape, parameters and multiply-adds equal PyTorch's own count
// (test/fixtures/torch-summary.json, made by scripts/reference/torch_summary.py with forward hooks) for
// d2l's NiN and its variants; the memory estimates equal a count by hand for d2l's NiN.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Architecture, architectureOf } from '../../src/model/architecture';
import { benchMemoryEstimate, shapes } from '../../src/model/shapes';
import { assertOneLineError, lines, REPO_ROOT, runNin } from '../helpers/cli';

interface Counted {
  name: string;
  outputShape: number[];
  params: number;
  multiplyAdds: number;
}
interface TorchVariant {
  imageSize: number;
  architecture: Architecture;
  layers: Counted[];
  weightLayers: Counted[];
  totalParams: number;
  totalMultiplyAdds: number;
}
const TORCH = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'torch-summary.json'), 'utf8')) as {
  variants: TorchVariant[];
};

describe("parameters and multiply-adds equal PyTorch's count, layer by layer", () => {
  for (const v of TORCH.variants) {
    test(`${JSON.stringify(v.architecture)} at ${v.imageSize}px`, () => {
      const result = shapes({ imageSize: v.imageSize, architecture: v.architecture });
      assert.deepEqual(result.architecture, v.architecture);
      assert.deepEqual(result.layers, v.layers);
      assert.deepEqual(
        result.detail.filter((l) => l.kind === 'conv' || l.kind === 'dense').map(({ kind: _, ...l }) => l),
        v.weightLayers,
      );
      assert.equal(result.totalParams, v.totalParams);
      assert.equal(result.totalMultiplyAdds, v.totalMultiplyAdds);
    });
  }

  test("d2l's NiN at 224px: the hand counts (1,992,166 parameters, 762.3 M multiply-adds per image)", () => {
    const r = shapes({ imageSize: 224 });
    assert.equal(r.totalParams, 1992166);
    // Per layer: output positions x out channels x kernel area x in channels.
    const hand =
      54 * 54 * 96 * 121 * 1 +
      2 * 54 * 54 * 96 * 96 +
      26 * 26 * 256 * 25 * 96 +
      2 * 26 * 26 * 256 * 256 +
      12 * 12 * 384 * 9 * 256 +
      2 * 12 * 12 * 384 * 384 +
      5 * 5 * 10 * 9 * 384 +
      2 * 5 * 5 * 10 * 10;
    assert.equal(r.totalMultiplyAdds, hand);
    assert.equal(hand, 762297352);
  });
});

describe("memory of d2l's NiN at 224px, batch 128, against a count by hand", () => {
  const B = 128;
  const r = shapes({ imageSize: 224, batchSize: B });
  const weights = 1992166 * 4;
  // Floats per image the backward pass keeps: the input, each block's three conv outputs, each pool's,
  // dropout's output and its mask, the last block's outputs, the global average.
  const block1 = 96 * 54 * 54;
  const block2 = 256 * 26 * 26;
  const block3 = 384 * 12 * 12;
  const kept =
    224 * 224 + 3 * block1 + 96 * 26 * 26 + 3 * block2 + 256 * 12 * 12 + 3 * block3 + 384 * 5 * 5 + 2 * 384 * 5 * 5 + 3 * 10 * 5 * 5 + 10;
  // The largest layer input + output pair: block1_conv2 (96x54x54 in and out).
  const pair = 2 * block1;
  // bf16: block1_conv2's input and output gradient in bf16, and its 96x96 kernel.
  const bf16Training = (pair * B + 96 * 96) * 2;
  const bf16Prediction = (block1 * B + 96 * 96) * 2;

  test('training, fp32', () => {
    const t = r.memory.training.fp32;
    assert.equal(t.weights, weights);
    assert.equal(t.gradients, weights);
    assert.deepEqual(t.optimizerState, { sgd: 0, momentum: weights, adam: 2 * weights });
    assert.equal(t.activations, kept * B * 4);
    assert.equal(t.activations, 873656320);
    assert.equal(t.gradientsInFlight, pair * B * 4);
    assert.equal(t.bf16Copies, 0);
    assert.deepEqual(t.total, {
      sgd: 2 * weights + (kept + pair) * B * 4,
      momentum: 3 * weights + (kept + pair) * B * 4,
      adam: 4 * weights + (kept + pair) * B * 4,
    });
    assert.equal(t.total.sgd, 1176248112);
  });

  test("training, bf16 as nin keeps it: float32 tensors plus one convolution's bf16 copies", () => {
    const fp32 = r.memory.training.fp32;
    const bf16 = r.memory.training.bf16;
    assert.equal(bf16.bf16Copies, bf16Training);
    assert.equal(bf16.activations, fp32.activations);
    assert.equal(bf16.total.adam, fp32.total.adam + bf16Training);
  });

  test('prediction: weights and the largest live input + output pair', () => {
    assert.deepEqual(r.memory.prediction.fp32, { weights, activations: pair * B * 4, bf16Copies: 0, total: weights + pair * B * 4 });
    assert.equal(r.memory.prediction.bf16.total, weights + pair * B * 4 + bf16Prediction);
  });

  test("the estimate for a bench configuration is a training step's with SGD", () => {
    const e = benchMemoryEstimate({ imageSize: 224, batchSize: B, precision: 'fp32' });
    assert.equal(e.bytes, r.memory.training.fp32.total.sgd);
    assert.equal(benchMemoryEstimate({ imageSize: 224, batchSize: B, precision: 'bf16' }).bytes, r.memory.training.bf16.total.sgd);
  });

  test('activations scale with the batch, weights do not', () => {
    const one = shapes({ imageSize: 224, batchSize: 1 }).memory.training.fp32;
    assert.equal(one.activations * B, r.memory.training.fp32.activations);
    assert.equal(one.weights, r.memory.training.fp32.weights);
  });
});

describe('nin shapes on the command line', () => {
  test("--block-convs 3 --head dense --json: the counts PyTorch gives (the issue's check)", async () => {
    const r = await runNin(['shapes', '--block-convs', '3', '--head', 'dense', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    const want = TORCH.variants.find((v) => v.imageSize === 224 && v.architecture.blockConvs === 3 && v.architecture.head === 'dense')!;
    assert.deepEqual(got.architecture, want.architecture);
    assert.deepEqual(got.layers, want.layers);
    assert.equal(got.totalParams, want.totalParams);
    assert.equal(got.totalMultiplyAdds, want.totalMultiplyAdds);
    assert.equal(got.batchSize, 128);
    assert.ok(got.memory.training.fp32.total.adam > got.memory.training.fp32.total.sgd);
  });

  test('every architecture flag and --batch-size reach the summary', async () => {
    const args = [
      '--block-convs',
      '4',
      '--block-kernel',
      '3',
      '--head',
      'dense',
      '--width',
      '1.3',
      '--bottleneck',
      '16',
      '--depth',
      'nin-24',
    ];
    const r = await runNin(['shapes', '--json', '--image-size', '131', '--batch-size', '7', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    const want = TORCH.variants.find((v) => v.architecture.depth === 'nin-24')!;
    assert.deepEqual(got.architecture, want.architecture);
    assert.equal(got.totalMultiplyAdds, want.totalMultiplyAdds);
    assert.equal(got.batchSize, 7);
    const expected = shapes({ imageSize: 131, batchSize: 7, architecture: architectureOf(want.architecture) });
    assert.deepEqual(got.memory, expected.memory);
  });

  test('the text keeps the notebook rows first, then totals and the memory table', async () => {
    const r = await runNin(['shapes', '--image-size', '96', '--batch-size', '64']);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.match(out[0], /^Sequential output shape:\s+\[1, 96, 22, 22\]\s+params\s+30,336\s+mult-adds 14,543,232$/);
    assert.match(out[10], /^total params: 1,992,166$/);
    assert.match(out[11], /^total mult-adds: 107,999,560 per image \(108\.0 M\), 6\.9 G per batch of 64$/);
    assert.match(out[12], /^memory of d2l's NiN at 96px, batch 64 /);
    assert.match(
      out.find((l) => l.includes('training step, sgd'))!,
      /training step, sgd\s+\d+ MiB\s+\d+ MiB$/,
    );
    assert.match(out[out.length - 1], /^ {2}prediction\s+\d+(\.\d)? MiB\s+\d+(\.\d)? MiB$/);
  });

  const refused: [string[], RegExp[]][] = [
    [['--block-kernel', '2'], [/--block-kernel 2 is neither 1/]],
    [
      ['--bottleneck', '8', '--block-convs', '0'],
      [/--bottleneck needs/, /--block-convs 1 or more/],
    ],
    [
      ['--width', '0.004'],
      [/--width 0.004 leaves the first block no channels/, /--width 0.006 or more/],
    ],
    [
      ['--block-convs', '5'],
      [/--block-convs/, /0 to 4/],
    ],
    [
      ['--width', '5'],
      [/--width/, /at most 4/],
    ],
    [
      ['--head', 'max'],
      [/--head/, /gap, dense/],
    ],
    [
      ['--depth', 'nin-16'],
      [/--depth/, /nin-12, nin-18, nin-24/],
    ],
    [['--batch-size', '0'], [/--batch-size/]],
  ];
  for (const [args, messages] of refused) {
    test(`${args.join(' ')}: one line, exit 2`, async () => {
      assertOneLineError(await runNin(['shapes', ...args]), 2, ...messages);
    });
  }
});
