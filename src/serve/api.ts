// The shapes of nin serve's JSON API and events, shared by the server and the page (types only, so the
// browser bundle takes nothing from Node with them).
import type { EpochMetrics } from '../run/metrics';
import type { TrainConfig } from '../config/config';
import type { Misclassified } from '../report/eval';
import type { PartialEpoch } from '../run/run-dir';
import type { RunCheckpoint } from '../run/layout';
import type { CheckpointReport } from './report';

/** A checkpoint of a run, as the Runs view lists it. */
export interface CheckpointSummary {
  name: RunCheckpoint;
  epoch: number;
  createdAt: string;
  imageSize: number;
  metrics: EpochMetrics | null;
  bestBy: string | null; // best/: the accuracy it was chosen on
}

/** One run as the page sees it; `error` says why a part of it could not be read. */
export interface RunSummary {
  id: string; // its name in URLs
  name: string;
  config: TrainConfig | null;
  history: EpochMetrics[];
  training: boolean; // a live process holds its lock
  partial: PartialEpoch | null; // an epoch cut short or saved mid-way (last/)
  checkpoints: CheckpointSummary[];
  error: string | null;
}

/** GET /api/runs, and the first event of /api/events. */
export interface RunsMessage {
  nin: string;
  classNames: string[];
  runs: RunSummary[];
}

/** POST /api/runs/<run>/checkpoints/<checkpoint>/report (from the page itself: same origin): nin eval's results and the misclassified examples; `checkpoint` is <run>/<checkpoint>. */
export type ReportMessage = CheckpointReport;

export type { EpochMetrics, Misclassified, RunCheckpoint };
