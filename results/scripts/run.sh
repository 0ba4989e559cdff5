#!/usr/bin/env bash
# Train (or distil) one model, then evaluate its final EMA weights on the test split, recording
# everything results/ keeps: the command, the commit, the machine, the wall clock, stdout and the evaluation.
#   results/scripts/run.sh RUN_DIR DATA_DIR TEST_SPLIT -- microaunet train ... --out RUN_DIR
# Run it from the repository root; resume a killed run by running it again with --resume added.
set -euo pipefail
run=$1 data=$2 split=$3
shift 3
[[ $1 == -- ]] && shift
mkdir -p "$run"
echo "$*" > "$run/command.txt"
git rev-parse HEAD > "$run/commit.txt"
echo "$(lscpu | sed -n "s/^Model name: *//p"), $(nproc) cores, $(python -c "import torch; print(torch.__version__)")" > "$run/machine.txt"
git diff --quiet HEAD -- src || echo "(uncommitted changes under src/ at start)" >> "$run/commit.txt"
date -u +%FT%TZ >> "$run/wall_clock.txt"
"$@" 2>&1 | tee -a "$run/train_stdout.log"
date -u +%FT%TZ >> "$run/wall_clock.txt"
eval_cmd=(microaunet evaluate --threads 1 --toolbox --ckpt "$run/last.pt" --data "$data" --split "$split"
          --out "$run/eval_test.json")
echo "${eval_cmd[*]}" > "$run/eval_command.txt"
"${eval_cmd[@]}" | tee "$run/eval_test.txt"
