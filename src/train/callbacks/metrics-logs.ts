// The run directory's views of its history after each epoch: metrics.jsonl and metrics.csv (rebuilt from the
// history last/ holds), and curves.svg, which may fail alone (a warning: training goes on).
import type { Log } from '../../sys/log';
import { printable } from '../../cli/format';
import type { RunDirectory } from '../../run/run-dir';
import type { EpochEnd, EpochListener } from './listener';

export class MetricsLogs implements EpochListener {
  constructor(
    private readonly run: RunDirectory,
    private readonly log: Log,
  ) {}

  onEpochEnd({ history }: EpochEnd): void {
    this.run.writeLogs([...history]);
    try {
      this.run.writeCurves([...history]);
    } catch (err) {
      this.log(`warning: could not draw ${printable(`${this.run.file('curves')}: ${(err as Error).message}`)}`);
    }
  }
}
