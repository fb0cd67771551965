// NiN's architecture as data (src/architecture.ts) and its TF.js builder (src/model.ts): d2l's NiN is built
// exactly as before, weight for weight; every variant builds the layers its plan lists with PyTorch's
// parameter counts (test/fixtures/torch-summary.json); an impossible variant is one line, before any tensor.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  type Architecture,
  architectureOf,
  architectureProblem,
  DEFAULT_ARCHITECTURE,
  DEPTHS,
  DEPTH_NAMES,
  describeArchitecture,
  MIN_IMAGE_SIZE,
  minImageSize,
  planNin,
} from '../../src/model/architecture';
import { initBackend } from '../../src/backend';
import { type CheckpointMeta, FORMAT_VERSION } from '../../src/run/checkpoint/meta';
import { loadCheckpoint } from '../../src/run/checkpoint/load';
import { saveCheckpoint } from '../../src/run/checkpoint/save';
import { resolveConfig } from '../../src/config/config';
import { NinError, UsageError } from '../../src/sys/errors';
import { activationsPerImage, buildNin, type ModelOptions } from '../../src/model/nin';
import { deriveSeed } from '../../src/sys/random';
import { NIN_VERSION } from '../../src/sys/version';
import { REPO_ROOT } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { TEST_BACKEND } from '../helpers/small-run';

interface TorchVariant {
  imageSize: number;
  architecture: Architecture;
  weightLayers: { name: string; outputShape: number[]; params: number }[];
  totalParams: number;
}
const TORCH = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'torch-summary.json'), 'utf8')) as {
  variants: TorchVariant[];
};

// onednn where built: the largest variant's forward pass takes a minute on the pure-JS cpu kernels.
before(() => initBackend(TEST_BACKEND, null));
after(removeTempDirs);

/**
 * d2l's NiN as src/model.ts built it before architectures were data (a frozen copy of that builder): the
 * default architecture must give this model, layer for layer and weight for weight, so that checkpoints
 * and test/parity.test.ts stay exact.
 */
function frozenD2lNin({ imageSize, seed, biasInit = 'zeros', kernelInit = 'xavier', classBias = null }: ModelOptions): tf.Sequential {
  const blocks = [
    { filters: 96, kernelSize: 11, strides: 4, padding: 'valid' as const },
    { filters: 256, kernelSize: 5, strides: 1, padding: 'same' as const },
    { filters: 384, kernelSize: 3, strides: 1, padding: 'same' as const },
    { filters: 10, kernelSize: 3, strides: 1, padding: 'same' as const },
  ];
  let size = Math.floor((imageSize - 11) / 4) + 1;
  for (let i = 0; i < 3; i++) size = Math.floor((size - 3) / 2) + 1;
  const model = tf.sequential({ name: 'nin' });
  let convIndex = 0;
  let channels = 1;
  const conv = (block: number, part: number, spec: (typeof blocks)[number], first: boolean) => {
    const kernelSize = first ? spec.kernelSize : 1;
    const bound = 1 / Math.sqrt(channels * kernelSize * kernelSize);
    channels = spec.filters;
    model.add(
      tf.layers.conv2d({
        name: `block${block}_conv${part}`,
        filters: spec.filters,
        kernelSize,
        strides: first ? spec.strides : 1,
        padding: first ? spec.padding : 'valid',
        activation: 'relu',
        kernelInitializer:
          kernelInit === 'he'
            ? tf.initializers.heUniform({ seed: deriveSeed(seed, 1, convIndex) })
            : tf.initializers.glorotUniform({ seed: deriveSeed(seed, 1, convIndex) }),
        biasInitializer:
          classBias !== null && block === 4 && part === 3
            ? tf.initializers.constant({ value: classBias })
            : biasInit === 'pytorch'
              ? tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: deriveSeed(seed, 4, convIndex) })
              : 'zeros',
        ...(block === 1 && first ? { inputShape: [imageSize, imageSize, 1] } : {}),
      }),
    );
    convIndex++;
  };
  blocks.forEach((spec, b) => {
    const block = b + 1;
    if (block === 4) model.add(tf.layers.dropout({ name: 'dropout', rate: 0.5 }));
    conv(block, 1, spec, true);
    conv(block, 2, spec, false);
    conv(block, 3, spec, false);
    if (block < 4) model.add(tf.layers.maxPooling2d({ name: `pool${block}`, poolSize: 3, strides: 2, padding: 'valid' }));
  });
  model.add(tf.layers.averagePooling2d({ name: 'global_avg_pool', poolSize: size, strides: size, padding: 'valid' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  return model;
}

const topology = (model: tf.LayersModel) => JSON.stringify(model.toJSON(null, false));

describe("d2l's NiN is the default architecture", () => {
  const cases: ModelOptions[] = [
    { imageSize: 67, seed: 0 },
    { imageSize: 96, seed: 7, biasInit: 'pytorch' },
    { imageSize: 224, seed: 3, kernelInit: 'he', classBias: 1 },
    { imageSize: 99, seed: 11, biasInit: 'pytorch', kernelInit: 'he', classBias: -0.5 },
  ];
  for (const options of cases) {
    test(`layer for layer and weight for weight: ${JSON.stringify(options)}`, () => {
      const built = buildNin(options);
      const frozen = frozenD2lNin(options);
      try {
        assert.equal(topology(built), topology(frozen));
        assert.deepEqual(
          built.weights.map((w) => (w as unknown as { originalName: string }).originalName),
          frozen.weights.map((w) => (w as unknown as { originalName: string }).originalName),
        );
        const a = built.getWeights();
        const b = frozen.getWeights();
        a.forEach((t, i) => assert.deepEqual(t.dataSync(), b[i].dataSync(), `${built.weights[i].name} differs`));
      } finally {
        built.dispose();
        frozen.dispose();
      }
    });
  }

  test('the same with the architecture given explicitly, or read from a config without architecture keys', () => {
    const architecture = architectureOf(resolveConfig({}));
    assert.deepEqual(architecture, DEFAULT_ARCHITECTURE);
    const built = buildNin({ imageSize: 67, seed: 2, architecture });
    const frozen = frozenD2lNin({ imageSize: 67, seed: 2 });
    assert.equal(topology(built), topology(frozen));
    built.dispose();
    frozen.dispose();
  });

  test("activationsPerImage keeps its count for d2l's NiN (resources.ts's memory check is calibrated on it)", () => {
    // Every conv and pool output at 224px: 3 x 96x54x54 + 96x26x26 + 3 x 256x26x26 + 256x12x12 + 3 x 384x12x12 + 384x5x5 + 3 x 10x5x5.
    assert.equal(activationsPerImage(224), 3 * 279936 + 64896 + 3 * 173056 + 36864 + 3 * 55296 + 9600 + 3 * 250);
  });
});

describe("every variant builds its plan, with PyTorch's parameter counts", () => {
  for (const variant of TORCH.variants) {
    test(`${describeArchitecture(variant.architecture)} at ${variant.imageSize}px`, () => {
      const plan = planNin(variant.architecture, variant.imageSize);
      const model = buildNin({ imageSize: variant.imageSize, seed: 0, architecture: variant.architecture, biasInit: 'pytorch' });
      try {
        assert.deepEqual(
          model.layers.map((l) => l.name),
          plan.layers.map((l) => l.name),
        );
        model.layers.forEach((layer, i) => {
          assert.deepEqual((layer.outputShape as number[]).slice(1), plan.layers[i].output, layer.name);
          assert.equal(layer.countParams(), plan.layers[i].params, layer.name);
        });
        assert.equal(model.countParams(), variant.totalParams);
        const weighted = model.layers.filter((l) => l.countParams() > 0);
        assert.deepEqual(
          weighted.map((l) => [l.name, l.countParams()]),
          variant.weightLayers.map((l) => [l.name, l.params]),
        );
        const logits = tf.tidy(() => model.predict(tf.zeros([1, variant.imageSize, variant.imageSize, 1])) as tf.Tensor);
        assert.deepEqual(logits.shape, [1, 10]);
        logits.dispose();
      } finally {
        model.dispose();
      }
    });
  }

  test('the layer lists: block convolutions, their kernel, the dense head, the bottleneck, the repeated blocks', () => {
    const names = (a: Partial<Architecture>) => planNin(architectureOf(a), 96).layers.map((l) => l.name);
    assert.deepEqual(names({ blockConvs: 0 }), [
      'block1_conv1',
      'pool1',
      'block2_conv1',
      'pool2',
      'block3_conv1',
      'pool3',
      'dropout',
      'block4_conv1',
      'global_avg_pool',
      'flatten',
    ]);
    assert.deepEqual(names({ blockConvs: 1, head: 'dense' }).slice(-5), ['dropout', 'block4_conv1', 'block4_conv2', 'flatten', 'dense']);
    assert.deepEqual(
      names({ depth: 'nin-18' }).filter((n) => n.endsWith('conv1')),
      ['block1_conv1', 'block2_conv1', 'block2b_conv1', 'block3_conv1', 'block3b_conv1', 'block4_conv1'],
    );
    const convs = (a: Partial<Architecture>) =>
      planNin(architectureOf(a), 96).layers.flatMap((l) =>
        l.kind === 'conv' ? [`${l.name} ${l.kernelSize}x${l.kernelSize} ${l.padding} ${l.filters}`] : [],
      );
    assert.deepEqual(convs({ blockConvs: 3, blockKernel: 3, bottleneck: 32 }).slice(-4), [
      'block4_conv1 3x3 same 32',
      'block4_conv2 3x3 same 32',
      'block4_conv3 3x3 same 32',
      'block4_conv4 3x3 same 10',
    ]);
    assert.deepEqual(convs({ width: 0.5 }).slice(0, 4), [
      'block1_conv1 11x11 valid 48',
      'block1_conv2 1x1 valid 48',
      'block1_conv3 1x1 valid 48',
      'block2_conv1 5x5 same 128',
    ]);
    assert.deepEqual(
      convs({ depth: 'nin-24' }).filter((c) => c.startsWith('block3')),
      [
        'block3_conv1 3x3 same 384',
        'block3_conv2 1x1 valid 384',
        'block3_conv3 1x1 valid 384',
        'block3b_conv1 3x3 same 384',
        'block3b_conv2 1x1 valid 384',
        'block3b_conv3 1x1 valid 384',
        'block3c_conv1 3x3 same 384',
        'block3c_conv2 1x1 valid 384',
        'block3c_conv3 1x1 valid 384',
      ],
    );
  });

  test("each family member is named by its weight layers with d2l's blocks, as VGG counts its own", () => {
    for (const depth of DEPTH_NAMES) {
      const weightLayers = planNin({ ...DEFAULT_ARCHITECTURE, depth }, 96).layers.filter((l) => l.params > 0).length;
      assert.equal(`nin-${weightLayers}`, depth);
      assert.equal(DEPTHS[depth][0], 1, 'the stem stays single');
      assert.equal(DEPTHS[depth][3], 1, 'the classifier block stays single');
    }
  });

  test("classBias starts the class convolution's biases, with the dense head too; the dense layer's follow biasInit", () => {
    const model = buildNin({ imageSize: 99, seed: 0, architecture: architectureOf({ head: 'dense' }), biasInit: 'zeros', classBias: 2 });
    try {
      const bias = (name: string) => Array.from(model.getLayer(name).getWeights()[1].dataSync());
      assert.deepEqual(bias('block4_conv3'), new Array(10).fill(2));
      assert.deepEqual(bias('dense'), new Array(10).fill(0));
      assert.deepEqual(bias('block4_conv2'), new Array(10).fill(0));
    } finally {
      model.dispose();
    }
    const torchLike = buildNin({ imageSize: 99, seed: 0, architecture: architectureOf({ head: 'dense' }), biasInit: 'pytorch' });
    try {
      // PyTorch's Linear default: uniform in +-1/sqrt(in_features); the dense layer sees 10 x 2 x 2 features at 99px.
      const bias = torchLike.getLayer('dense').getWeights()[1].dataSync();
      assert.ok(bias.every((b) => Math.abs(b) <= 1 / Math.sqrt(40)) && bias.some((b) => Math.abs(b) > 0.05));
    } finally {
      torchLike.dispose();
    }
  });
});

describe('impossible variants are one line, before anything is built', () => {
  const cases: [string, Partial<Architecture>, number, RegExp][] = [
    ['five block convolutions', { blockConvs: 5 }, 96, /--block-convs 5 .*0 to 4/],
    ['a 2x2 block kernel', { blockKernel: 2 as 1 }, 96, /--block-kernel 2 is neither 1 .* nor 3/],
    ['an unknown head', { head: 'max' as 'gap' }, 96, /--head max/],
    [
      'a width that leaves no channels',
      { width: 0.004 },
      96,
      /--width 0.004 leaves the first block no channels .*pass --width 0.006 or more/,
    ],
    ['a width above 4', { width: 5 }, 96, /--width 5 is not a number above 0 and at most 4/],
    [
      'a bottleneck without a convolution after the first',
      { bottleneck: 64, blockConvs: 0 },
      96,
      /--bottleneck needs .*--block-convs 1 or more/,
    ],
    ['a fractional bottleneck', { bottleneck: 2.5 }, 96, /--bottleneck 2.5/],
    ['an unknown family member', { depth: 'nin-16' as 'nin-12' }, 96, /--depth nin-16 is not one of nin-12, nin-18, nin-24/],
    ['an image too small', { head: 'dense' }, 66, /image size of 66 does not fit NiN \(head dense\).*--image-size 67 or more/],
  ];
  for (const [what, keys, imageSize, message] of cases) {
    test(what, () => {
      const tensors = tf.memory().numTensors;
      const architecture = architectureOf(keys);
      assert.match(architectureProblem(architecture, imageSize) ?? '', message);
      assert.throws(
        () => buildNin({ imageSize, seed: 0, architecture }),
        (err: unknown) => err instanceof UsageError && err.exitCode === 2 && !err.message.includes('\n') && message.test(err.message),
      );
      assert.equal(tf.memory().numTensors, tensors, 'nothing was built');
    });
  }

  test("67px is the smallest image for d2l's NiN and for every variant of the family", () => {
    assert.equal(MIN_IMAGE_SIZE, 67);
    for (const v of TORCH.variants) {
      assert.equal(minImageSize(v.architecture), 67);
      assert.equal(architectureProblem(v.architecture, 67), null);
    }
  });
});

describe('checkpoints', () => {
  test("a variant saved as a checkpoint whose meta.json describes d2l's NiN is refused in one line", async () => {
    const dir = path.join(tempDir('nin-arch-'), 'ckpt');
    const model = buildNin({ imageSize: 67, seed: 0, architecture: architectureOf({ blockConvs: 1, head: 'dense' }) });
    const meta: CheckpointMeta = {
      formatVersion: FORMAT_VERSION,
      nin: NIN_VERSION,
      createdAt: new Date().toISOString(),
      config: resolveConfig({ imageSize: 67 }),
      imageSize: 67,
      epoch: 0,
      metrics: null,
      backend: 'cpu',
      optimizer: null,
    };
    await saveCheckpoint(dir, model, meta);
    model.dispose();
    await assert.rejects(
      loadCheckpoint(dir),
      (err: unknown) =>
        err instanceof NinError &&
        !err.message.includes('\n') &&
        /holds another architecture than d2l's NiN at 67px \(it has 14 layers, NiN has 18\)/.test(err.message),
    );
  });

  test('describeArchitecture names what differs from d2l', () => {
    assert.equal(describeArchitecture(DEFAULT_ARCHITECTURE), "d2l's NiN");
    assert.equal(describeArchitecture(architectureOf({ blockConvs: 3, head: 'dense' })), 'NiN (blockConvs 3, head dense)');
    assert.equal(describeArchitecture(architectureOf({ depth: 'nin-18', width: 0.5 })), 'nin-18 (width 0.5)');
  });
});
