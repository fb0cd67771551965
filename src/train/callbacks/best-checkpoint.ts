// best/: the checkpoint of the epoch with the highest monitored accuracy (early-stopping.ts's monitored()),
// saved before last/ so that a crash between the two only repeats the epoch.
import type { TrainConfig } from '../../config/config';
import type { EpochMetrics } from '../../run/metrics';
import type { EpochEnd, EpochListener } from './listener';
import { monitored, sinceBest } from './early-stopping';

export class BestCheckpoint implements EpochListener {
  private best: number;

  constructor(
    private readonly config: TrainConfig,
    history: readonly EpochMetrics[],
    private readonly save: (epoch: number) => Promise<void>,
  ) {
    this.best = sinceBest(history, monitored(config)).best;
  }

  async onEpochEnd({ epoch, metrics }: EpochEnd): Promise<void> {
    const chosenBy = metrics[monitored(this.config)] ?? -1;
    if (chosenBy <= this.best) return;
    this.best = chosenBy;
    await this.save(epoch);
  }
}
