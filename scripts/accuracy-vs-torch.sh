#!/usr/bin/env bash
# Test accuracy of `nin train` against d2l's PyTorch NiN (scripts/reference/torch_train.py) on d2l's
# recipe (SGD lr 0.1, batch 128) at 96px, one seed after another. The two run side by side, each pinned
# to one core with one thread, so neither slows the other and both take the same time per seed.
# Needs python3-torch (apt-get install -y python3-torch) and two cores.
# Usage: [SAME_INIT=1] [NIN_ARGS="--bias-init pytorch"] [TRAIN_LIMIT=N TEST_LIMIT=N] scripts/accuracy-vs-torch.sh [epochs=3] [seeds="0 1 2"] [outdir=accuracy-runs]
# SAME_INIT=1 starts nin from the very weights PyTorch draws for each seed (scripts/torch-init-weights.py),
# so the two differ only in example order and dropout masks. NIN_ARGS adds options to every `nin train`.
# TRAIN_LIMIT and TEST_LIMIT (default: the full splits) train and test both on the first N images, for a quick try.
# Prints each run's per-epoch lines, then per epoch the mean test accuracy of each and the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
seeds=${2:-"0 1 2"}
out=${3:-accuracy-runs}
limits=()
[ -n "${TRAIN_LIMIT:-}" ] && limits+=(--train-limit "$TRAIN_LIMIT")
[ -n "${TEST_LIMIT:-}" ] && limits+=(--test-limit "$TEST_LIMIT")
mkdir -p "$out"
for seed in $seeds; do
  OMP_NUM_THREADS=1 taskset -c 0 /usr/bin/python3 scripts/reference/torch_train.py --image-size 96 --epochs "$epochs" \
    --seed "$seed" --threads 1 "${limits[@]}" >"$out/torch-s$seed.out" 2>"$out/torch-s$seed.err" &
  torch_pid=$!
  init=()
  if [ "${SAME_INIT:-0}" = 1 ]; then
    /usr/bin/python3 scripts/torch-init-weights.py --seed "$seed" --out "$out/torch-init-s$seed.json" >/dev/null
    init=(--init-weights "$out/torch-init-s$seed.json")
  fi
  taskset -c 1 node bin/nin.js train --image-size 96 --epochs "$epochs" --seed "$seed" --threads 1 \
    --backend onednn "${limits[@]}" "${init[@]}" ${NIN_ARGS:-} --out "$out" --run "nin-s$seed" >"$out/nin-s$seed.out" 2>"$out/nin-s$seed.err" &
  nin_pid=$!
  # A bare `wait` always succeeds: wait for each run so a failed one stops here instead of
  # turning into a mean over missing epochs.
  wait "$torch_pid" || { echo "PyTorch seed $seed failed: $(tail -n 1 "$out/torch-s$seed.err")" >&2; exit 1; }
  wait "$nin_pid" || { echo "nin seed $seed failed: $(tail -n 1 "$out/nin-s$seed.err")" >&2; exit 1; }
  echo "seed $seed"; sed 's/^/  pytorch /' "$out/torch-s$seed.out"; grep '^epoch' "$out/nin-s$seed.out" | sed 's/^/  nin     /'
done
node -e '
  const fs = require("fs");
  const [out, seeds] = [process.argv[1], process.argv[2].trim().split(/\s+/)];
  const acc = (file) => fs.readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("epoch"))
    .map((l) => Number(/test acc ([0-9.]+)/.exec(l)[1]));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const torch = seeds.map((s) => acc(`${out}/torch-s${s}.out`)), nin = seeds.map((s) => acc(`${out}/nin-s${s}.out`));
  for (let e = 0; e < torch[0].length; e++) {
    const t = mean(torch.map((r) => r[e])), n = mean(nin.map((r) => r[e]));
    console.log(`epoch ${e + 1}: mean test acc over seeds ${seeds.join(",")}: pytorch ${t.toFixed(3)}, nin ${n.toFixed(3)}, nin - pytorch ${(n - t >= 0 ? "+" : "") + (n - t).toFixed(3)}`);
  }' "$out" "$seeds"
