#!/usr/bin/env bash
# Speed of `nin bench --backend onednn` against d2l's PyTorch NiN (scripts/reference/torch_bench.py),
# alternating in one run so both see the same machine; prints each measurement and the ratios, per precision:
# nin fp32 against PyTorch float32, and nin --precision bf16 against PyTorch under bf16 autocast (its fastest
# CPU setting on AVX512-BF16/AMX). Both measure the same way: one warm-up step, then forward + backward + SGD
# update only. Needs python3-torch (apt-get install -y python3-torch) and a built nin (npm ci).
# Usage: [PRECISIONS="fp32 bf16"] [SETTINGS="96 64 5,224 32 3"] [THREADS=n] scripts/bench-vs-torch.sh [rounds=2]
# PRECISIONS: which pairs to run (bf16 needs a CPU with native bf16). SETTINGS: comma-separated
# "image-size batch-size steps" triples. THREADS: threads for both (default: every core).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
read -r -a precisions <<<"${PRECISIONS:-fp32 bf16}"
IFS=, read -r -a settings <<<"${SETTINGS:-96 64 5,224 32 3}"
threads=${THREADS:-0}
nin_threads=()
[ "$threads" != 0 ] && nin_threads=(--threads "$threads")
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.err"' EXIT
for setting in "${settings[@]}"; do
  read -r size batch steps <<<"$setting"
  for ((r = 1; r <= rounds; r++)); do
    for precision in "${precisions[@]}"; do
      node bin/nin.js bench --backend onednn --precision "$precision" "${nin_threads[@]}" --image-size "$size" \
        --batch-size "$batch" --steps "$steps" --json 2>"$rows.err" | tee -a "$rows" || { cat "$rows.err" >&2; exit 1; }
      autocast=$([ "$precision" = bf16 ] && echo bf16 || echo none)
      /usr/bin/python3 scripts/reference/torch_bench.py --image-size "$size" --batch-size "$batch" --steps "$steps" \
        --threads "$threads" --autocast "$autocast" --json | tee -a "$rows"
    done
  done
done
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const mean = (rs, k) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
  for (const size of [...new Set(rows.map((r) => r.imageSize))]) {
    for (const precision of [...new Set(rows.filter((r) => r.backend !== "pytorch").map((r) => r.precision))]) {
      const nin = rows.filter((r) => r.imageSize === size && r.backend !== "pytorch" && r.precision === precision);
      const autocast = precision === "bf16" ? "bf16" : "none";
      const torch = rows.filter((r) => r.imageSize === size && r.backend === "pytorch" && r.autocast === autocast);
      const compare = (k) => `${mean(nin, k).toFixed(1)} vs ${mean(torch, k).toFixed(1)} img/s = ${(mean(nin, k) / mean(torch, k)).toFixed(2)}x`;
      const label = autocast === "none" ? "pytorch float32" : "pytorch bf16 autocast";
      console.log(`${size}px batch ${nin[0].batchSize}, nin ${precision} vs ${label}: train ${compare("trainImagesPerSec")}, inference ${compare("inferImagesPerSec")}`);
    }
  }' "$rows"
