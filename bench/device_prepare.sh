#!/usr/bin/env bash
# Prepare what an offline GPU machine lacks before running there (see bench/README.md):
# it has Python 3.12, JAX, PyTorch, numpy, pandas, scikit-learn, rich and pyyaml,
# but no Keras, no Optuna, no network and no Fashion-MNIST. This puts their wheels
# in .whl/ and the data files in .data/ (both git-ignored; copy them with the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl .data
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  keras==3.15.1 namex==0.1.0 optree==0.20.0 optuna==5.0.0 sqlalchemy==2.1.9 alembic==1.20.1 \
  mako==1.4.3 colorlog==6.12.0 greenlet
cp -r /usr/share/datasets/fashion-mnist .data/
du -sh .whl .data
