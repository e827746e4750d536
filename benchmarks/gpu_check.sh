#!/usr/bin/env bash
# The prepared GPU check (one call on a lent device machine; see README "Performance").
#
# Here, before the call (the checkout's ../shared and /usr/share do not travel):
#   mkdir -p .whl && cp ../shared/wheels/gpu/*.whl /usr/share/datasets/fashion-mnist/*.gz .whl/
# The call:  run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
# What comes back under $OUT: gpu.txt, pytest-gpu.txt, bench-cuda.json, bench-cuda.md,
# fashion-fast.txt and fashion-fast-metrics.json (time to 89 %: test/acc and time/train_s).
#
# The machine has torch, lightning, torchvision, torchmetrics and tensorboard; hydra-core,
# omegaconf and antlr4 come from the wheels in .whl/, installed into a temporary folder.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check}
mkdir -p "$OUT"
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
  .whl/*.whl || { echo "wheels did not install" >&2; exit 1; }
export PYTHONPATH="$site:$PWD/src" PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" \
  | tee -a "$OUT/gpu.txt"

# Fashion-MNIST from the carried .gz files into data/ (what the tests and the benchmark read).
python3 -c "from litlab.data.fashion_files import ensure_fashion_mnist as e; e('data', '.whl', False)" \
  || exit 1

status=0
timeout 150 python3 -m pytest -m gpu -q -p no:cacheprovider tests 2>&1 | tee "$OUT/pytest-gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

timeout 240 python3 benchmarks/bench.py "$OUT/bench-cuda.json" --device cuda 2>"$OUT/bench-stderr.txt" \
  | tee "$OUT/bench-cuda.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || { status=1; tail -20 "$OUT/bench-stderr.txt"; }

# Time to 89 % test accuracy: the fast recipe on the GPU (its checkpoints stay behind).
runs=$(mktemp -d)
timeout 90 python3 train.py experiment=fashion_fast trainer=gpu logger=none "paths.log_dir=$runs" \
  >"$OUT/fashion-fast.txt" 2>&1 || { status=1; tail -20 "$OUT/fashion-fast.txt"; }
find "$runs" -name metrics.json -exec cp {} "$OUT/fashion-fast-metrics.json" \;
grep -E "test/acc|time/train_s" "$OUT/fashion-fast.txt"
exit $status
