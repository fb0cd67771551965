// Entry point of the child process that `probeAdapters` runs: prints the adapters as one JSON line.
import { probeAdaptersHere } from './adapters';

probeAdaptersHere().then(
  (probe) => {
    process.stdout.write(JSON.stringify(probe) + '\n');
    process.exit(0);
  },
  (err: Error) => {
    process.stdout.write(JSON.stringify({ adapters: [], problem: `probing WebGPU adapters failed: ${err.message.split('\n')[0]}` }) + '\n');
    process.exit(0);
  },
);
