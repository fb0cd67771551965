// The CLI as a process: `nin shapes` against d2l's notebook, and every kind of bad command-line
// input ending in one line that names the option and the fix, exit code 2, no stack, nothing written.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertOneLineError, lines, NIN_BIN, REPO_ROOT, runNin } from '../helpers/cli';
import { RECIPES } from '../../src/config/recipes';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { spawn } from 'node:child_process';
import * as cliModule from '../../src/cli/main';
import * as configCheckModule from '../../src/config/check';
import { DEFAULT_CONFIG } from '../../src/config/config';

after(removeTempDirs);

const escape = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

describe('nin shapes', () => {
  test('--json equals the notebook table (d2l-nin-notebook.txt lines 79-88) and its parameter count', async () => {
    const r = await runNin(['shapes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(
      result.layers.map((l: { name: string; outputShape: number[] }) => [l.name, l.outputShape]),
      [
        ['Sequential', [1, 96, 54, 54]],
        ['MaxPool2d', [1, 96, 26, 26]],
        ['Sequential', [1, 256, 26, 26]],
        ['MaxPool2d', [1, 256, 12, 12]],
        ['Sequential', [1, 384, 12, 12]],
        ['MaxPool2d', [1, 384, 5, 5]],
        ['Dropout', [1, 384, 5, 5]],
        ['Sequential', [1, 10, 5, 5]],
        ['AdaptiveAvgPool2d', [1, 10, 1, 1]],
        ['Flatten', [1, 10]],
      ],
    );
    assert.equal(result.totalParams, 1992166);
    assert.equal(result.imageSize, 224);
  });

  test('the text table prints one row per notebook line, then the totals and the memory table', async () => {
    const r = await runNin(['shapes']);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, 11 + 1 + 2 + 11);
    assert.match(out[0], /^Sequential output shape:\s+\[1, 96, 54, 54\]/);
    assert.match(out[9], /^Flatten output shape:\s+\[1, 10\]/);
    assert.match(out[10], /total params: 1,992,166/);
    assert.match(out[11], /total mult-adds: 762,297,352 per image/);
  });

  test('--image-size 67 is the smallest that works; 66 exits 2 naming --image-size', async () => {
    const ok = await runNin(['shapes', '--json', '--image-size', '67']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).layers[5].outputShape, [1, 384, 1, 1]);
    assertOneLineError(await runNin(['shapes', '--image-size', '66']), 2, /--image-size/, /67/);
  });
});

// Every numeric option, with the values that must be refused. Zero is valid where 0 means "none".
interface NumericOption {
  command: string;
  option: string;
  zeroValid: boolean;
  integer: boolean;
}

const NUMERIC: NumericOption[] = [
  { command: 'train', option: '--lr', zeroValid: false, integer: false },
  { command: 'train', option: '--epochs', zeroValid: false, integer: true },
  { command: 'train', option: '--batch-size', zeroValid: false, integer: true },
  { command: 'train', option: '--image-size', zeroValid: false, integer: true },
  { command: 'train', option: '--momentum', zeroValid: true, integer: false },
  { command: 'train', option: '--weight-decay', zeroValid: true, integer: false },
  { command: 'train', option: '--seed', zeroValid: true, integer: true },
  { command: 'train', option: '--train-limit', zeroValid: false, integer: true },
  { command: 'train', option: '--test-limit', zeroValid: false, integer: true },
  { command: 'train', option: '--threads', zeroValid: false, integer: true },
  { command: 'eval', option: '--test-limit', zeroValid: false, integer: true },
  { command: 'eval', option: '--batch-size', zeroValid: false, integer: true },
  { command: 'eval', option: '--threads', zeroValid: false, integer: true },
  { command: 'shapes', option: '--image-size', zeroValid: false, integer: true },
  { command: 'shapes', option: '--batch-size', zeroValid: false, integer: true },
  { command: 'shapes', option: '--block-convs', zeroValid: true, integer: true },
  { command: 'shapes', option: '--block-kernel', zeroValid: false, integer: true },
  { command: 'shapes', option: '--width', zeroValid: false, integer: false },
  { command: 'shapes', option: '--bottleneck', zeroValid: false, integer: true },
  { command: 'bench', option: '--image-size', zeroValid: false, integer: true },
  { command: 'bench', option: '--batch-size', zeroValid: false, integer: true },
  { command: 'bench', option: '--steps', zeroValid: false, integer: true },
  { command: 'bench', option: '--threads', zeroValid: false, integer: true },
];

function badValues(o: NumericOption): string[] {
  const values = ['abc', '', 'NaN', '-3', '1e999', '99999999999999999999', '12abc'];
  if (!o.zeroValid) values.push('0');
  if (o.integer) values.push('1.5');
  return values;
}

describe('bad numbers exit 2 with one line naming the option and its range', { concurrency: 4 }, () => {
  for (const o of NUMERIC) {
    for (const value of badValues(o)) {
      test(`${o.command} ${o.option} ${JSON.stringify(value)}`, async () => {
        const out = tempDir('nin-cli-');
        fs.writeFileSync(path.join(out, 'keep.txt'), 'untouched');
        const args = [o.command, `${o.option}=${value}`];
        if (o.command === 'train') args.push('--out', out, '--run', 'r');
        if (o.command === 'eval') args.push(out);
        const r = await runNin(args, { timeoutMs: 30_000 });
        assertOneLineError(r, 2, escape(o.option), /must be/);
        assert.deepEqual(fs.readdirSync(out), ['keep.txt'], 'nothing may be written');
      });
    }
  }
  // The space-separated form too, where a negative number looks like an option.
  for (const [command, option] of [
    ['train', '--batch-size'],
    ['train', '--lr'],
    ['bench', '--steps'],
  ]) {
    test(`${command} ${option} -3 (separate argument)`, async () => {
      assertOneLineError(await runNin([command, option, '-3'], { timeoutMs: 30_000 }), 2, escape(option));
    });
  }
});

describe('other usage errors exit 2 with one line', { concurrency: 4 }, () => {
  const cases: [string, string[], RegExp[]][] = [
    ['--backend nope', ['train', '--backend', 'nope'], [/--backend/, /auto, webgpu, tensorflow, onednn, cpu/]],
    ['eval --backend nope', ['eval', 'x', '--backend', 'nope'], [/--backend/]],
    ['--optimizer nope', ['train', '--optimizer', 'nope'], [/--optimizer/, /sgd/]],
    ['an unknown flag', ['train', '--bogus'], [/unknown option '--bogus'/, /--help/]],
    ['a misspelt flag', ['train', '--learning-rate', '0.1'], [/unknown option '--learning-rate'/]],
    ['eval without a checkpoint', ['eval'], [/missing required argument 'checkpoint'/]],
    ['an unknown command', ['frobnicate'], [/unknown command 'frobnicate'/]],
    ['a value missing at the end', ['train', '--lr'], [/--lr/, /argument missing/]],
    ['--run and --resume together', ['train', '--run', 'a', '--resume', '/tmp/x'], [/--run and --resume/]],
    [
      '--resume with recipe options',
      ['train', '--resume', '/tmp/x', '--lr', '0.2', '--seed', '3', '--epochs', '4'],
      [/--resume continues a run with its own recipe/, /--lr, --seed cannot change/, /--init-weights/],
    ],
    ['a --run name with a slash', ['train', '--run', 'a/b', '--out', '/tmp/nin-cli-never'], [/--run/, /letters, digits/]],
  ];
  for (const [name, args, patterns] of cases) {
    test(name, async () => assertOneLineError(await runNin(args, { timeoutMs: 30_000 }), 2, ...patterns));
  }

  test('--help and --version exit 0 on stdout', async () => {
    const help = await runNin(['train', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--lr <number>/);
    const version = await runNin(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });
});

describe('numbers on the command line are decimal only, in the ranges config.json is checked against', () => {
  // Imported here so the tests above keep their own imports.
  const cli = () => cliModule;
  const rules = () => configCheckModule.CONFIG_RULES;

  /** The parser `nin <command>` declares for `flag`. */
  function parser(command: string, flag: string): (value: string) => unknown {
    const cmd = cli()
      .buildProgram()
      .commands.find((c) => c.name() === command);
    const option = cmd?.options.find((o) => o.long === flag);
    assert.ok(option?.parseArg, `${command} ${flag} has a parser`);
    return (value: string) => option.parseArg!(value, undefined as never);
  }

  test('hexadecimal, binary, octal, separators and padding are refused; decimal forms pass', () => {
    const refusedValues = ['0x10', '0X1', '0b1', '0o7', '1_000', ' 16', '16 ', '0x1p3', 'Infinity', '+', '.', '1e', '--1'];
    for (const [command, flag] of [
      ['train', '--lr'],
      ['train', '--momentum'],
      ['train', '--epochs'],
      ['train', '--seed'],
      ['train', '--warmup-epochs'],
      ['bench', '--steps'],
      ['predict', '--top'],
    ]) {
      const parse = parser(command, flag);
      for (const value of refusedValues)
        assert.throws(() => parse(value), new RegExp(`${flag} must be`), `${command} ${flag} ${JSON.stringify(value)}`);
    }
    const lr = parser('train', '--lr');
    for (const [value, expected] of [
      ['0.1', 0.1],
      ['.5', 0.5],
      ['1e-3', 0.001],
      ['+2', 2],
      ['3.', 3],
      ['16', 16],
    ] as const)
      assert.equal(lr(value), expected);
    assert.equal(parser('train', '--epochs')('+12'), 12);
  });

  test('the CLI and validateConfig agree on every numeric range (the same rule table)', () => {
    for (const [key, rule] of Object.entries(rules())) {
      if (rule.kind !== 'integer' && rule.kind !== 'real') continue;
      const parse = parser('train', rule.flag);
      const exclusive = rule.kind === 'real' && rule.minExclusive;
      const step = rule.kind === 'integer' ? 1 : rule.max / 1e6;
      if (!exclusive) assert.equal(parse(String(rule.min)), rule.min, `${key} min`);
      else assert.throws(() => parse(String(rule.min)), `${key} exclusive min`);
      assert.equal(parse(String(rule.max)), rule.max, `${key} max`);
      assert.throws(() => parse(String(rule.max + step)), `${key} above max`);
      assert.throws(() => parse(String(rule.min - step)), `${key} below min`);
    }
  });

  test('nin train --lr 0x10 and --lr 0b1 exit 2 naming --lr; nothing is written', async () => {
    for (const value of ['0x10', '0b1']) {
      const out = tempDir('nin-cli-');
      assertOneLineError(
        await runNin(['train', '--lr', value, '--out', out, '--run', 'r'], { timeoutMs: 30_000 }),
        2,
        /--lr must be a number above 0 and at most 10000/,
      );
      assert.deepEqual(fs.readdirSync(out), []);
    }
  });
});

describe('a reader that closes the pipe early: read-only commands end quietly, exit 0', () => {
  /** Runs nin with its stdout (or stderr) pipe closed before nin writes to it. */
  function withClosedPipe(args: string[], which: 'stdout' | 'stderr'): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [NIN_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      if (which === 'stdout') {
        child.stdout.destroy();
        child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      } else {
        child.stderr.destroy();
        child.stdout.resume();
      }
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  test('nin shapes | true, nin shapes --json | head -c0, nin plot | true: no EPIPE trace', async () => {
    const run = tempDir('nin-epipe-');
    fs.writeFileSync(
      path.join(run, 'metrics.jsonl'),
      JSON.stringify({ epoch: 1, loss: 1, trainAcc: 0.5, testAcc: 0.5, examplesPerSec: 1, seconds: 1 }) + '\n',
    );
    for (const args of [['shapes'], ['shapes', '--json'], ['plot', run, '--out', path.join(run, 'f.svg')]]) {
      const r = await withClosedPipe(args, 'stdout');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '', args.join(' '));
    }
  });

  test("a closed stderr does not turn an error into a crash: the exit code stays the command's", async () => {
    const r = await withClosedPipe(['eval', path.join(tempDir('nin-epipe-'), 'missing')], 'stderr');
    assert.equal(r.code, 1);
  });
});

describe('nin train --config and --print-config', { concurrency: 4 }, () => {
  const printConfig = async (args: string[], cwd?: string) => {
    const r = await runNin(['train', '--print-config', ...args], { timeoutMs: 30_000, cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    return { text: r.stdout, config: JSON.parse(r.stdout) };
  };

  test('--print-config prints the resolved config as JSON that validateConfig accepts, and creates nothing', async () => {
    const cwd = tempDir('hc-print-');
    const { text, config } = await printConfig(['--recipe', 'best', '--seed', '3', '--backend', 'cpu'], cwd);
    assert.deepEqual(configCheckModule.validateConfig(config, 'stdout'), config);
    assert.equal(text, JSON.stringify(config, null, 2) + '\n', "exactly config.json's form");
    assert.equal(config.seed, 3);
    assert.equal(config.learningRate, RECIPES.best.values.learningRate);
    assert.equal(config.backend, 'cpu');
    assert.deepEqual(fs.readdirSync(cwd), [], 'no checkpoints/ or run directory');
  });

  test('--config FILE --print-config: the file, flags overriding it; a relative dataDir is relative to the file', async () => {
    const dir = tempDir('hc-config-');
    const { config: base } = await printConfig(['--recipe', 'best', '--epochs', '3']);
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ ...base, dataDir: 'fm' }, null, 2));
    const { config } = await printConfig(['--config', file, '--lr', '0.2', '--threads', '2']);
    assert.deepEqual(config, { ...base, dataDir: path.join(dir, 'fm'), learningRate: 0.2, threads: 2 });
  });

  const bad = (name: string, content: string, code: number, ...patterns: RegExp[]) =>
    test(`a bad config file (${name}): exit ${code}, one line naming the file`, async () => {
      const file = path.join(tempDir('hc-bad-'), 'config.json');
      fs.writeFileSync(file, content);
      assertOneLineError(
        await runNin(['train', '--config', file, '--print-config'], { timeoutMs: 30_000 }),
        code,
        escape(file),
        ...patterns,
      );
    });
  bad('not JSON', '{"lr": ', 1, /not valid JSON/);
  bad('an unknown key', '{"lr": 0.1}', 1, /"lr" is not a nin config key/);
  bad('a value out of range', JSON.stringify({ ...DEFAULT_CONFIG, epochs: 0 }), 1, /epochs is 0/, /--epochs/);

  test('a missing config file: exit 1, one line', async () =>
    assertOneLineError(
      await runNin(['train', '--config', '/tmp/hc-never/config.json'], { timeoutMs: 30_000 }),
      1,
      /hc-never\/config\.json is missing/,
    ));

  const refusals: [string, string[], RegExp[]][] = [
    [
      '--config with --recipe',
      ['train', '--config', '/tmp/hc-never.json', '--recipe', 'best'],
      [/--config and --recipe exclude each other/],
    ],
    [
      '--config with --resume',
      ['train', '--config', '/tmp/hc-never.json', '--resume', '/tmp/hc-never'],
      [/--resume/, /--config cannot go with it/],
    ],
    [
      '--print-config with --resume',
      ['train', '--print-config', '--resume', '/tmp/hc-never'],
      [/--print-config cannot go with it/, /config\.json/],
    ],
  ];
  for (const [name, args, patterns] of refusals) {
    test(`${name}: exit 2, one line`, async () => assertOneLineError(await runNin(args, { timeoutMs: 30_000 }), 2, ...patterns));
  }
});
