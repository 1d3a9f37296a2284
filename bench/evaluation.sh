#!/bin/bash
# The search-quality evaluation: the protocol's eight contenders (search_quality.py's default
# list) on the evaluation tasks, 20 minutes per search, one core each, two at a time,
# repetitions interleaved across tasks (repetition 0 of every task, then 1, then 2), so a
# run stopped midway leaves balanced rows. Rerunning skips the (contender, repetition) rows
# already in bench/out/eval-TASK/results.jsonl.
#   bash bench/evaluation.sh [REPEATS] [TASK ...]   (default: 3 fashion3 fashion10k lookalike4)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
if ! [[ $repeats =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/evaluation.sh: REPEATS must be a positive whole number, not '$repeats'" >&2
  echo "usage: bash bench/evaluation.sh [REPEATS] [TASK ...]" >&2
  exit 2
fi
shift || true
if [ $# -gt 0 ]; then tasks=("$@"); else tasks=(fashion3 fashion10k lookalike4); fi
for n in $(seq 1 "$repeats"); do
  for task in "${tasks[@]}"; do
    echo "=== $task, repetitions up to $n: $(date -u)"
    python bench/search_quality.py --task "$task" --repeats "$n" --parallel 2 \
      --out "bench/out/eval-$task"
  done
done
