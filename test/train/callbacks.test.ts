// The epoch loop's policies behind one interface (src/train/callbacks/): early stopping decides before an epoch,
// best/ follows the monitored accuracy, and a caller's own listener can end a run normally after an epoch with
// its reason recorded (what branch sweep's pruning needs).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig } from '../../src/config/config';
import type { EpochMetrics } from '../../src/run/metrics';
import { BestCheckpoint } from '../../src/train/callbacks/best-checkpoint';
import { CHANCE_LOSS_ABOVE } from '../../src/train/callbacks/dead-classes';
import { EarlyStopping } from '../../src/train/callbacks/early-stopping';
import { train } from '../../src/train/train';
import { removeTempDirs, tempDir } from '../helpers/idx';
import { SMALL_RUN_TIMEOUT, TEST_BACKEND } from '../helpers/small-run';

after(removeTempDirs);

const row = (epoch: number, testAcc: number): EpochMetrics => ({
  epoch,
  loss: 1,
  trainAcc: 0.5,
  testAcc,
  examplesPerSec: 10,
  seconds: 1,
});

test('early stopping ends the run before an epoch once the monitored accuracy has not improved for --early-stop epochs', () => {
  const stopping = new EarlyStopping(resolveConfig({ earlyStop: 2, epochs: 10 }));
  assert.equal(stopping.beforeEpoch(3, [row(1, 0.5), row(2, 0.4)]), null);
  assert.deepEqual(stopping.beforeEpoch(4, [row(1, 0.5), row(2, 0.4), row(3, 0.45)]), {
    reason: 'early stop: testAcc has not improved on 0.500 for 2 epochs (--early-stop 2); ending before epoch 4 of 10',
  });
  assert.equal(new EarlyStopping(resolveConfig({})).beforeEpoch(4, [row(1, 0.5), row(2, 0.4), row(3, 0.4)]), null);
});

test('best/ is saved when the monitored accuracy beats every earlier epoch (a resumed run remembers its best)', async () => {
  const saved: number[] = [];
  const best = new BestCheckpoint(resolveConfig({}), [row(1, 0.6)], async (epoch) => void saved.push(epoch));
  const end = (epoch: number, testAcc: number) => ({ epoch, metrics: row(epoch, testAcc), history: [], dead: [], steps: 100 });
  await best.onEpochEnd(end(2, 0.55));
  await best.onEpochEnd(end(3, 0.61));
  await best.onEpochEnd(end(4, 0.61));
  assert.deepEqual(saved, [3]);
});

test("the chance-level hint's threshold is named: ln 10 less about 0.02", () => {
  assert.ok(CHANCE_LOSS_ABOVE < Math.log(10) && Math.log(10) - CHANCE_LOSS_ABOVE < 0.03);
});

test(
  "a caller's listener ends the run after an epoch, normally, with its reason logged and returned",
  { timeout: SMALL_RUN_TIMEOUT },
  async () => {
    const out = tempDir('nin-listener-');
    const small =
      TEST_BACKEND === 'onednn' ? { trainLimit: 64, testLimit: 32, batchSize: 16 } : { trainLimit: 4, testLimit: 4, batchSize: 4 };
    const logged: string[] = [];
    const printed: string[] = [];
    const heard: number[] = [];
    const result = await train({
      config: resolveConfig({ imageSize: 67, epochs: 3, backend: TEST_BACKEND, ...small }),
      out,
      run: 'r',
      log: (line) => logged.push(line),
      print: (line) => printed.push(line),
      listeners: [
        {
          onEpochEnd: ({ epoch, history }) => {
            heard.push(history.length);
            return epoch === 1 ? { reason: 'pruned: test acc below the median of its peers after epoch 1' } : undefined;
          },
        },
      ],
    });
    assert.deepEqual(heard, [1]);
    assert.equal(result.history.length, 1);
    assert.equal(result.stoppedBy, 'pruned: test acc below the median of its peers after epoch 1');
    assert.ok(logged.includes('pruned: test acc below the median of its peers after epoch 1'), logged.join('\n'));
    assert.match(printed[0], /^epoch 1\/3: /);
    // The epoch it ended after is saved whole: last/ holds it, and --resume would go on from epoch 2.
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'r', 'last', 'meta.json'), 'utf8')) as { epoch: number; partial: unknown };
    assert.equal(meta.epoch, 1);
    assert.equal(meta.partial, null);
  },
);
