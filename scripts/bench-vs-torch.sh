#!/usr/bin/env bash
# Speed of `nin bench --backend onednn` against d2l's PyTorch NiN (scripts/reference/torch_bench.py),
# alternating in one run so both see the same machine; prints each measurement and the ratios.
# Both measure the same way: one warm-up step, then forward + backward + SGD update only.
# Needs python3-torch (apt-get install -y python3-torch) and a built nin (npm ci).
# Usage: [TORCH_BF16=1] [SETTINGS="96 64 5,224 32 3"] scripts/bench-vs-torch.sh [rounds=2]
# TORCH_BF16=1 also runs PyTorch under bf16 autocast (its fastest CPU setting on AVX512-BF16/AMX) and
# compares nin with both precisions. SETTINGS: comma-separated "image-size batch-size steps" triples.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
precisions=(none)
[ "${TORCH_BF16:-0}" = 1 ] && precisions+=(bf16)
IFS=, read -r -a settings <<<"${SETTINGS:-96 64 5,224 32 3}"
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.err"' EXIT
for setting in "${settings[@]}"; do
  read -r size batch steps <<<"$setting"
  for ((r = 1; r <= rounds; r++)); do
    node bin/nin.js bench --backend onednn --image-size "$size" --batch-size "$batch" --steps "$steps" --json \
      2>"$rows.err" | tee -a "$rows" || { cat "$rows.err" >&2; exit 1; }
    for precision in "${precisions[@]}"; do
      /usr/bin/python3 scripts/reference/torch_bench.py --image-size "$size" --batch-size "$batch" --steps "$steps" \
        --autocast "$precision" --json | tee -a "$rows"
    done
  done
done
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const mean = (rs, k) => rs.reduce((a, r) => a + r[k], 0) / rs.length;
  for (const size of [...new Set(rows.map((r) => r.imageSize))]) {
    const nin = rows.filter((r) => r.imageSize === size && r.backend !== "pytorch");
    for (const precision of [...new Set(rows.filter((r) => r.backend === "pytorch").map((r) => r.autocast))]) {
      const torch = rows.filter((r) => r.imageSize === size && r.backend === "pytorch" && r.autocast === precision);
      const compare = (k) => `${mean(nin, k).toFixed(1)} vs ${mean(torch, k).toFixed(1)} img/s = ${(mean(nin, k) / mean(torch, k)).toFixed(2)}x`;
      const label = precision === "none" ? "pytorch float32" : `pytorch ${precision} autocast`;
      console.log(`${size}px batch ${nin[0].batchSize}, nin vs ${label}: train ${compare("trainImagesPerSec")}, inference ${compare("inferImagesPerSec")}`);
    }
  }' "$rows"
