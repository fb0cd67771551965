#!/usr/bin/env bash
# Does nin compute what PyTorch computes? Both start from PyTorch's initial weights of d2l's NiN for a
# seed and take the same SGD steps (lr 0.1, batch 128) on the first training batches in file order,
# dropout off: nothing random is left, so the losses must agree step by step up to float rounding.
# This checks the whole chain, resize, convolutions, pooling, loss, gradients and update, against PyTorch.
# Needs python3-torch (apt-get install -y python3-torch) and a built nin (npm ci).
# Usage: scripts/steps-vs-torch.sh [steps=20] [seed=0] [image-size=96] [backend=onednn]
# ARCHITECTURE='{"blockConvs": 1, "head": "dense"}' (src/model/architecture.ts's keys) runs a NiN variant instead of d2l's.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
seed=${2:-0}
size=${3:-96}
backend=${4:-onednn}
architecture=${ARCHITECTURE:-'{}'}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=1 /usr/bin/python3 scripts/torch-steps.py --seed "$seed" --steps "$steps" --image-size "$size" \
  --architecture "$architecture" --init-out "$tmp/init.json" >"$tmp/torch.out"
node scripts/nin-steps.js "$tmp/init.json" "$steps" "$size" 128 0.1 "$backend" "$architecture" >"$tmp/nin.out"
node -e '
  const fs = require("fs");
  const losses = (f) => fs.readFileSync(f, "utf8").split("\n").filter((l) => l.startsWith("step")).map((l) => Number(l.split(" ")[3]));
  const [t, n] = [losses(process.argv[1]), losses(process.argv[2])];
  console.log("step  pytorch loss  nin loss    difference");
  let worst = 0;
  t.forEach((x, i) => {
    const d = n[i] - x;
    worst = Math.max(worst, Math.abs(d));
    console.log(`${String(i + 1).padStart(4)}  ${x.toFixed(6).padStart(12)}  ${n[i].toFixed(6).padStart(9)}  ${(d >= 0 ? "+" : "") + d.toExponential(1)}`);
  });
  console.log(`largest difference over ${t.length} steps: ${worst.toExponential(1)}`);
' "$tmp/torch.out" "$tmp/nin.out"
