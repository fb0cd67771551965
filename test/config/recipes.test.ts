// `nin train --recipe NAME`: the presets resolve to their documented values, flags given beside a
// recipe override it, the banner says where each value came from, and config.json stays a plain config.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEST_BACKEND } from '../helpers/small-run';
import { DEFAULT_CONFIG, describeConfig, type TrainConfig } from '../../src/config/config';
import { CONFIG_FILE_SOURCE, RECIPE_NAMES, RECIPES, resolveConfigFile, resolveRecipe } from '../../src/config/recipes';
import { assertOneLineError, lines, runNin } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

const BACKEND = TEST_BACKEND;
const TINY = [
  '--backend',
  BACKEND,
  '--threads',
  '1',
  '--image-size',
  '67',
  '--epochs',
  '1',
  '--train-limit',
  '8',
  '--test-limit',
  '8',
  '--batch-size',
  '8',
];

// README's 0.90 recipe, with a two-epoch warm-up, weight decay 5e-4, and He kernels with class biases of 1.
const BEST = {
  imageSize: 96,
  epochs: 10,
  batchSize: 64,
  optimizer: 'momentum',
  momentum: 0.9,
  nesterov: true,
  learningRate: 0.04139,
  schedule: 'cosine',
  warmupEpochs: 1,
  labelSmoothing: 0.1366,
  weightDecay: 5.237e-4,
  kernelInit: 'he',
  biasInit: 'zeros',
  classBias: 1,
};

describe('resolveRecipe', () => {
  test("d2l is the default config itself, with d2l's initialisation (PyTorch's default biases); nothing is marked", () => {
    assert.deepEqual(RECIPE_NAMES, ['d2l', 'best']);
    assert.equal(DEFAULT_CONFIG.biasInit, 'pytorch');
    const { config, sources } = resolveRecipe('d2l', {});
    assert.deepEqual(config, DEFAULT_CONFIG);
    assert.deepEqual(sources, {});
    assert.doesNotMatch(describeConfig(config, sources), /\(/);
  });

  test("best is README's recipe over d2l's defaults; each of its values is marked (best)", () => {
    const { config, sources } = resolveRecipe('best', {});
    assert.deepEqual(RECIPES.best.values, BEST);
    assert.deepEqual(config, { ...DEFAULT_CONFIG, ...BEST });
    assert.deepEqual(Object.keys(sources).sort(), Object.keys(BEST).sort());
    assert.ok(Object.values(sources).every((s) => s === 'best'));
  });

  test('flags override the recipe and are marked (flag); a flag not given (undefined) leaves the recipe value', () => {
    const { config, sources } = resolveRecipe('best', { learningRate: 0.05, nesterov: false, seed: 1, augment: undefined, batchSize: 128 });
    assert.deepEqual(config, { ...DEFAULT_CONFIG, ...BEST, learningRate: 0.05, nesterov: false, seed: 1, batchSize: 128 });
    assert.deepEqual(sources, {
      ...Object.fromEntries(Object.keys(BEST).map((k) => [k, 'best'])),
      learningRate: 'flag',
      nesterov: 'flag',
      seed: 'flag',
      batchSize: 'flag',
    });
    const banner = describeConfig(config, sources);
    for (const token of [
      'learningRate=0.05 (flag)',
      'optimizer=momentum (best)',
      'nesterov=false (flag)',
      'seed=1 (flag)',
      'batchSize=128 (flag)',
      'weightDecay=0.0005237 (best)',
    ])
      assert.ok(banner.includes(token), `${token} in ${banner}`);
    // Defaults stay unmarked.
    assert.match(banner, /(^| )augment=false( |$)/);
    assert.match(banner, /(^| )biasInit=zeros \(best\)( |$)/);
  });
});

describe('nin train --recipe', () => {
  test('best with flags beside it: the banner marks each value, config.json holds the resolved plain config', async () => {
    const out = tempDir('h17-recipe-');
    const r = await runNin(
      ['train', '--recipe', 'best', '--seed', '1', '--lr', '0.05', '--no-nesterov', ...TINY, '--out', out, '--run', 'r'],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const banner = lines(r.stderr).find((l) => l.startsWith('config: '));
    assert.ok(banner, r.stderr);
    for (const token of [
      'learningRate=0.05 (flag)',
      'epochs=1 (flag)',
      'imageSize=67 (flag)',
      'optimizer=momentum (best)',
      'nesterov=false (flag)',
      'schedule=cosine (best)',
      'warmupEpochs=1 (best)',
      'labelSmoothing=0.1366 (best)',
      'seed=1 (flag)',
      `backend=${BACKEND} (flag)`,
    ]) {
      assert.ok(banner.includes(token), `${token} in ${banner}`);
    }
    for (const token of ['biasInit=zeros (best)', 'kernelInit=he (best)', 'classBias=1 (best)'])
      assert.ok(banner.includes(token), `${token} in ${banner}`);
    assert.match(banner, / augment=false /);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'r', 'config.json'), 'utf8'));
    assert.deepEqual(Object.keys(config).sort(), Object.keys(DEFAULT_CONFIG).sort(), 'a plain TrainConfig: no recipe name, no sources');
    assert.deepEqual(
      {
        learningRate: config.learningRate,
        optimizer: config.optimizer,
        nesterov: config.nesterov,
        schedule: config.schedule,
        warmupEpochs: config.warmupEpochs,
        labelSmoothing: config.labelSmoothing,
        weightDecay: config.weightDecay,
        imageSize: config.imageSize,
        seed: config.seed,
        biasInit: config.biasInit,
        kernelInit: config.kernelInit,
        classBias: config.classBias,
      },
      {
        learningRate: 0.05,
        optimizer: 'momentum',
        nesterov: false,
        schedule: 'cosine',
        warmupEpochs: 1,
        labelSmoothing: 0.1366,
        weightDecay: 5.237e-4,
        imageSize: 67,
        seed: 1,
        biasInit: 'zeros',
        kernelInit: 'he',
        classBias: 1,
      },
    );
  });

  test('without --recipe: d2l, and only the flags given are marked', async () => {
    const out = tempDir('h17-recipe-');
    const r = await runNin(['train', ...TINY, '--bias-init', 'zeros', '--out', out, '--run', 'r'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const banner = lines(r.stderr).find((l) => l.startsWith('config: '))!;
    assert.match(
      banner,
      /^config: learningRate=0\.1 epochs=1 \(flag\) batchSize=8 \(flag\) imageSize=67 \(flag\) optimizer=sgd momentum=0\.9 nesterov=false /,
    );
    assert.ok(banner.includes(' biasInit=zeros (flag) '), banner);
    assert.doesNotMatch(banner, /\((best|d2l)\)/);
  });

  const refusals: [string, string[], RegExp[]][] = [
    ['an unknown recipe', ['train', '--recipe', 'fast'], [/--recipe/, /d2l, best/]],
    [
      '--resume with --recipe',
      ['train', '--resume', '/tmp/h17-never', '--recipe', 'best'],
      [/--resume continues a run with its own recipe/, /--recipe cannot change/],
    ],
    [
      '--resume with --no-nesterov',
      ['train', '--resume', '/tmp/h17-never', '--no-nesterov', '--no-augment'],
      [/--no-nesterov, --no-augment cannot change/],
    ],
  ];
  for (const [name, args, patterns] of refusals) {
    test(`${name}: exit 2, one line`, async () => assertOneLineError(await runNin(args, { timeoutMs: 30_000 }), 2, ...patterns));
  }

  test('--help lists the recipes', async () => {
    const help = await runNin(['train', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--recipe <name>/);
    assert.match(help.stdout.replace(/\s+/g, ' '), /d2l \(d2l's train_ch6.*best \(the best 10-epoch recipe/);
  });
});

describe('resolveConfigFile (nin train --config)', () => {
  test("the file's values, then the flags; values away from d2l's defaults are marked (config), flags (flag)", () => {
    const file = { ...DEFAULT_CONFIG, ...BEST, seed: 4, backend: 'cpu', dataDir: '/d' } as TrainConfig;
    const { config, sources } = resolveConfigFile(file, { seed: 5, threads: 2, augment: undefined });
    assert.deepEqual(config, { ...file, seed: 5, threads: 2 });
    assert.equal(CONFIG_FILE_SOURCE, 'config');
    assert.deepEqual(sources, {
      // epochs 10 and momentum 0.9 are d2l's own values, so they stay unmarked.
      ...Object.fromEntries(
        Object.keys(BEST)
          .filter((k) => !['epochs', 'momentum'].includes(k))
          .map((k) => [k, 'config']),
      ),
      backend: 'config',
      dataDir: 'config',
      seed: 'flag',
      threads: 'flag',
    });
    const banner = describeConfig(config, sources);
    for (const token of ['learningRate=0.04139 (config)', 'seed=5 (flag)', 'backend=cpu (config)', 'threads=2 (flag)'])
      assert.ok(banner.includes(token), `${token} in ${banner}`);
    assert.match(banner, /(^| )augment=false( |$)/);
  });
});

describe('nin train --config', () => {
  test("a run's config.json reproduces that run's config; flags override it; the banner marks (config) and (flag)", async () => {
    const out = tempDir('hc-config-');
    const first = await runNin(['train', '--recipe', 'best', '--seed', '1', ...TINY, '--out', out, '--run', 'r1'], { timeoutMs: 120_000 });
    assert.equal(first.code, 0, first.stderr);
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'r1', 'config.json'), 'utf8'));

    const again = await runNin(['train', '--config', path.join(out, 'r1', 'config.json'), '--out', out, '--run', 'r2'], {
      timeoutMs: 120_000,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'r2', 'config.json'), 'utf8')), saved);

    const changed = await runNin(['train', '--config', path.join(out, 'r1', 'config.json'), '--seed', '2', '--out', out, '--run', 'r3'], {
      timeoutMs: 120_000,
    });
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'r3', 'config.json'), 'utf8')), { ...saved, seed: 2 });
    const banner = lines(changed.stderr).find((l) => l.startsWith('config: '));
    assert.ok(banner, changed.stderr);
    for (const token of [
      'learningRate=0.04139 (config)',
      'epochs=1 (config)',
      'imageSize=67 (config)',
      'seed=2 (flag)',
      `backend=${BACKEND} (config)`,
    ])
      assert.ok(banner.includes(token), `${token} in ${banner}`);
    assert.match(banner, / biasInit=zeros \(config\) /);
  });
});
