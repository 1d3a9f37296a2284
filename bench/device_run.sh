#!/usr/bin/env bash
# On an offline GPU machine (with .whl and .data copied beside the checkout):
#   bash bench/device_run.sh gpu_path --limit 60000 --epochs 3
#   bash bench/device_run.sh trials_per_device --gpus 0 --processes 1 2 4 8
# installs the copied wheels, puts Fashion-MNIST where search.data looks, and runs
# the benchmark on JAX; its table is also written to RESULTS_DIR/NAME.md (default /tmp).
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND="${KERAS_BACKEND:-jax}" PYTHONUNBUFFERED=1
mkdir -p ~/.keras/datasets && cp -r .data/fashion-mnist ~/.keras/datasets/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
name="$1"; shift
python3 "bench/$name.py" "$@" | tee "${RESULTS_DIR:-${OUT:-/tmp}}/$name.md"
