// nin computes what d2l's PyTorch NiN (and a variant of it) computes: from the same weights, on the same
// images, plain SGD takes the same steps. The PyTorch losses are a fixture (made with scripts/torch-steps.py), so the
// test needs no PyTorch; nin's side is scripts/nin-steps.js, the one steps-vs-torch.sh runs. Together
// they check resize, convolutions, pooling, loss, gradients and the update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onednnStatus } from '../../src/backend/onednn';
import { type Architecture, architectureOf } from '../../src/model/architecture';
import { buildNin } from '../../src/model/nin';
import { REPO_ROOT } from '../helpers/cli';
import { writeFormulaWeights } from '../helpers/formula-weights';
import { removeTempDirs, tempDir } from '../helpers/idx';

interface Fixture {
  architecture?: Partial<Architecture>; // absent: d2l's NiN
  imageSize: number;
  batchSize: number;
  lr: number;
  losses: number[];
}

test.after(removeTempDirs);

// d2l's NiN, and a variant with every architecture key off d2l's (the dense head's NHWC/NCHW flatten order,
// 3x3 block convolutions, a width factor, a bottleneck, repeated blocks). Not every variant can be checked
// this way: Fashion-MNIST's flat background makes max-pool windows of near-equal values, whose argmax float
// rounding flips, so the gradients of the first blocks differ by 10-50% between any two float32 computations
// (PyTorch's float32 against its own float64 alike). Where those gradients are large (one 1x1 convolution per
// block and a dense head), the losses part after three steps; this variant's stay within 3e-7 over five.
const FIXTURES: [string, string][] = [
  ["d2l's NiN", 'torch-steps.json'],
  ['a NiN variant', 'torch-steps-variant.json'],
];

for (const [what, file] of FIXTURES) {
  test(
    `SGD steps from the same weights give PyTorch's losses, step by step, within 5e-5: ${what} (${file})`,
    { skip: onednnStatus().available ? false : 'the onednn addon is not built (pure-JS cpu would take minutes)' },
    () => {
      const fixture = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', file), 'utf8')) as Fixture;
      const { imageSize, batchSize, lr, losses: want } = fixture;
      const architecture = architectureOf(fixture.architecture ?? {});
      const model = buildNin({ imageSize, seed: 0, architecture });
      const init = writeFormulaWeights(model, tempDir('nin-parity-'));
      model.dispose();
      // File order and no dropout, as torch-steps.py: nothing random is left on either side.
      const out = execFileSync(
        process.execPath,
        [
          path.join(REPO_ROOT, 'scripts', 'nin-steps.js'),
          init,
          String(want.length),
          String(imageSize),
          String(batchSize),
          String(lr),
          'onednn',
          JSON.stringify(architecture),
        ],
        { encoding: 'utf8' },
      );
      const got = out
        .split('\n')
        .filter((l) => l.startsWith('step '))
        .map((l) => Number(l.split(' ')[3]));
      assert.equal(got.length, want.length, out);
      // A gradient 10% off already moves the second loss by 4e-4 and the third by 1.5e-3.
      got.forEach((loss, i) =>
        assert.ok(
          Math.abs(loss - want[i]) < 5e-5,
          `step ${i + 1}: nin ${loss}, PyTorch ${want[i]}\nall: nin ${got.join(' ')}\n     PyTorch ${want.join(' ')}`,
        ),
      );
    },
  );
}
