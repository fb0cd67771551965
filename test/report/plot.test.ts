// Tests for src/plot.ts: the curves SVG (structure, points per epoch, legend), reading logs,
// `nin plot` outputs, PNG rendering with resvg and its font, and train redrawing curves.svg each epoch.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { PNG } from 'pngjs';
import type { EpochMetrics } from '../../src/run/metrics';
import { onednnStatus } from '../../src/backend/onednn';
import { resolveConfig } from '../../src/config/config';
import { NinError, UsageError } from '../../src/sys/errors';
import { DEFAULT_FONT, fontFile, plot, svgToPng } from '../../src/report/plot';
import { renderCurves } from '../../src/report/curves';
import { readHistory } from '../../src/run/metrics';
import { RunDirectory } from '../../src/run/run-dir';

const NIN_BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'nin.js');
const METRIC_KEYS = ['loss', 'trainAcc', 'testAcc'];

let work: string;

/** A plausible run: loss falling from ~2.3, accuracies rising. */
function history(epochs: number, speed = 1): EpochMetrics[] {
  return Array.from({ length: epochs }, (_, i) => {
    const loss = 2.1 * Math.exp(-(i + 1) / (3 * speed)) + 0.25;
    return { epoch: i + 1, loss, trainAcc: 1 - loss / 2.6, testAcc: 1 - loss / 2.5 - 0.02, examplesPerSec: 1000, seconds: 60 };
  });
}

function writeRun(name: string, epochs: number, planned?: number, speed = 1): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'metrics.jsonl'),
    history(epochs, speed)
      .map((m) => JSON.stringify(m) + '\n')
      .join(''),
  );
  // A whole config.json, as nin train writes it: plot checks it as --resume does.
  if (planned) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(resolveConfig({ epochs: planned })));
  return dir;
}

/** The polylines of an SVG as {run, metric, points}. */
function polylines(svg: string): { run: string; metric: string; points: number[][] }[] {
  return [...svg.matchAll(/<polyline data-run="([^"]*)" data-metric="([^"]*)"[^>]* points="([^"]*)"\/>/g)].map((m) => ({
    run: m[1],
    metric: m[2],
    points:
      m[3].trim() === ''
        ? []
        : m[3]
            .trim()
            .split(' ')
            .map((p) => p.split(',').map(Number)),
  }));
}

/** Parse-level well-formedness: one root, every tag closed in order. */
function assertWellFormed(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)) {
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[3]) stack.push(m[2]);
  }
  assert.deepEqual(stack, []);
  assert.doesNotMatch(svg.replace(/&(lt|gt|amp|quot|apos);/g, ''), /&/);
}

function nin(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [NIN_BIN, ...args], { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-plot-test-'));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('renderCurves', () => {
  test('one run: labelled axes, d2l legend, one polyline per metric with a point per epoch', () => {
    const svg = renderCurves([{ name: 'run-a', history: history(10) }]);
    assertWellFormed(svg);
    assert.match(svg, />epoch<\/text>/);
    assert.match(svg, />loss \/ accuracy<\/text>/);
    for (const label of ['train loss', 'train acc', 'test acc']) assert.match(svg, new RegExp(`>${label} \\d\\.\\d{3}</text>`));
    const lines = polylines(svg);
    assert.deepEqual(
      lines.map((l) => l.metric),
      METRIC_KEYS,
    );
    for (const l of lines) assert.equal(l.points.length, 10);
    // Distinct colours per metric; d2l's styles: solid, dashed, dash-dot.
    const strokes = [...svg.matchAll(/<polyline [^>]*stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    assert.equal(new Set(strokes).size, 3);
  });

  test('x runs left to right by epoch, y from 0 (bottom) to at least 1 (top); loss falls, accuracies rise', () => {
    const lines = polylines(renderCurves([{ name: 'r', history: history(5) }]));
    for (const l of lines) for (let i = 1; i < l.points.length; i++) assert.ok(l.points[i][0] > l.points[i - 1][0]);
    const [loss, trainAcc] = lines;
    assert.ok(loss.points[4][1] > loss.points[0][1], 'loss falls (larger SVG y)');
    assert.ok(trainAcc.points[4][1] < trainAcc.points[0][1], 'accuracy rises');
    const yTicks = [...renderCurves([{ name: 'r', history: history(5) }]).matchAll(/text-anchor="end">([\d.]+)<\/text>/g)].map((m) =>
      Number(m[1]),
    );
    assert.equal(yTicks[0], 0);
    const maxLoss = Math.max(...history(5).map((m) => m.loss));
    assert.ok(
      yTicks[yTicks.length - 1] >= maxLoss && yTicks[yTicks.length - 1] >= 1,
      `top tick ${yTicks[yTicks.length - 1]} covers the loss ${maxLoss}`,
    );
  });

  test('several runs: colour per metric, line style per run, runs in the legend', () => {
    const svg = renderCurves([
      { name: 'sgd', history: history(8) },
      { name: 'adam <fast>', history: history(5, 0.5) },
    ]);
    assertWellFormed(svg);
    const lines = polylines(svg);
    assert.equal(lines.length, 6);
    assert.deepEqual(
      lines.map((l) => l.points.length),
      [8, 8, 8, 5, 5, 5],
    );
    assert.match(svg, />sgd<\/text>/);
    assert.match(svg, />adam &lt;fast&gt;<\/text>/);
    const dash = (run: string) =>
      new Set(
        [...svg.matchAll(/<polyline [^>]*>/g)]
          .map((m) => m[0])
          .filter((tag) => tag.includes(`data-run="${run}"`))
          .map((tag) => /stroke-dasharray="([^"]*)"/.exec(tag)?.[1] ?? ''),
      );
    assert.equal(dash('sgd').size, 1);
    assert.equal(dash('adam &lt;fast&gt;').size, 1);
    assert.notDeepEqual([...dash('sgd')], [...dash('adam &lt;fast&gt;')]);
  });

  test('a run in progress keeps the planned x range; an empty history still draws axes', () => {
    const svg = renderCurves([{ name: 'r', history: history(2) }], { epochs: 10 });
    assert.match(svg, /text-anchor="middle">10<\/text>/);
    const empty = renderCurves([{ name: 'r', history: [] }]);
    assertWellFormed(empty);
    assert.match(empty, /no completed epochs yet/);
    const one = polylines(renderCurves([{ name: 'r', history: history(1) }]));
    assert.equal(one[0].points.length, 1);
    assert.ok(Number.isFinite(one[0].points[0][0]));
  });
});

describe('logs and files', () => {
  test('a run directory writes <run>/curves.svg from its history, with the planned epochs, leaving no temp file', () => {
    const dir = writeRun('written', 3, 10);
    const run = new RunDirectory(dir, resolveConfig({ epochs: 10 }));
    run.writeCurves(readHistory(dir));
    run.close();
    const file = path.join(dir, 'curves.svg');
    const svg = fs.readFileSync(file, 'utf8');
    assert.deepEqual(
      polylines(svg).map((l) => l.points.length),
      [3, 3, 3],
    );
    assert.match(svg, /text-anchor="middle">10<\/text>/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'curves.svg', 'metrics.jsonl']);
  });

  test('readHistory names the file and line of a broken log', () => {
    const dir = writeRun('broken', 2);
    fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"epoch": 3, "lo\n');
    assert.throws(
      () => readHistory(dir),
      (e: unknown) => e instanceof NinError && e.message.includes('metrics.jsonl:3 is not JSON'),
    );
    assert.throws(
      () => readHistory(path.join(work, 'nowhere')),
      (e: unknown) => e instanceof NinError && /does not exist/.test(e.message),
    );
    fs.mkdirSync(path.join(work, 'not-a-run'));
    assert.throws(
      () => readHistory(path.join(work, 'not-a-run')),
      (e: unknown) => e instanceof NinError && /metrics\.jsonl is missing/.test(e.message),
    );
  });

  test('plot: default outputs are curves.svg for one run and comparison.svg for several', () => {
    const a = writeRun('plot-a', 4);
    const b = writeRun('plot-b', 6);
    assert.equal(plot([a]).out, path.join(a, 'curves.svg'));
    const both = plot([a, b]);
    assert.equal(both.out, path.join(a, 'comparison.svg'));
    assert.deepEqual(
      both.runs.map((r) => [r.name, r.epochs]),
      [
        ['plot-a', 4],
        ['plot-b', 6],
      ],
    );
    assert.equal(polylines(fs.readFileSync(both.out, 'utf8')).length, 6);
  });

  test('PNG without a usable font is one line naming the fix, exit 1, and writes nothing', () => {
    const missing = path.join(work, 'no-such-font.ttf');
    const notFont = path.join(work, 'not-a-font.ttf');
    fs.writeFileSync(notFont, 'plain text, not a font\n');
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [
        { NIN_FONT: missing },
        /^PNG output needs a font file to draw text: NIN_FONT=.*no-such-font\.ttf is missing; set NIN_FONT to a \.ttf/,
      ],
      [{ NIN_FONT: notFont }, /NIN_FONT=.*not-a-font\.ttf is not a TrueType or OpenType font; set NIN_FONT/],
      [{ NIN_FONT: work }, /is a directory; set NIN_FONT/],
    ];
    for (const [env, pattern] of cases) {
      const png = path.join(work, 'no-font.png');
      assert.throws(
        () => svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', png, env),
        (e: unknown) => e instanceof NinError && e.exitCode === 1 && pattern.test(e.message) && !e.message.includes('\n'),
        env.NIN_FONT,
      );
      assert.ok(!fs.existsSync(png));
    }
    // Without NIN_FONT, the default names the Debian package.
    if (!fs.existsSync(DEFAULT_FONT)) assert.throws(() => fontFile({}), /apt-get install fonts-dejavu-core, or set NIN_FONT/);
    else assert.equal(fontFile({}), DEFAULT_FONT);
    assert.equal(fontFile({ NIN_FONT: '' }), fontFile({}), 'an empty NIN_FONT means unset');

    const dir = writeRun('no-font-run', 2);
    const r = nin(['plot', dir, '--png'], { ...process.env, NIN_FONT: missing });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^nin: PNG output needs a font file .*apt-get install fonts-dejavu-core\)$/m);
    assert.ok(!fs.existsSync(path.join(dir, 'curves.png')));
    // SVG draws no text itself, so it needs no font.
    assert.equal(nin(['plot', dir], { ...process.env, NIN_FONT: missing }).code, 0);
  });

  test('nin plot (process): several runs, --out, --json; a missing run is one line, exit 1', () => {
    const a = writeRun('cli-a', 3);
    const b = writeRun('cli-b', 3, undefined, 2);
    const out = path.join(work, 'cmp.svg');
    const r = nin(['plot', a, b, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      out,
      format: 'svg',
      runs: [
        { name: 'cli-a', dir: a, epochs: 3 },
        { name: 'cli-b', dir: b, epochs: 3 },
      ],
    });
    assert.ok(fs.existsSync(out));
    const missing = nin(['plot', path.join(work, 'gone')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /^nin: .*gone does not exist/);
  });
});

/** Pixels of a decoded PNG inside a box (x0 <= x < x1, y0 <= y < y1) that pass a colour test. */
function countPixels(png: PNG, box: number[], test: (r: number, g: number, b: number) => boolean): number {
  const [x0, y0, x1, y1] = box.map(Math.round);
  let count = 0;
  for (let y = Math.max(0, y0); y < Math.min(png.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(png.width, x1); x++) {
      const p = (y * png.width + x) * 4;
      if (test(png.data[p], png.data[p + 1], png.data[p + 2])) count++;
    }
  }
  return count;
}

const isDark = (r: number, g: number, b: number) => r < 60 && g < 60 && b < 60; // text (and the axes' edge)

describe(
  'PNG with resvg',
  { skip: fs.existsSync(DEFAULT_FONT) ? false : `${DEFAULT_FONT} is missing (apt-get install fonts-dejavu-core)` },
  () => {
    test('nin plot --png renders the SVG at its size: white page, curves in colour inside the axes, text drawn', () => {
      const dir = writeRun('png-run', 10);
      const svg = fs.readFileSync(plot([dir], { out: path.join(work, 'png-run.svg') }).out, 'utf8');
      const r = nin(['plot', dir, '--png']);
      assert.equal(r.code, 0, r.stderr);
      const file = path.join(dir, 'curves.png');
      assert.ok(r.stdout.startsWith(file), r.stdout);
      const png = PNG.sync.read(fs.readFileSync(file));
      const [, width, height] = (/<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg) ?? []).map(Number);
      assert.deepEqual([png.width, png.height], [width, height]);

      const whole = [0, 0, width, height];
      const white = countPixels(png, whole, (r, g, b) => r > 245 && g > 245 && b > 245);
      assert.ok(white > width * height * 0.7 && white < width * height * 0.99, `white ${white} of ${width * height}`);

      // The curves, in their colours, inside the axes.
      const [, ax, ay, aw, ah] = (/<rect class="axes" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg) ?? []).map(
        Number,
      );
      assert.ok(aw > 0 && ah > 0, 'the SVG has its axes rectangle');
      const axes = [ax + 2, ay + 2, ax + aw - 2, ay + ah - 2];
      const colours = {
        'train loss #1f77b4': countPixels(png, axes, (r, g, b) => b > 150 && r < 80 && g > 80 && g < 160),
        'train acc #bf00bf': countPixels(png, axes, (r, g, b) => r > 150 && b > 150 && g < 80),
        'test acc #008000': countPixels(png, axes, (r, g, b) => g > 100 && r < 60 && b < 60),
      };
      for (const [name, count] of Object.entries(colours)) assert.ok(count > 200, `${name} pixels in the axes: ${count}`);

      // Text, where only text is: the legend's labels right of the axes, the tick labels and "epoch"
      // below them, "loss / accuracy" left of the y ticks. resvg without a font leaves these empty.
      const [, legendX] = (/<g class="legend">\s*<line [^>]*\/>\s*<text x="([\d.]+)"/.exec(svg) ?? []).map(Number);
      assert.ok(legendX > ax + aw, 'the legend is right of the axes');
      const textAreas = {
        legend: [legendX - 1, ay, width, ay + 80],
        'x ticks and label': [ax, ay + ah + 3, ax + aw, height],
        'y label': [0, ay, 24, ay + ah],
      };
      const fontless = PNG.sync.read(new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [] } }).render().asPng());
      for (const [name, box] of Object.entries(textAreas)) {
        const dark = countPixels(png, box, isDark);
        assert.ok(dark > 60, `dark text pixels in the ${name} area: ${dark}`);
        assert.ok(countPixels(fontless, box, isDark) < dark / 10, `the ${name} check tells text from no text`);
      }
    });
  },
);

describe(
  'train draws curves.svg',
  { skip: onednnStatus().available ? false : 'needs the onednn backend (the pure-JS one trains at ~0.1 images/s)' },
  () => {
    test('after each epoch; a plotting failure only warns', async () => {
      const { train } = await import('../../src/train/train');
      const out = path.join(work, 'runs');
      const config = resolveConfig({
        epochs: 1,
        imageSize: 67,
        batchSize: 16,
        trainLimit: 16,
        testLimit: 16,
        backend: 'onednn',
        threads: 1,
        learningRate: 0.01,
      });
      const quiet = () => {};
      const first = await train({ config, out, run: 'tiny', log: quiet, print: quiet });
      const svg = fs.readFileSync(path.join(first.runDir, 'curves.svg'), 'utf8');
      assert.deepEqual(
        polylines(svg).map((l) => l.points.length),
        [1, 1, 1],
      );
      // A directory where the SVG goes makes the rename fail: training still finishes its epoch.
      fs.rmSync(path.join(first.runDir, 'curves.svg'));
      fs.mkdirSync(path.join(first.runDir, 'curves.svg'));
      const logged: string[] = [];
      const second = await train({ config, out, resume: first.runDir, resumeEpochs: 2, log: (l) => logged.push(l), print: quiet });
      assert.equal(second.history.length, 2);
      assert.ok(
        logged.some((l) => /^warning: could not draw .*curves\.svg/.test(l)),
        logged.join('\n'),
      );
    });
  },
);

describe("nin plot never overwrites a run's files, and writes only what its extension names", () => {
  /** A run with every file nin train leaves, each with known content. */
  function fullRun(name: string): { dir: string; snapshot: () => Record<string, string> } {
    const dir = writeRun(name, 3, 10);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(resolveConfig({ epochs: 10 })));
    fs.writeFileSync(path.join(dir, 'metrics.csv'), 'epoch,loss\n');
    for (const sub of ['last', 'best']) {
      fs.mkdirSync(path.join(dir, sub));
      for (const f of ['meta.json', 'model.json', 'weights.bin']) fs.writeFileSync(path.join(dir, sub, f), `${sub}/${f}`);
    }
    const snapshot = () => {
      const files: Record<string, string> = {};
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else files[path.relative(dir, p)] = fs.readFileSync(p, 'utf8');
        }
      };
      walk(dir);
      return files;
    };
    return { dir, snapshot };
  }

  test("--out at a run's metrics.jsonl, config.json, metrics.csv or inside last/ or best/ is refused (exit 2), nothing changes", () => {
    const { dir, snapshot } = fullRun('own-files');
    const before = snapshot();
    const outs: [string, RegExp][] = [
      [path.join(dir, 'metrics.jsonl'), /is the run's own metrics\.jsonl; nin plot never overwrites a run's files/],
      [path.join(dir, 'config.json'), /is the run's own config\.json/],
      [path.join(dir, 'metrics.csv'), /is the run's own metrics\.csv/],
      [path.join(dir, 'last', 'meta.json'), /is inside the checkpoint .*last; nin plot never writes into a checkpoint/],
      [path.join(dir, 'best', 'curves.svg'), /is inside the checkpoint .*best/],
      [path.join(dir, 'last', 'weights.bin'), /is inside the checkpoint/],
    ];
    for (const [out, pattern] of outs) {
      assert.throws(
        () => plot([dir], { out }),
        (e: unknown) => e instanceof UsageError && pattern.test(e.message) && !e.message.includes('\n'),
        out,
      );
      const r = nin(['plot', dir, '--out', out]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
    assert.deepEqual(snapshot(), before);
    // Redrawing the run's own figure is what plot is for.
    assert.equal(plot([dir]).out, path.join(dir, 'curves.svg'));
  });

  test('--out must end in .svg or .png; --png with an .svg name is a contradiction; a directory is refused', () => {
    const { dir } = fullRun('extensions');
    const cases: [string, boolean, RegExp][] = [
      [path.join(work, 'x.jpg'), false, /writes SVG or PNG only; end the file name with \.svg or \.png/],
      [path.join(work, 'x'), false, /end the file name with \.svg or \.png/],
      [path.join(work, 'x.svg'), true, /--png asks for PNG but --out .* names an SVG file/],
      [work, false, /is a directory/],
    ];
    for (const [out, png, pattern] of cases) {
      assert.throws(
        () => plot([dir], { out, png }),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && pattern.test(e.message),
        out,
      );
      assert.ok(!fs.existsSync(out) || out === work);
    }
    const r = nin(['plot', dir, '--out', path.join(work, 'x.jpg')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^nin: --out .*x\.jpg: nin plot writes SVG or PNG only/);
    assert.ok(!fs.existsSync(path.join(work, 'x.jpg')));
    // Upper case is the same format.
    assert.equal(plot([dir], { out: path.join(work, 'UPPER.SVG') }).format, 'svg');
  });

  test('readHistory checks every row: types, ranges, NaN-free, one row per epoch in order', () => {
    const cases: [string, RegExp][] = [
      ['null', /:1: the row is null; it must be an object/],
      [
        '{"epoch":1,"loss":"abc","trainAcc":0.5,"testAcc":0.5,"examplesPerSec":1,"seconds":1}',
        /:1: loss is "abc"; it must be a finite number of at least 0/,
      ],
      [
        '{"epoch":1,"loss":1,"trainAcc":1.5,"testAcc":0.5,"examplesPerSec":1,"seconds":1}',
        /trainAcc is 1\.5; it must be a number from 0 to 1/,
      ],
      [
        '{"epoch":2,"loss":1,"trainAcc":0.5,"testAcc":0.5,"examplesPerSec":1,"seconds":1}',
        /:1: epoch is 2; it must be 1 \(one row per epoch, in order\)/,
      ],
      [
        '{"epoch":1,"loss":1e999,"trainAcc":0.5,"testAcc":0.5,"examplesPerSec":1,"seconds":1}',
        /loss is Infinity; it must be a finite number/,
      ],
      ['[1,2,3]', /the row is \[1,2,3\]; it must be an object/],
    ];
    for (const [line, pattern] of cases) {
      const dir = path.join(work, `rows-${cases.findIndex((c) => c[0] === line)}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'metrics.jsonl'), line + '\n');
      assert.throws(
        () => readHistory(dir),
        (e: unknown) => e instanceof NinError && pattern.test(e.message) && /nin train rewrites it/.test(e.message),
        line,
      );
    }
  });

  test('a config.json with a bad epochs is one line naming it, not a strange x axis', () => {
    const dir = writeRun('bad-config', 2);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...resolveConfig({}), epochs: -5 }));
    assert.throws(
      () => plot([dir], { out: path.join(work, 'bad-config.svg') }),
      (e: unknown) =>
        e instanceof NinError && /config\.json: epochs is -5; it must be a whole number from 1 to 10000 \(as --epochs\)/.test(e.message),
    );
  });
});
