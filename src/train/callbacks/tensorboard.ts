// --tensorboard: every step's and every epoch's scalars as TensorBoard event files. TensorBoard is a view of the
// run: if its file cannot be written (a full disk), training goes on without it, with one warning.
import * as path from 'node:path';
import type { Log } from '../../sys/log';
import { printable } from '../../cli/format';
import { TensorBoardWriter } from '../../run/tensorboard';
import type { EpochEnd, EpochListener, StepValues } from './listener';

export class TensorBoardLog implements EpochListener {
  private board: TensorBoardWriter | null;

  /** `dir` '' is <runDir>/tensorboard. */
  constructor(
    dir: string,
    runDir: string,
    private readonly log: Log,
  ) {
    this.board = new TensorBoardWriter(dir || path.join(runDir, 'tensorboard'));
    log(`tensorboard: ${printable(this.board.file)}`);
  }

  onStep({ step, ...values }: StepValues): void {
    this.record('batch', values, step);
  }

  onEpochEnd({ epoch, metrics }: EpochEnd): void {
    const { loss, trainAcc, testAcc, examplesPerSec: imagesPerSec, valLoss, valAcc } = metrics;
    const val = valAcc === undefined ? {} : { valLoss, valAcc };
    this.record('epoch', { loss, trainAcc, testAcc, imagesPerSec, ...val } as Record<string, number>, epoch, true);
  }

  close(): void {
    try {
      this.board?.close();
    } catch {
      // Already warned about, or nothing left to write.
    }
  }

  private record(group: 'batch' | 'epoch', values: Record<string, number>, step: number, flush = false): void {
    try {
      this.board?.scalars(Object.fromEntries(Object.entries(values).map(([k, v]) => [`${group}/${k}`, v])), step);
      if (flush) this.board?.flush();
    } catch (err) {
      this.log(`warning: TensorBoard events are no longer written: ${printable((err as Error).message)}`);
      this.board = null;
    }
  }
}
