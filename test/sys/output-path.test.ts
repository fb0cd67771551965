// Every path a command writes that the user named goes through one guard (src/output-path.ts),
// before any work: never a run's own file, never into a checkpoint, never over a directory or a
// device, never under /proc, /sys or /dev, and only in the format the extension names.
// nin plot, nin lr-find (its --out was checked only after all steps ran, and took any name),
// and nin train's --out and --tensorboard (refused only after the run directory was created).

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../src/sys/errors';
import { checkOutputDir, checkOutputFile, type OutputFileRule } from '../../src/sys/output-path';
import { DEFAULT_FONT } from '../../src/report/plot';
import { RUN_FILES } from '../../src/run/layout';
import { assertOneLineError, runNin } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { metricsLine } from '../helpers/serve-runs';
import { smallRunFlags, TEST_BACKEND } from '../helpers/small-run';

after(removeTempDirs);

const FIGURE: OutputFileRule = { flag: '--out', command: 'nin lr-find', formats: ['svg', 'png'] };

/** A run with its own files and both checkpoints, each file holding its own name. */
function fullRun(): string {
  const dir = path.join(tempDir('nin-out-'), 'run');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, RUN_FILES.config), '{}');
  fs.writeFileSync(path.join(dir, RUN_FILES.metricsJsonl), metricsLine(1));
  for (const sub of ['last', 'best']) {
    fs.mkdirSync(path.join(dir, sub));
    for (const f of ['meta.json', 'model.json', 'weights.bin']) fs.writeFileSync(path.join(dir, sub, f), `${sub}/${f}`);
  }
  return dir;
}

/** Every file under `dir` with its content: what must not change. */
function contents(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (e.isFile()) files[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
  }
  return files;
}

function refused(check: () => unknown, pattern: RegExp): void {
  assert.throws(check, (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
}

describe('checkOutputFile: a figure the user names', () => {
  test("a run's own files, a checkpoint's, and a link to one of them are refused", () => {
    const run = fullRun();
    for (const name of ['config.json', 'metrics.jsonl', 'metrics.csv', '.lock', 'report-best.json', 'CONFIG.JSON'])
      refused(() => checkOutputFile(path.join(run, name), FIGURE), /is the run's own .*; nin lr-find never overwrites a run's files/);
    for (const file of ['best/weights.bin', 'last/meta.json', 'best/plot.svg', 'last/new/plot.svg'])
      refused(
        () => checkOutputFile(path.join(run, file), FIGURE),
        /is inside the checkpoint .*; nin lr-find never writes into a checkpoint/,
      );
    const link = path.join(path.dirname(run), 'innocent.svg');
    fs.symlinkSync(path.join(run, 'best', 'weights.bin'), link);
    refused(() => checkOutputFile(link, FIGURE), /is inside the checkpoint/);
    // curves.svg is the run's own figure: nin plot draws it, nothing else replaces it.
    refused(() => checkOutputFile(path.join(run, 'curves.svg'), FIGURE), /the run's own curves\.svg/);
    assert.equal(checkOutputFile(path.join(run, 'curves.svg'), { ...FIGURE, ownFile: RUN_FILES.curves }), 'svg');
  });

  test('a directory, a FIFO, a device, /proc, /sys, a file on the way, an empty name are refused', () => {
    const dir = tempDir('nin-out-');
    const pipe = path.join(dir, 'pipe.svg');
    execFileSync('mkfifo', [pipe]);
    fs.writeFileSync(path.join(dir, 'file'), '');
    const cases: [string, RegExp][] = [
      [dir, /is a directory; pass a file name ending in \.svg or \.png/],
      [pipe, /is not a regular file \(a device, pipe or socket\)/],
      ['/dev/null', /is not a regular file/],
      ['/proc/nin-plot.svg', /is not writable \(\/proc holds the system's own files, not yours\)/],
      ['/sys/kernel/nin.svg', /is not writable \(\/sys holds/],
      [path.join(dir, 'file', 'plot.svg'), /is not writable \(.*file is a file, not a directory\)/],
      ['', /--out '' names no file/],
    ];
    for (const [out, pattern] of cases) refused(() => checkOutputFile(out, FIGURE), pattern);
  });

  test('the extension names the format: .svg or .png (any case); anything else, or a contradiction with --png, is refused', () => {
    const dir = tempDir('nin-out-');
    assert.equal(checkOutputFile(path.join(dir, 'a.svg'), FIGURE), 'svg');
    assert.equal(checkOutputFile(path.join(dir, 'new', 'deeper', 'A.PNG'), FIGURE), 'png');
    refused(
      () => checkOutputFile(path.join(dir, 'a.jpg'), FIGURE),
      /nin lr-find writes SVG or PNG only; end the file name with \.svg or \.png/,
    );
    refused(() => checkOutputFile(path.join(dir, 'a'), FIGURE), /end the file name with \.svg or \.png/);
    refused(
      () => checkOutputFile(path.join(dir, 'a.svg'), { ...FIGURE, asked: 'png' }),
      /--png asks for PNG but --out .*a\.svg names an SVG file; drop --png or end --out with \.png/,
    );
    assert.deepEqual(fs.readdirSync(dir), [], 'checking creates nothing');
    // A directory with a model.json of its own (a TF.js project) is no checkpoint: figures may go there.
    fs.writeFileSync(path.join(dir, 'model.json'), '{}');
    assert.equal(checkOutputFile(path.join(dir, 'lr-find.svg'), FIGURE), 'svg');
    checkOutputDir(path.join(dir, 'checkpoints'), { flag: '--out', purpose: 'a directory for checkpoints' });
  });
});

describe('checkOutputDir: a directory the user names for a command to write into', () => {
  test("'', a file, a run's file, a checkpoint, /proc: refused; a new or existing directory: fine", () => {
    const run = fullRun();
    const rule = { flag: '--tensorboard', purpose: 'a directory for event files' };
    refused(() => checkOutputDir('', rule), /--tensorboard '' names no directory/);
    refused(() => checkOutputDir(path.join(run, 'metrics.jsonl'), rule), /is the run's own metrics\.jsonl/);
    refused(() => checkOutputDir(path.join(run, 'report-last.json'), rule), /is the run's own report-last\.json/);
    refused(() => checkOutputDir(path.join(run, 'best'), rule), /is the run's own best/);
    refused(
      () => checkOutputDir(path.join(run, 'last', 'tb'), rule),
      /is inside the checkpoint .*last; nin never writes into a checkpoint/,
    );
    refused(() => checkOutputDir('/proc/nin-tb', rule), /is not writable \(\/proc holds/);
    const file = path.join(path.dirname(run), 'a-file');
    fs.writeFileSync(file, '');
    refused(() => checkOutputDir(file, rule), /--tensorboard .*a-file is a file; pass a directory for event files/);
    checkOutputDir(path.join(run, 'tensorboard'), rule);
    checkOutputDir(path.dirname(run), rule);
  });
});

describe('the commands check before they work', () => {
  const small = ['--image-size', '67', '--batch-size', '4', '--steps', '2', '--train-limit', '8', '--backend', TEST_BACKEND];

  test("nin lr-find --out at a run's weights, config or log: one usage line before any step, nothing changed", async () => {
    const run = fullRun();
    const before = contents(run);
    for (const [out, pattern] of [
      [path.join(run, 'best', 'weights.bin'), /--out .*best\/weights\.bin is inside the checkpoint/],
      [path.join(run, 'config.json'), /is the run's own config\.json; nin lr-find never overwrites a run's files/],
      [path.join(run, 'metrics.jsonl'), /is the run's own metrics\.jsonl/],
      [path.join(path.dirname(run), 'lr.jpg'), /nin lr-find writes SVG or PNG only/],
    ] as const) {
      const r = await runNin(['lr-find', ...small, '--out', out]);
      // One line: the refusal, before even the banner that opens the range test.
      assertOneLineError(r, 2, pattern);
    }
    assert.deepEqual(contents(run), before);
    assert.ok(!fs.existsSync(path.join(path.dirname(run), 'lr.jpg')));
  });

  test(
    'nin lr-find --out x.png writes a PNG, as nin plot does',
    { skip: fs.existsSync(DEFAULT_FONT) ? false : `${DEFAULT_FONT} is missing (apt-get install fonts-dejavu-core)` },
    async () => {
      const out = path.join(tempDir('nin-out-'), 'lr.png');
      const r = await runNin(['lr-find', ...small, '--out', out, '--json'], { timeoutMs: 300_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).plot, out);
      assert.deepEqual([...fs.readFileSync(out).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    },
  );

  test("nin train --tensorboard onto a file, under /proc, or '': one usage line, no run directory created", async () => {
    const out = tempDir('nin-out-');
    const file = path.join(tempDir('nin-out-'), 'a-file');
    fs.writeFileSync(file, 'mine');
    const cases: [string, RegExp][] = [
      [file, /--tensorboard .*a-file is a file; pass a directory for event files/],
      ['/proc/nin-tensorboard', /--tensorboard \/proc\/nin-tensorboard is not writable/],
      ['', /--tensorboard '' names no directory/],
    ];
    for (const [dir, pattern] of cases) {
      const r = await runNin(['train', ...smallRunFlags(), '--epochs', '1', '--out', out, '--run', 'r', '--tensorboard', dir]);
      assertOneLineError(r, 2, pattern);
      assert.deepEqual(fs.readdirSync(out), [], 'no run directory was created');
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
    const inside = fullRun();
    assertOneLineError(
      await runNin(['train', ...smallRunFlags(), '--epochs', '1', '--out', path.join(inside, 'best')]),
      2,
      /--out .*best is the run's own best/,
    );
  });
});
