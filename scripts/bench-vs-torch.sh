#!/usr/bin/env bash
# Speed of `nin bench --backend onednn` against d2l's PyTorch NiN (scripts/reference/torch_bench.py), alternating in
# one run so both see the same machine, for each thread count, image size and precision: nin fp32 against PyTorch
# float32, and nin --precision bf16 against PyTorch under bf16 autocast (its fastest CPU setting on AVX512-BF16/AMX).
# Both measure the same way: one warm-up step, then forward + backward + SGD update only, and inference. Prints each
# measurement (JSON lines, nin's with --breakdown) and then one table per thread count: images/s of both, PyTorch's
# absolute figures beside each ratio, a training step's wall and CPU time (every thread's) for both, and the fraction
# of the convolution peak (measured at start, per precision) a whole nin training step reaches in wall and in CPU time;
# `uptime` before and after says how quiet the machine was.
# Needs python3-torch (apt-get install -y python3-torch) and a built nin (npm ci).
# Usage: [PRECISIONS="fp32 bf16"] [SETTINGS="96 64 20,224 32 4"] [THREADS="1 2"] scripts/bench-vs-torch.sh [rounds=2]
# PRECISIONS: which pairs to run (bf16 needs a CPU with native bf16). SETTINGS: comma-separated
# "image-size batch-size steps" triples. THREADS: the thread counts, each for both programs (0: every core).
# 20 steps at 96px: with 5, the two rounds of one run gave 1.02x and 1.13x (fp32, two threads, quiet machine); with
# 20, five rounds gave 1.14-1.22x.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
read -r -a precisions <<<"${PRECISIONS:-fp32 bf16}"
IFS=, read -r -a settings <<<"${SETTINGS:-96 64 20,224 32 4}"
read -r -a thread_counts <<<"${THREADS:-1 2}"
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.err"' EXIT
echo "before: $(uptime)" >&2
for threads in "${thread_counts[@]}"; do
  nin_threads=()
  [ "$threads" != 0 ] && nin_threads=(--threads "$threads")
  for setting in "${settings[@]}"; do
    read -r size batch steps <<<"$setting"
    for ((r = 1; r <= rounds; r++)); do
      for precision in "${precisions[@]}"; do
        node bin/nin.js bench --backend onednn --precision "$precision" "${nin_threads[@]}" --image-size "$size" \
          --batch-size "$batch" --steps "$steps" --breakdown --json 2>"$rows.err" | tee -a "$rows" || { cat "$rows.err" >&2; exit 1; }
        autocast=$([ "$precision" = bf16 ] && echo bf16 || echo none)
        /usr/bin/python3 scripts/reference/torch_bench.py --image-size "$size" --batch-size "$batch" --steps "$steps" \
          --threads "$threads" --autocast "$autocast" --json | tee -a "$rows"
      done
    done
  done
done
echo "after: $(uptime)" >&2
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const mean = (rs, k) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
  const fixed = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const percent = (v) => `${Math.round(100 * v)}%`;
  for (const threads of [...new Set(rows.map((r) => r.threads))]) {
    const byThreads = rows.filter((r) => r.threads === threads);
    console.log(`\n${threads} thread${threads === 1 ? "" : "s"} (means over the rounds; nin / PyTorch images/s):\n`);
    console.log("| setting | nin | PyTorch | ratio | step ms, wall / CPU: nin; PyTorch | whole nin step, of the peak (wall; CPU) |");
    console.log("|---|---|---|---|---|---|");
    for (const size of [...new Set(byThreads.map((r) => r.imageSize))]) {
      for (const precision of [...new Set(byThreads.filter((r) => r.backend !== "pytorch").map((r) => r.precision))]) {
        const nin = byThreads.filter((r) => r.imageSize === size && r.backend !== "pytorch" && r.precision === precision);
        const autocast = precision === "bf16" ? "bf16" : "none";
        const torch = byThreads.filter((r) => r.imageSize === size && r.backend === "pytorch" && r.autocast === autocast);
        if (nin.length === 0 || torch.length === 0) continue;
        const against = autocast === "none" ? "float32" : "bf16 autocast";
        const average = (vs) => vs.reduce((a, b) => a + b, 0) / vs.length;
        const numbers = (rs, get) => rs.map(get).filter((v) => typeof v === "number");
        const fractions = numbers(nin, (r) => r.breakdown?.stepPeakFraction);
        const cpuFractions = numbers(nin, (r) => r.breakdown?.stepPeakFractionCpu);
        const peaks = numbers(nin, (r) => r.breakdown?.convPeak?.gflopPerSec);
        const peak = fractions.length
          ? `${percent(average(fractions))}; ${cpuFractions.length ? percent(average(cpuFractions)) : "?"} of ${Math.round(Math.max(...peaks))} GFLOP/s (${precision})`
          : "";
        // CPU time (all threads) beside wall time: on a machine others share, wall time also counts their work.
        const ms = (v) => (typeof v === "number" ? v.toFixed(0) : "?");
        const stepMs = (rs) => average(rs.map((r) => (1000 * r.batchSize) / r.trainImagesPerSec));
        const cpuMs = (rs) => { const vs = numbers(rs, (r) => r.breakdown?.stepCpuMs ?? r.trainStepCpuMs); return vs.length ? average(vs) : undefined; };
        const times = `${ms(stepMs(nin))} / ${ms(cpuMs(nin))}; ${ms(stepMs(torch))} / ${ms(cpuMs(torch))}`;
        for (const [kind, key] of [["train", "trainImagesPerSec"], ["inference", "inferImagesPerSec"]]) {
          const [a, b] = [mean(nin, key), mean(torch, key)];
          const setting = `${kind} ${size}px b${nin[0].batchSize}, nin ${precision} vs PyTorch ${against}`;
          const train = kind === "train";
          console.log(`| ${setting} | ${fixed(a)} | ${fixed(b)} | ${(a / b).toFixed(2)}x | ${train ? times : ""} | ${train ? peak : ""} |`);
        }
      }
    }
  }' "$rows"
