#!/usr/bin/env bash
# On an offline GPU machine (with .whl and .data from bench/device_prepare.sh copied beside
# the checkout):
#   bash bench/device_run.sh all                 # every GPU figure, one JSON line each, in $OUT
#   bash bench/device_run.sh all --missing OLD   # after a cut call: only what OLD lacks
#   bash bench/device_run.sh gpu_path --limit 60000 --epochs 3
#   bash bench/device_run.sh trials_per_device --gpus 0 --processes 1 2 4 8
# installs the copied wheels, puts Fashion-MNIST where search.data looks, and runs on JAX.
# It refuses to start (exit 2) when the preparation is missing. SEARCH_DEVICE_REHEARSAL=1
# runs the same on this machine's own Python environment (the CPU rehearsal CI runs:
#   SEARCH_DEVICE_REHEARSAL=1 bash bench/device_run.sh all --size tiny).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash bench/device_run.sh all|gpu_path|trials_per_device [options]}"
shift
if [ "${SEARCH_DEVICE_REHEARSAL:-}" = 1 ]; then
  echo "rehearsal: this machine's Python environment; no wheels installed"
else
  missing=()
  compgen -G ".whl/keras-*.whl" >/dev/null || missing+=(".whl/ (the wheels)")
  [ -d .data/fashion-mnist ] || missing+=(".data/fashion-mnist")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "device_run: not prepared, missing ${missing[*]}: run 'bash bench/device_prepare.sh'" \
         "on a machine with a network and carry .whl and .data with the checkout" >&2
    exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
  mkdir -p ~/.keras/datasets && cp -r .data/fashion-mnist ~/.keras/datasets/
fi
# JAX otherwise takes 75% of the GPU in this process, and the worker processes it starts
# (their shares of the rest) would not fit beside it.
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null ||
  echo "no NVIDIA GPU here: the figures are CPU figures"
if [ "$name" = all ]; then
  exec python3 bench/device_all.py "$@"
fi
python3 "bench/$name.py" "$@" | tee "${RESULTS_DIR:-${OUT:-/tmp}}/$name.md"
