#!/bin/bash
# The search-quality evaluation: the protocol's contenders (search_quality.py's default
# list) on the evaluation tasks, 20 minutes per search, one core each. Repetition by
# repetition (every task's repetition 0, then 1, then 2, so a run stopped midway leaves
# the tasks level), one process per task, started at once: they share the machine's cores
# through bench/core_pool.py (a job runs on a core no other benchmark job holds), so two
# searches run at a time and a core freed by one task's last job goes to another's next.
# Rerunning skips the (contender, repetition) rows already in bench/out/eval-TASK/results.jsonl.
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
known=$(python -c 'import sys; sys.path.insert(0, "bench"); import tasks
print(" ".join({**tasks.DEVELOPMENT, **tasks.EVALUATION}))')
seen=" "
for task in "${tasks[@]}"; do
  if [[ " $known " != *" $task "* ]]; then
    echo "bench/evaluation.sh: unknown task '$task'; choose from: $known" >&2
    exit 2
  fi
  if [[ "$seen" == *" $task "* ]]; then
    echo "bench/evaluation.sh: task '$task' is named twice" >&2
    exit 2
  fi
  seen+="$task "
done
pids=()
stop() {  # a stop ends every task's process (each stops its searches cleanly) before exiting
  trap - INT TERM EXIT
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait
  exit "${1:-143}"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop $?' EXIT
rows=()
for task in "${tasks[@]}"; do rows+=("bench/out/eval-$task/results.jsonl"); done
for n in $(seq 1 "$repeats"); do
  pids=()
  for task in "${tasks[@]}"; do
    out="bench/out/eval-$task"
    mkdir -p "$out"
    echo "=== $task, repetitions up to $n: $(date -u); log $out/run.log"
    python bench/search_quality.py --task "$task" --repeats "$n" --parallel 2 \
      --out "$out" >> "$out/run.log" 2>&1 &
    pids+=($!)
  done
  failed=()
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${tasks[$i]}")
  done
  pids=()
  if [ ${#failed[@]} -gt 0 ]; then
    for task in "${failed[@]}"; do
      echo "bench/evaluation.sh: $task failed; see bench/out/eval-$task/run.log" >&2
    done
    exit 1
  fi
done
echo "=== done: $(date -u)"
python bench/evaluation_report.py "${rows[@]}"
