#!/usr/bin/env bash
# Images per second of one real training epoch on Kvasir-SEG (720 training images, 2 threads), for each job as
# `microaunet train|distill` runs it, this checkout against an earlier commit's source (OLD_SRC: a checkout's
# src/, e.g. `git worktree add /tmp/old 16519b1` then OLD_SRC=/tmp/old/src), each REPEATS times; run it on a
# quiet machine. Prints one line per epoch: code, job, layout, seconds, images/s. LAYOUTS (default "nchw
# channels_last") and REPEATS (default 2) narrow or widen it.
#   OLD_SRC=/tmp/old/src scripts/bench_training_epoch.sh [DATA] > results/bench_training_epoch.txt
set -uo pipefail
data=${1:-../shared/data/Kvasir-SEG}
repeats=${REPEATS:-2}
teachers=(results/kvasir-seg/malunet-e300/final.safetensors results/kvasir-seg/malunet-e300-seed43/final.safetensors
          results/kvasir-seg/malunet-e300-seed44/final.safetensors results/kvasir-seg/unext-s-e300/final.safetensors)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--data "$data" --epochs 300 --max-epochs 1 --threads 2)
echo "# $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores"
one() {  # CODE SRC JOB LAYOUT ARGS...
  local code=$1 src=$2 job=$3 layout=$4
  shift 4
  for r in $(seq "$repeats"); do
    PYTHONPATH=$src python -m microaunet.cli "$@" "${common[@]}" --layout "$layout" --out "$tmp/$code-$job-$layout-$r" \
      > "$tmp/log" 2>&1 || { echo "$code $job failed: $(tail -1 "$tmp/log")"; continue; }
    echo "$code $job $layout $(grep -o 'seconds=[0-9.]*  images_per_s=[0-9.]*' "$tmp/log")"
  done
}
for layout in ${LAYOUTS:-nchw channels_last}; do
  if [[ -n ${OLD_SRC:-} ]]; then
    one old "$OLD_SRC" supervised "$layout" train --model microaunet
    one old "$OLD_SRC" paper-kd "$layout" distill --teacher "${teachers[0]}" --student microaunet
  fi
  one new src supervised "$layout" train --model microaunet
  one new src paper-kd "$layout" distill --teacher "${teachers[0]}" --student microaunet
  one new src output-kd "$layout" distill --kd output "${teachers[@]/#/--teacher=}" --teacher-tta flip4 --student microaunet
done
