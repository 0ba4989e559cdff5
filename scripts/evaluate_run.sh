#!/usr/bin/env bash
# Evaluate a finished run's final EMA weights on a test split (with the polyp toolbox's metrics),
# recording the command, the result and the thresholded predictions (predictions.npz) beside the run.
# last.pt and final.safetensors hold the same EMA weights; final.safetensors serves where only it came
# back (a run trained on a lent GPU).
#   scripts/evaluate_run.sh RUN_DIR DATA_DIR TEST_SPLIT
set -euo pipefail
run=$1 data=$2 split=$3
ckpt=$run/last.pt
[[ -f $ckpt ]] || ckpt=$run/final.safetensors
eval_cmd=(microaunet evaluate --threads "${EVAL_THREADS:-1}" --toolbox --ckpt "$ckpt" --data "$data" --split "$split"
          --out "$run/eval_test.json" --save-predictions "$run/predictions.npz")
echo "${eval_cmd[*]}" > "$run/eval_command.txt"
"${eval_cmd[@]}" | tee "$run/eval_test.txt"
