#!/usr/bin/env bash
# The prepared GPU check: one call on a lent device machine (benchmarks/README.md, "On the GPU").
#
# Here, before the call (the checkout's ../shared and /usr/share do not travel):
#   mkdir -p .whl && cp ../shared/wheels/gpu/*.whl /usr/share/datasets/fashion-mnist/*.gz .whl/
# The call:  run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
# It takes about 8 minutes on an H200 machine (each benchmark variant starts a process: ~20 s).
# What comes back under $OUT (7 files): summary.txt (the GPU, each step's seconds, the test
# summary, the benchmark's table, the steps_per_call table, the two runs' accuracy and time),
# bench-cuda.json, steps-per-call.md, pytest-gpu.txt, fashion-metrics.json,
# fashion_fast-metrics.json (time to 89 %: test/acc and time/train_s), and logs.txt (the end of
# every step's output).
#
# The machine has torch, lightning, torchvision, torchmetrics and tensorboard; hydra-core,
# omegaconf and antlr4 come from the wheels in .whl/, installed into a temporary folder. Each
# step has its own time limit, so one that hangs still leaves the others' results.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check}
LOGS=$(mktemp -d)
mkdir -p "$OUT"
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
  .whl/*.whl || { echo "wheels did not install" >&2; exit 1; }
export PYTHONPATH="$site:$PWD/src" PYTHONUNBUFFERED=1

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)"
} >"$LOGS/gpu.txt" 2>&1
cat "$LOGS/gpu.txt"

# Fashion-MNIST from the carried .gz files into data/ (what the tests and the benchmark read).
python3 -c "from litlab.data.fashion_files import ensure_fashion_mnist as e; e('data', '.whl', False)" \
  || exit 1

status=0
step() {  # step <name> <seconds> <command...>: run with a time limit, remember a failure
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  timeout "$limit" "$@" || { status=1; echo "!! $name failed or timed out" >&2; }
  echo "== $name: $((SECONDS - start)) s" | tee -a "$LOGS/steps.txt" >&2
}

step "gpu tests" 150 bash -c "python3 -m pytest -m gpu -q -p no:cacheprovider tests \
  >'$OUT/pytest-gpu.txt' 2>&1"

# Data resident on the GPU; the CPU-only rows (the notes' loop, the peer) are left out here.
step "benchmark" 300 bash -c "python3 benchmarks/bench.py '$OUT/bench-cuda.json' --device cuda \
  --variants user plain litlab litlab_k1 poly_plain poly_litlab poly_litlab_k1 \
  2>'$LOGS/bench-stderr.txt'"

# The default steps_per_call on the GPU: µs per optimizer step for 1, 8 and 32 steps a call.
step "steps_per_call" 120 bash -c "python3 benchmarks/steps_per_call.py trainer=gpu --rounds 1 \
  --values 1 8 32 >'$OUT/steps-per-call.md' 2>'$LOGS/steps-per-call-stderr.txt'"

runs=$(mktemp -d)
for experiment in fashion fashion_fast; do
  step "experiment=$experiment trainer=gpu" 120 bash -c "python3 train.py \
    experiment=$experiment trainer=gpu logger=none paths.log_dir=$runs/$experiment \
    >'$LOGS/$experiment.txt' 2>&1"
  find "$runs/$experiment" -name metrics.json -exec cp {} "$OUT/$experiment-metrics.json" \;
done

for log in "$LOGS"/*; do
  printf '\n===== %s\n' "$(basename "$log")"
  tail -n 40 "$log"
done >"$OUT/logs.txt"
{
  cat "$LOGS/gpu.txt" "$LOGS/steps.txt"
  tail -n 1 "$OUT/pytest-gpu.txt"
  python3 -c "import json; print(json.load(open('$OUT/bench-cuda.json'))['table'])"
  grep '^|' "$OUT/steps-per-call.md"
  for experiment in fashion fashion_fast; do
    python3 -c "import json; m = json.load(open('$OUT/$experiment-metrics.json')); \
print('$experiment', {k: round(m[k], 4) for k in ('test/acc', 'time/train_s') if k in m})"
  done
} 2>&1 | tee "$OUT/summary.txt"
exit $status
