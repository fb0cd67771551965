// The commands around data and runs: nin data, plot, serve and info.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { configOption, integer, runtimeOf } from './config-options';
import { NinError, UsageError } from '../sys/errors';
import { formatInfo, formatPlot } from './format';
import { addEngineOptions, JSON_HELP, type Printer } from './shared';

export function dataCommand(printer: Printer): Command {
  return new Command('data')
    .description(
      'where Fashion-MNIST was found (looked up in --data-dir, $NIN_DATA_DIR, /usr/share/datasets/fashion-mnist, then the download cache) and whether its checksums hold; --download fetches it',
    )
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option(
      '--download',
      'download the four official files, verified, into --data-dir, else $NIN_DATA_DIR, else $XDG_CACHE_HOME/nin/fashion-mnist (default ~/.cache/nin/fashion-mnist)',
    )
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const data = await import('../data/idx');
      const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : undefined;
      let dir: string;
      let files;
      if (opts.download) {
        dir = data.defaultDownloadDir(dataDir);
        files = await data.downloadFashionMnist(dir, process.env.NIN_MIRROR_URL || undefined, printer.err);
      } else {
        dir = data.findDatasetDir(dataDir);
        files = data.checkDataset(dir);
      }
      const ok = files.every((f) => f.ok);
      if (opts.json) printer.out(JSON.stringify({ dir, ok, files }));
      else {
        printer.out(`Fashion-MNIST: ${dir}`);
        for (const f of files) printer.out(`  ${f.ok ? 'ok ' : 'BAD'} ${f.name}  sha256 ${f.sha256}`);
      }
      if (!ok)
        throw new NinError(
          `checksums do not match the official Fashion-MNIST files in ${dir}; download them again with nin data --download`,
        );
    });
}

export function plotCommand(printer: Printer): Command {
  return new Command('plot')
    .description("training curves (train loss, train acc, test acc per epoch, as d2l's plot) of one run, or several in one figure")
    .argument('<runDir...>', 'run directories (each holds metrics.jsonl)')
    .option('--out <file>', 'output file (default: <first run>/curves.svg, or comparison.svg for several runs)')
    .option('--png', 'write PNG instead of SVG, drawn by resvg with DejaVu Sans or the font file in $NIN_FONT (implied by --out *.png)')
    .option('--json', JSON_HELP)
    .action(async (runDirs: string[], opts) => {
      const { plot } = await import('../report/plot');
      const result = plot(runDirs, { out: opts.out ? path.resolve(opts.out) : undefined, png: Boolean(opts.png) });
      printer.out(opts.json ? JSON.stringify(result) : formatPlot(result));
    });
}

export function serveCommand(printer: Printer): Command {
  const command = new Command('serve')
    .description(
      "a local web page over training runs: live curves, each checkpoint's report (nin eval) with its misclassified test images, and a playground that runs the model in the browser",
    )
    .argument('[runDir...]', 'run directories to serve, or one sweep directory (its trials); default: every run in --out, as they appear')
    .option('--port <n>', 'port to listen on (0: any free port)', integer('--port', 0, 65535), 8080)
    .option(
      '--host <address>',
      'address to listen on; anything but a loopback address (127.0.0.1, ::1, localhost) lets other machines read the runs',
      '127.0.0.1',
    )
    .option('--open', 'open the page in the default browser')
    .option('--out <dir>', 'directory of runs (relative to the current directory)', 'checkpoints')
    .addOption(
      configOption('testLimit', { help: "reports use the first n test examples (default: each run's own --test-limit, else all)" }),
    )
    .addOption(configOption('dataDir'));
  return addEngineOptions(command).action(async (runDirs: string[], opts) => {
    let dirs = runDirs.map((d) => path.resolve(d));
    // A sweep directory (nin sweep): its trials are the runs, as they appear.
    const trials = dirs.length === 1 ? (await import('../sweep/sweep-dir')).sweepTrialsDir(dirs[0]) : null;
    if (trials) [opts.out, dirs] = [trials, []];
    for (const dir of dirs) {
      if (!fs.existsSync(path.join(dir, 'config.json')))
        throw new UsageError(
          `${dir} is not a nin run directory (no config.json); pass <out>/<run> directories, or none to serve every run in --out`,
        );
    }
    const out = path.resolve(opts.out);
    if (!dirs.length && !fs.existsSync(out)) printer.err(`note: ${out} does not exist yet; runs appear here as nin train writes them`);
    const { serve } = await import('../serve/server');
    const { backend, threads, precision, dataDir } = runtimeOf(opts);
    const handle = await serve({
      runs: dirs,
      out,
      host: opts.host,
      port: opts.port,
      dataDir: dataDir ?? undefined,
      testLimit: opts.testLimit,
      backend,
      threads,
      precision,
      log: printer.err,
    });
    // Told by the address listened on, however --host spelled it.
    if (!handle.loopback) {
      printer.err(
        `WARNING: --host ${opts.host} lets every machine that can reach this one read these runs, their configs and checkpoints, without a password; use the default 127.0.0.1 unless you mean it`,
      );
    }
    printer.out(handle.url);
    if (opts.open) {
      const { spawn } = await import('node:child_process');
      const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
      spawn(opener, [handle.url], { detached: true, stdio: 'ignore' })
        .on('error', () => printer.err(`note: could not start ${opener}; open ${handle.url} yourself`))
        .unref();
    }
    // Ctrl-C, SIGTERM or a closed terminal stop the server cleanly: exit 0, nothing to save. A second
    // signal, or a server still busy GRACE_SECONDS later, ends nin at once (signals.ts).
    const { withStop } = await import('../sys/signals');
    await withStop(true, { acknowledge: 'stopping the server', kept: 'serve changes nothing in the runs' }, printer.err, async (stop) => {
      await stop.stopped;
      await handle.close().catch(() => {});
    });
    printer.err('nin serve: stopped');
  });
}

export function infoCommand(printer: Printer): Command {
  return new Command('info')
    .description('versions, CPU features, threads, available backends and the dataset: what this machine offers nin')
    .option('--data-dir <dir>', 'Fashion-MNIST directory to check')
    .option('--json', JSON_HELP)
    .action(async (opts) => {
      const { info } = await import('../machine/info');
      const result = await info({ dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined });
      printer.out(opts.json ? JSON.stringify(result) : formatInfo(result));
    });
}
