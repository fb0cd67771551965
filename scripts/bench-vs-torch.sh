#!/usr/bin/env bash
# Speed of `nin bench --backend onednn` against d2l's PyTorch NiN (shared/anchors/torch_nin_bench.py),
# alternating in one run so both see the same machine; prints each measurement and the ratios.
# Needs python3-torch (apt-get install -y python3-torch). Usage: scripts/bench-vs-torch.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
anchor=${NIN_TORCH_BENCH:-../shared/anchors/torch_nin_bench.py}
for setting in "96 64 5" "224 32 3"; do
  set -- $setting
  for ((r = 1; r <= rounds; r++)); do
    node bin/nin.js bench --backend onednn --image-size "$1" --batch-size "$2" --steps "$3" --json 2>/dev/null
    /usr/bin/python3 "$anchor" --image-size "$1" --batch-size "$2" --steps "$3"
  done
done | tee /dev/stderr | node -e '
  const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
  for (const size of [...new Set(rows.map((r) => r.imageSize))]) {
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const nin = rows.filter((r) => r.imageSize === size && r.backend);
    const torch = rows.filter((r) => r.imageSize === size && r.engine);
    const t = (k, rs) => mean(rs.map((r) => r[k]));
    console.log(`${size}px batch ${nin[0].batchSize}: train ${t("trainImagesPerSec", nin).toFixed(1)} vs ${t("trainImagesPerSec", torch).toFixed(1)} img/s = ${(t("trainImagesPerSec", nin) / t("trainImagesPerSec", torch)).toFixed(2)}x, ` +
      `inference ${t("inferImagesPerSec", nin).toFixed(1)} vs ${t("inferImagesPerSec", torch).toFixed(1)} img/s = ${(t("inferImagesPerSec", nin) / t("inferImagesPerSec", torch)).toFixed(2)}x`);
  }'
