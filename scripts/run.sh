#!/usr/bin/env bash
# Train (or distil) one model, then evaluate its final EMA weights on the test split, recording
# everything results/ keeps: the command, the commit, the machine, the wall clock, stdout and the evaluation.
#   scripts/run.sh RUN_DIR DATA_DIR TEST_SPLIT -- microaunet train ... --out RUN_DIR
# Run it from the repository root; resume a killed run by running it again with --resume added: each start
# adds a line (commit and time) to commit.txt and to machine.txt, and its start and end to wall_clock.txt.
# On a machine without the git history (a lent GPU), COMMIT=<hash> names the commit of the copied tree
# and SKIP_EVAL=1 leaves the evaluation to scripts/evaluate_run.sh back on this machine.
set -euo pipefail
run=$1 data=$2 split=$3
shift 3
[[ $1 == -- ]] && shift
command -v "$1" > /dev/null || { echo "run.sh: $1 is not on PATH (activate the virtual environment); nothing recorded" >&2; exit 1; }
mkdir -p "$run"
echo "$*" > "$run/command.txt"
echo "${COMMIT:-$(git rev-parse HEAD)} ($(date -u +%FT%TZ))" >> "$run/commit.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
echo "$(lscpu | sed -n "s/^Model name: *//p"), $(nproc) cores${gpu:+, $gpu}, $(python -c "import torch; print(torch.__version__)")" \
  >> "$run/machine.txt"
[[ -n ${COMMIT:-} ]] || git diff --quiet HEAD -- src || echo "(uncommitted changes under src/ at start)" >> "$run/commit.txt"
date -u +%FT%TZ >> "$run/wall_clock.txt"
"$@" 2>&1 | tee -a "$run/train_stdout.log"
date -u +%FT%TZ >> "$run/wall_clock.txt"
[[ ${SKIP_EVAL:-0} == 1 ]] || scripts/evaluate_run.sh "$run" "$data" "$split"
