// Tests for src/info.ts: versions, CPU flags from /proc/cpuinfo, backends, and the dataset report
// (found and verified, or missing with the fix instead of a failure).

import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { findDatasetDir } from '../../src/data/idx';
import { formatInfo } from '../../src/cli/format';
import { info, readCpu } from '../../src/machine/info';
import { NIN_VERSION } from '../../src/sys/version';

const NIN_BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'nin.js');
const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nin-info-'));
after(() => fs.rmSync(empty, { recursive: true, force: true }));

function datasetPresent(): boolean {
  try {
    findDatasetDir();
    return true;
  } catch {
    return false;
  }
}

describe('readCpu', () => {
  test('model name and the vector features nin cares about, in a fixed order', () => {
    const cpuinfo =
      'processor\t: 0\nmodel name\t: Some CPU @ 2.00GHz\nflags\t\t: fpu sse4_2 avx512_bf16 avx2 avx512f fma avx\nprocessor\t: 1\n';
    assert.deepEqual(readCpu(cpuinfo), {
      model: 'Some CPU @ 2.00GHz',
      features: ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_bf16'],
    });
  });

  test('without /proc/cpuinfo: os.cpus() model, no flags', () => {
    const cpu = readCpu(null);
    assert.equal(typeof cpu.model, 'string');
    assert.deepEqual(cpu.features, []);
  });
});

describe('info', () => {
  test('versions, backend in use, threads and every backend', async () => {
    const r = await info();
    assert.deepEqual(r.versions.nin, NIN_VERSION);
    assert.equal(r.versions.node, process.versions.node);
    assert.equal(r.versions.tfjs, tf.version.tfjs);
    assert.equal(r.cpu.threads, os.availableParallelism());
    assert.deepEqual(
      r.backends.map((b) => b.name),
      ['webgpu', 'tensorflow', 'onednn', 'cpu'],
    );
    for (const b of r.backends) assert.ok(b.detail.length > 0);
    assert.ok(r.backends.some((b) => b.name === r.backend.name && b.available));
    const onednn = r.backends.find((b) => b.name === 'onednn')!;
    if (onednn.available) {
      assert.match(r.versions.onednn ?? '', /^\d+\.\d+/);
      if (r.backend.name === 'onednn') assert.match(r.backend.library ?? '', /libdnnl\.so/);
    } else assert.match(onednn.detail, /apt-get install libdnnl-dev/);
    const text = formatInfo(r);
    assert.match(text, new RegExp(`^nin ${NIN_VERSION}, Node ${process.versions.node}, TF.js ${tf.version.tfjs}`));
    assert.match(text, /\nbackends:\n {2}webgpu +(yes|no) /);
  });

  test('dataset present: its directory and checksums', { skip: datasetPresent() ? false : 'Fashion-MNIST is not installed' }, async () => {
    const r = await info();
    assert.ok(r.dataset.found);
    if (r.dataset.found) {
      assert.equal(r.dataset.dir, findDatasetDir());
      assert.equal(r.dataset.files.length, 4);
      assert.equal(r.dataset.ok, true);
    }
    assert.match(formatInfo(r), /\ndataset: .+: checksums ok \(4 files\)/);
  });

  test('dataset missing: says so with the fix instead of failing', async () => {
    const r = await info({ dataDir: empty });
    assert.equal(r.dataset.found, false);
    if (!r.dataset.found) assert.match(r.dataset.problem, /not found in .*apt-get install dataset-fashion-mnist.*nin data --download/);
    assert.match(formatInfo(r), /\ndataset: Fashion-MNIST not found in /);
  });
});

describe('nin info (process)', () => {
  test('text and --json; a missing dataset is still exit 0', () => {
    const text = spawnSync(process.execPath, [NIN_BIN, 'info', '--data-dir', empty], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^nin \S+, Node /);
    assert.match(text.stdout, /\ncpu: .+, \d+ threads?\n {2}features: /);
    assert.equal(text.stderr, '');
    const json = spawnSync(process.execPath, [NIN_BIN, 'info', '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(json.status, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(r), ['versions', 'backend', 'cpu', 'backends', 'webgpu', 'dataset']);
  });
});
