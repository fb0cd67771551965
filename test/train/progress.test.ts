// Progress on stderr (src/progress.ts): a terminal line that fits the width with speed and ETAs
// always visible; plain lines every --log-every seconds when stderr is not a terminal; the test pass.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, Progress, type ProgressOptions } from '../../src/train/progress';

function harness(overrides: Partial<ProgressOptions> = {}) {
  let clock = 0;
  const written: string[] = [];
  const progress = new Progress({
    epochs: 10,
    batchesPerEpoch: 100,
    testBatches: 30,
    terminal: false,
    logEvery: 30,
    write: (t) => written.push(t),
    now: () => clock,
    ...overrides,
  });
  return { progress, written, tick: (ms: number) => (clock += ms) };
}

describe('progress', () => {
  test('durations read as m:ss or h:mm:ss', () => {
    assert.equal(formatDuration(5), '0:05');
    assert.equal(formatDuration(252), '4:12');
    assert.equal(formatDuration(3723), '1:02:03');
    assert.equal(formatDuration(NaN), '-');
  });

  test('not a terminal: one plain line every logEvery seconds, with batch, loss, accuracy, speed, epoch and run ETA', () => {
    const { progress, written, tick } = harness();
    progress.startEpoch(3, 0);
    for (let b = 1; b <= 40; b++) {
      tick(1000); // a batch a second
      progress.trainBatch(b, { loss: 0.4123, accuracy: 0.851, imagesPerSec: 128 });
    }
    assert.equal(written.length, 1, written.join(''));
    // 60 batches left (60 s) + 30 test batches at a third of a batch (10 s); then 7 more epochs of 110 s.
    assert.equal(written[0], 'epoch 3/10: batch 30/100, loss 0.412, acc 0.851, 128.0 images/s, ETA 1:20 (run 14:10)\n');
    progress.startTest();
    tick(31_000);
    progress.testBatch(10);
    assert.match(written.at(-1)!, /^epoch 3\/10: test batch 10\/30, ETA 1:02/);
  });

  test('a terminal line fits the width, keeping speed and both ETAs; the bar uses what is left', () => {
    for (const columns of [120, 80, 60]) {
      const { progress, tick } = harness({ terminal: true, columns: () => columns });
      progress.startEpoch(1, 0);
      tick(1000);
      progress.trainBatch(10, { loss: 1.5, accuracy: 0.5, imagesPerSec: 256 });
      const line = progress.terminalLine();
      assert.ok(line.length <= columns - 1, `${columns}: ${line.length} ${line}`);
      assert.match(line, /256 img\/s/, line);
      assert.match(line, /ETA \d+:\d\d, run \d+:\d\d/, line);
      if (columns >= 80) assert.match(line, /\[=+ *\]/, line);
    }
  });

  test('a terminal that reports 0 columns (width unknown, as some serial consoles and ptys do) gets an 80-column line', () => {
    const line = (columns: number) => {
      const { progress, tick } = harness({ terminal: true, columns: () => columns });
      progress.startEpoch(1, 0);
      tick(1000);
      progress.trainBatch(10, { loss: 1.5, accuracy: 0.5, imagesPerSec: 256 });
      return progress.terminalLine();
    };
    assert.equal(line(0), line(80));
    assert.match(line(0), /256 img\/s \| ETA \d+:\d\d, run \d+:\d\d$/);
  });

  test('a terminal line is redrawn in place and cleared at the end of the epoch', () => {
    const { progress, written, tick } = harness({ terminal: true, columns: () => 80 });
    progress.startEpoch(1, 0);
    tick(500);
    progress.trainBatch(1, { loss: 2.3, accuracy: 0.1, imagesPerSec: 10 });
    assert.ok(written.every((w) => w.startsWith('\r')));
    progress.endEpoch(12);
    assert.equal(written.at(-1), '\r\x1b[K');
  });

  test('new numbers are asked for only when they would be shown: a log line is due, or a terminal second has passed', () => {
    const plain = harness({ logEvery: 30 });
    plain.progress.startEpoch(1, 0);
    plain.tick(29_000);
    assert.equal(plain.progress.statsDue(), false);
    plain.progress.trainBatch(29); // counts only: no line
    assert.equal(plain.written.length, 0);
    plain.tick(1000);
    assert.equal(plain.progress.statsDue(), true);
    plain.progress.trainBatch(30, { loss: 1, accuracy: 0.5, imagesPerSec: 8 });
    assert.equal(plain.written.length, 1);
    assert.equal(plain.progress.statsDue(), false, 'the line just printed');

    const terminal = harness({ terminal: true, columns: () => 100 });
    terminal.progress.startEpoch(1, 0);
    assert.equal(terminal.progress.statsDue(), true, "an epoch's first batch shows its numbers");
    terminal.progress.trainBatch(1, { loss: 2.3, accuracy: 0.1, imagesPerSec: 10 });
    terminal.tick(500);
    assert.equal(terminal.progress.statsDue(), false);
    terminal.progress.trainBatch(2); // redrawn with the counts, the numbers of batch 1
    assert.match(terminal.written.at(-1)!, / 2\/100 loss 2\.300 acc 0\.100/);
    terminal.tick(500);
    assert.equal(terminal.progress.statsDue(), true);
  });
});

describe('the heartbeat line (a step that holds the JS thread)', () => {
  test('names the batch running; in a log it comes only when a step runs well past a due line, and the lines go on from it', () => {
    const { progress, written, tick } = harness();
    progress.startEpoch(1, 0);
    tick(6000);
    progress.trainBatch(1, { loss: 2.3, accuracy: 0.1, imagesPerSec: 20 });
    const beat = progress.beat(6);
    assert.equal(beat.text, 'epoch 1/10: batch 2/100 running for {elapsed}, ETA 10:54 (run 1:49:54)');
    assert.equal(beat.terminal, false);
    assert.equal(beat.everySeconds, 30);
    // The next line is due 24 s from now; a 6 s step ends about then: the heartbeat waits 9 s more.
    assert.equal(beat.firstSeconds, 24 + 9);
    // A step of 20 minutes: at most logEvery past the due line.
    assert.equal(progress.beat(1200).firstSeconds, 24 + 30);
    // A line printed by the heartbeat counts as the last line.
    beat.printed?.(40_000);
    tick(30_000); // 36 s: no line due until 70 s
    progress.trainBatch(2, { loss: 2.3, accuracy: 0.1, imagesPerSec: 20 });
    assert.deepEqual(written, []);
  });

  test('on a terminal it redraws every second', () => {
    const { progress } = harness({ terminal: true, columns: () => 80 });
    progress.startEpoch(1, 0);
    const beat = progress.beat(60);
    assert.deepEqual([beat.terminal, beat.everySeconds, beat.firstSeconds], [true, 1, 1]);
    assert.match(beat.text, /^epoch 1\/10: batch 1\/100 running for \{elapsed\}$/);
  });
});
