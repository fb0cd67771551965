#!/usr/bin/env bash
# The webgpu backend on this machine's GPU, in under 5 minutes: `nin info`, `nin bench --backend webgpu`
# at 96px batch 64 and 224px batch 128, one 224px epoch on 10,000 images (its checkpoint scored again on
# onednn), one training step against onednn, and peak GPU memory (nvidia-smi, and the buffer pool of TF.js). Progress on stderr; stdout gets one
# JSON line. A step that fails is recorded in that line ({"error": ...}) and the rest still run.
# Without a hardware adapter (lavapipe, SwiftShader) it runs the same steps with small numbers.
# Needs `npm ci` (or npm run build) and the dataset; GPU_CHECK_SMALL=1 forces the small numbers.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
work=$(mktemp -d)
trap 'kill "$sampler" 2>/dev/null; rm -rf "$work"' EXIT
sampler=

say() { echo "gpu-check: $*" >&2; }

# Runs a nin command, its stdout to $work/$1.out and stderr to $work/$1.err; on failure records the error
# line (the last stderr line) as {"error": ...} in $work/$1.json.
run() {
  local name=$1
  shift
  say "$*"
  if "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    return 0
  fi
  node -e 'const [file, out] = process.argv.slice(1); const lines = require("fs").readFileSync(file, "utf8").trim().split("\n");
    require("fs").writeFileSync(out, JSON.stringify({ error: lines[lines.length - 1] || "failed without a message" }));' "$work/$name.err" "$work/$name.json"
  tail -n 3 "$work/$name.err" >&2
  return 1
}

# 1. Adapters: a hardware one gets the full sizes.
run info node bin/nin.js info --json || true
hardware=$(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const a = r.webgpu.adapters.find((x) => x.type === "gpu"); console.log(a ? "yes" : "no"); } catch { console.log("no"); }' "$work/info.out")
if [ "$hardware" = yes ] && [ "${GPU_CHECK_SMALL:-}" != 1 ]; then
  small=false
  bench_sizes=("96 64 3" "224 128 3")
  train_args=(--image-size 224 --batch-size 128 --train-limit 10000)
  test_limit=1000
  parity_args=(96 8)
else
  small=true
  say "no hardware WebGPU adapter (or GPU_CHECK_SMALL=1): small numbers"
  bench_sizes=("67 4 1" "67 8 1")
  train_args=(--image-size 67 --batch-size 8 --train-limit 32)
  test_limit=32
  parity_args=(67 4)
fi

# Peak GPU memory, where nvidia-smi can tell it (sampled every half second).
if command -v nvidia-smi >/dev/null 2>&1; then
  (while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n1; sleep 0.5; done) >"$work/memory.log" &
  sampler=$!
fi

# 2. Throughput.
i=0
for size in "${bench_sizes[@]}"; do
  read -r image batch steps <<<"$size"
  i=$((i + 1))
  run "bench$i" node bin/nin.js bench --backend webgpu --image-size "$image" --batch-size "$batch" --steps "$steps" --json && cp "$work/bench$i.out" "$work/bench$i.json"
done

# 3. One epoch, then its checkpoint scored on onednn: the accuracy the run logged.
if run train node bin/nin.js train --backend webgpu --epochs 1 "${train_args[@]}" --test-limit "$test_limit" --out "$work/runs" --run check; then
  run eval node bin/nin.js eval "$work/runs/check" --backend onednn --json --test-limit "$test_limit" && cp "$work/eval.out" "$work/eval.json"
fi
node -e 'const fs = require("fs"); const [dir, out] = process.argv.slice(1);
  if (fs.existsSync(out)) process.exit(0);
  try {
    const m = fs.readFileSync(dir + "/runs/check/metrics.jsonl", "utf8").trim().split("\n").map(JSON.parse).pop();
    let onednn = null; try { onednn = JSON.parse(fs.readFileSync(dir + "/eval.json", "utf8")); } catch {}
    fs.writeFileSync(out, JSON.stringify({ imagesPerSec: m.examplesPerSec, loss: m.loss, testAcc: m.testAcc, seconds: m.seconds,
      testAccOnOnednn: onednn && !onednn.error ? onednn.accuracy : onednn }));
  } catch (err) { fs.writeFileSync(out, JSON.stringify({ error: "no metrics: " + err.message })); }' "$work" "$work/train.json"

# 4. One step against onednn from the same weights.
run parity node scripts/webgpu-parity.js "${parity_args[@]}" && cp "$work/parity.out" "$work/parity.json"

[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
node -e 'const fs = require("fs"); const [dir, small, started] = process.argv.slice(1);
  const read = (name) => { try { return JSON.parse(fs.readFileSync(`${dir}/${name}.json`, "utf8")); } catch { return { error: `${name}: no result` }; } };
  let info = null; try { info = JSON.parse(fs.readFileSync(`${dir}/info.out`, "utf8")); } catch {}
  const adapter = info?.webgpu.adapters.find((a) => a.type === "gpu") ?? info?.webgpu.adapters[0] ?? null;
  const bench = [read("bench1"), read("bench2")].map((b) => b.error ? b : { imageSize: b.imageSize, batchSize: b.batchSize, trainImagesPerSec: b.trainImagesPerSec, inferImagesPerSec: b.inferImagesPerSec,
    gpuMiBAllocated: b.gpuBytesAllocated === null ? null : Math.round(b.gpuBytesAllocated / 2 ** 20) });
  const train = read("train"), parity = read("parity");
  let peak = null; try { const v = fs.readFileSync(`${dir}/memory.log`, "utf8").split("\n").map(Number).filter((n) => n > 0); if (v.length) peak = Math.max(...v); } catch {}
  // Peak GPU memory two ways: what the driver saw in use (nvidia-smi, sampled; the whole process) and the
  // largest buffer pool TF.js allocated in a bench (its pool never shrinks, so that is its high-water mark).
  const pools = bench.filter((b) => typeof b.gpuMiBAllocated === "number").map((b) => b.gpuMiBAllocated);
  const peakGpuMemory = { nvidiaSmiMiB: peak, nvidiaSmiNote: peak === null ? "nvidia-smi not found or reported nothing (not an NVIDIA GPU, or lavapipe)" : undefined,
    tfjsAllocatedMiB: pools.length ? Math.max(...pools) : null, tfjsNote: pools.length ? undefined : "no bench reported the webgpu memory of TF.js (both failed?)" };
  const ok = [...bench, train, parity].every((r) => !r.error) && parity.lossDifference <= 1e-3 && parity.gradientDifference <= 1e-3
    && (train.testAccOnOnednn === undefined || train.testAccOnOnednn === train.testAcc);
  console.log(JSON.stringify({ ok, small: small === "true", adapter: adapter && { description: adapter.description, vendor: adapter.vendor, architecture: adapter.architecture, type: adapter.type,
      maxStorageBufferBindingSize: adapter.maxStorageBufferBindingSize }, adapterProblem: info ? info.webgpu.problem : "nin info failed",
    bench, train, parity, peakGpuMemory, gpuBytesAllocatedAfterParity: parity.gpuBytesAllocated ?? null, seconds: Math.round(Date.now() / 1000 - Number(started)) }));' \
  "$work" "$small" "$started"
