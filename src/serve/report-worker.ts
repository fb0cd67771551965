// The child process nin serve computes one report in (see report.ts): a report's evaluation keeps a
// CPU busy for seconds, in long synchronous stretches of TF.js and native code, and in the server's
// own process it would hold up every other request and Ctrl-C until it ended. Here it only costs a
// process the server can kill. One job per process: it reads the job from the IPC channel, answers
// with the result or one error line, and exits; it exits too when the server goes away.
import { NinError } from '../sys/errors';
import { quietLog } from '../sys/log';
import { evaluate } from '../report/eval';
import { LinkRefusedError } from '../sys/read-file';
import type { ReportJob, ReportWorkerAnswer } from './report';

function answer(message: ReportWorkerAnswer): void {
  // Exit once the answer is handed to the channel; the server reads it from there.
  process.send?.(message, undefined, {}, () => process.exit(0));
}

process.once('disconnect', () => process.exit(0)); // the server is gone: nobody wants the report
process.once('message', (job: ReportJob) => {
  evaluate(job.checkpointDir, {
    testLimit: job.testLimit ?? undefined,
    dataDir: job.dataDir,
    backend: job.backend,
    threads: job.threads,
    precision: job.precision,
    misclassified: true,
    log: quietLog, // the server said which backend it runs on; its note about the run's --test-limit is answered by the job
  }).then(
    (result) => answer({ ok: true, result }),
    (err: unknown) =>
      answer({
        ok: false,
        userError: err instanceof NinError,
        linkRefused: err instanceof LinkRefusedError,
        message: err instanceof Error ? err.message : String(err),
      }),
  );
});
