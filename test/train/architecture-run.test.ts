// The architecture keys are recipe keys like any other (config/keys.ts): a variant trains, saves, resumes,
// evaluates and predicts through the CLI; --resume refuses its flags; --init-weights takes a checkpoint of the
// same architecture only; a config.json written before the keys existed reads as d2l's NiN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readConfigFile } from '../../src/config/check';
import { DEFAULT_CONFIG } from '../../src/config/config';
import { architectureOf, DEFAULT_ARCHITECTURE } from '../../src/model/architecture';
import { assertOneLineError, lines, runNin, type CliResult } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { gradientPng } from '../helpers/pictures';
import { SMALL_RUN_TIMEOUT, TEST_BACKEND } from '../helpers/small-run';

after(removeTempDirs);

const VARIANT = ['--block-convs', '3', '--head', 'dense'];
// The command on onednn; a few images on the pure-JS cpu backend, where a 67px step takes seconds.
const SIZES =
  TEST_BACKEND === 'onednn'
    ? ['--image-size', '67', '--train-limit', '256', '--test-limit', '64']
    : ['--image-size', '67', '--train-limit', '8', '--test-limit', '4', '--batch-size', '4'];
const TEST_LIMIT = TEST_BACKEND === 'onednn' ? '64' : '4';

function assertOk(r: CliResult): void {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describe('nin train --block-convs 3 --head dense: trains, saves, resumes, evals and predicts', () => {
  let out: string;
  let runDir: string;
  let train: CliResult;

  before(async () => {
    out = tempDir('nin-variant-');
    runDir = path.join(out, 'r');
    train = await runNin(['train', ...VARIANT, ...SIZES, '--epochs', '1', '--backend', TEST_BACKEND, '--out', out, '--run', 'r'], {
      timeoutMs: SMALL_RUN_TIMEOUT,
    });
  });

  test('trains one epoch; the banner and config.json carry the architecture', () => {
    assertOk(train);
    assert.match(lines(train.stdout)[0], /^epoch 1\/1: loss \d+\.\d{3}, /);
    assert.match(
      train.stderr,
      /^config: .* blockConvs=3 \(flag\) blockKernel=1 head=dense \(flag\) width=1 bottleneck=none depth=nin-12 /m,
    );
    const config = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.blockConvs, 3);
    assert.equal(config.head, 'dense');
    const model = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'model.json'), 'utf8')) as { modelTopology: unknown };
    const topology = JSON.stringify(model.modelTopology);
    assert.ok(topology.includes('block1_conv4'), 'three convolutions after the first');
    assert.ok(topology.includes('"Dense"'), 'the dense head');
  });

  test('--resume refuses the architecture flags like every recipe flag', async () => {
    assertOk(train);
    const r = await runNin(['train', '--resume', runDir, '--head', 'gap', '--block-convs', '2', '--backend', TEST_BACKEND]);
    assertOneLineError(r, 2, /--resume continues a run with its own recipe/, /--block-convs, --head cannot change/);
  });

  test('--resume --epochs 2 continues it with its own architecture', async () => {
    assertOk(train);
    const r = await runNin(['train', '--resume', runDir, '--epochs', '2', '--backend', TEST_BACKEND], { timeoutMs: SMALL_RUN_TIMEOUT });
    assertOk(r);
    assert.match(r.stderr, /resuming after epoch 1/);
    assert.match(lines(r.stdout)[0], /^epoch 2\/2: /);
    const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'last', 'meta.json'), 'utf8')) as { epoch: number };
    assert.equal(meta.epoch, 2);
  });

  test('nin eval and nin predict rebuild it from the checkpoint', async () => {
    assertOk(train);
    const evaluated = await runNin(['eval', runDir, '--json', '--backend', TEST_BACKEND, '--test-limit', TEST_LIMIT], {
      timeoutMs: SMALL_RUN_TIMEOUT,
    });
    assertOk(evaluated);
    const result = JSON.parse(evaluated.stdout) as { accuracy: number };
    assert.ok(result.accuracy >= 0 && result.accuracy <= 1);
    const picture = path.join(out, 'p.png');
    fs.writeFileSync(picture, gradientPng(40, 30));
    const predicted = await runNin(['predict', path.join(runDir, 'best'), picture, '--json', '--backend', TEST_BACKEND], {
      timeoutMs: SMALL_RUN_TIMEOUT,
    });
    assertOk(predicted);
    const { predictions } = JSON.parse(predicted.stdout) as { predictions: { top: unknown[] }[] };
    assert.equal(predictions.length, 1);
  });

  test("--init-weights takes the variant's checkpoint for the same architecture, and refuses it for d2l's NiN in one line", async () => {
    assertOk(train);
    const best = path.join(runDir, 'best');
    const same = await runNin(
      ['train', ...VARIANT, ...SIZES, '--epochs', '1', '--init-weights', best, '--backend', TEST_BACKEND, '--out', out, '--run', 'again'],
      { timeoutMs: SMALL_RUN_TIMEOUT },
    );
    assertOk(same);
    assert.match(same.stderr, /^initial weights: /m);
    const other = await runNin(['train', ...SIZES, '--epochs', '1', '--init-weights', best, '--backend', TEST_BACKEND, '--out', out], {
      timeoutMs: SMALL_RUN_TIMEOUT,
    });
    // After the banner, one error line, last, and no stack.
    assert.equal(other.code, 1, other.stderr);
    const errors = lines(other.stderr).filter((l) => l.startsWith('nin: '));
    assert.equal(errors.length, 1, other.stderr);
    assert.equal(lines(other.stderr).at(-1), errors[0]);
    assert.match(errors[0], /holds NiN \(blockConvs 3, head dense\), this run trains d2l's NiN: give the run its architecture's flags/);
    assert.ok(!other.stderr.includes('    at '), other.stderr);
  });
});

test("a config.json written before the architecture keys existed reads as d2l's NiN", () => {
  const dir = tempDir('nin-old-config-');
  const file = path.join(dir, 'config.json');
  const old: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(DEFAULT_ARCHITECTURE)) delete old[key];
  fs.writeFileSync(file, JSON.stringify(old));
  const config = readConfigFile(file);
  assert.deepEqual(architectureOf(config), DEFAULT_ARCHITECTURE);
  assert.deepEqual(config, DEFAULT_CONFIG);
});

test('an architecture that does not fit its image size is one line before any run directory is made', async () => {
  const out = tempDir('nin-variant-bad-');
  const r = await runNin(['train', '--bottleneck', '8', '--block-convs', '0', '--out', out, '--backend', TEST_BACKEND]);
  assertOneLineError(r, 2, /--bottleneck needs a convolution after the last block's first/);
  assert.deepEqual(fs.readdirSync(out), []);
});
