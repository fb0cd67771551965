// A first run says how long it takes here before its first batch, and the faster routes it does not
// take with their factor measured on this machine (estimate.ts). No speed is asserted: only that the
// line comes, where, and what it offers.

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { aboutDuration } from '../../src/train/estimate';
import { onednnStatus } from '../../src/backend/onednn';
import { SMALL_RUN_TIMEOUT, smallRunFlags, TEST_BACKEND } from '../helpers/small-run';
import { lines, runNin, startNin, waitForOutput } from '../helpers/cli';
import { removeTempDirs, tempDir } from '../helpers/idx';

after(removeTempDirs);

describe('the estimate line', () => {
  test('durations read as a person says them', () => {
    assert.deepEqual([0.2, 42, 600, 3 * 3600 + 1500, 30 * 3600, 9 * 86400].map(aboutDuration), [
      '~1 s',
      '~42 s',
      '~10 min',
      '~3.4 h',
      '~30.0 h',
      '~9 days',
    ]);
  });

  test('a small run: the estimate comes after the data line and before the first epoch, without routes', async () => {
    const out = tempDir('nin-estimate-small-');
    const r = await runNin(['train', ...smallRunFlags(), '--epochs', '1', '--out', out, '--run', 'r'], { timeoutMs: SMALL_RUN_TIMEOUT });
    assert.equal(r.code, 0, r.stderr);
    const err = lines(r.stderr);
    const at = err.findIndex((l) => l.startsWith('estimate: '));
    if (TEST_BACKEND === 'cpu') {
      // Four 67px images: the pure-JS warm-up (one image) would be a quarter of the run, so there is none.
      assert.equal(at, -1, r.stderr);
      return;
    }
    assert.match(err[at], /^estimate: ~\d+ s here \([\d.]+ s a batch of 16\)$/, r.stderr);
    assert.ok(at > err.findIndex((l) => l.startsWith('data: ')), r.stderr);
  });

  test("d2l's whole run: hours, with each faster route and its factor", async () => {
    const out = tempDir('nin-estimate-d2l-');
    const proc = startNin(['train', '--backend', TEST_BACKEND, '--out', out, '--run', 'r', '--log-every', '0'], { timeoutMs: 300_000 });
    await waitForOutput(proc, (_o, err) => /^estimate: /m.test(err), 300_000);
    proc.child.kill('SIGINT');
    const r = await proc.done;
    const line = lines(r.stderr).find((l) => l.startsWith('estimate: '));
    if (TEST_BACKEND === 'cpu') {
      assert.match(
        line ?? '',
        /^estimate: ~[\d.]+ (h|days|years) here: the cpu backend's pure-JS kernels train ~[\d.e-]+ images\/s at 224px; the onednn backend \(apt-get install libdnnl-dev, then npm rebuild\) is ~2,000x faster$/,
        r.stderr,
      );
      return;
    }
    const bf16 = onednnStatus().nativeBf16 ? '--precision auto [\\d.]+x, ' : '';
    assert.match(
      line ?? '',
      new RegExp(
        `^estimate: ~[\\d.]+ (h|days) here \\([\\d.]+ s a batch of 128\\); faster here: ${bf16}--image-size 96 [\\d.]+x, --recipe best [\\d.]+x \\(96px, ~0\\.92 test acc in 10 epochs\\)$`,
      ),
      r.stderr,
    );
    assert.equal(r.code, 130, r.stderr);
    assert.match(lines(r.stderr).at(-1) ?? '', /^nin: interrupted by SIGINT; /, r.stderr);
  });

  test(
    'the cpu backend says how slow it is before it starts, and what is faster',
    { skip: TEST_BACKEND === 'cpu' && 'covered above' },
    async () => {
      const out = tempDir('nin-estimate-cpu-');
      const args = ['train', '--backend', 'cpu', '--image-size', '96', '--epochs', '1', '--out', out, '--run', 'r', '--log-every', '0'];
      const proc = startNin(args, { timeoutMs: 300_000 });
      await waitForOutput(proc, (_o, err) => /^estimate: /m.test(err), 300_000);
      proc.child.kill('SIGKILL'); // only the line is wanted; the first batch would take hours
      const r = await proc.done;
      assert.match(
        lines(r.stderr).find((l) => l.startsWith('estimate: ')) ?? '',
        /^estimate: ~[\d.]+ (h|days|years) here: the cpu backend's pure-JS kernels train ~[\d.e-]+ images\/s at 96px; --backend onednn is ~2,000x faster$/,
        r.stderr,
      );
    },
  );

  test('a run that already takes the routes is offered none of them', async () => {
    const out = tempDir('nin-estimate-best-');
    const precision = TEST_BACKEND === 'onednn' ? ['--precision', 'auto'] : [];
    const args = ['train', '--recipe', 'best', '--backend', TEST_BACKEND, ...precision, '--out', out, '--run', 'r', '--log-every', '0'];
    const proc = startNin(args, { timeoutMs: 300_000 });
    await waitForOutput(proc, (_o, err) => /^estimate: /m.test(err), 300_000);
    proc.child.kill('SIGINT');
    const r = await proc.done;
    assert.doesNotMatch(r.stderr, /faster here/, r.stderr);
  });
});
