#!/usr/bin/env bash
# Evaluate a trained run on all of another dataset (generalisation), keeping the run's config beside the result.
#   scripts/cross_eval.sh RUN_DIR OTHER_DATA_DIR DEST_DIR
# Run it from the repository root. Uses last.pt, or final.safetensors (the same EMA weights) without it.
# COMMIT=<hash> names the commit where there is no git history (as for run.sh).
set -euo pipefail
run=$1 data=$2 dest=$3
ckpt=$run/last.pt
[[ -f $ckpt ]] || ckpt=$run/final.safetensors
mkdir -p "$dest"
cp "$run/config.json" "$dest/config.json"
cmd=(microaunet evaluate --threads "${EVAL_THREADS:-1}" --toolbox --ckpt "$ckpt" --data "$data" --split all --out "$dest/eval_all.json")
echo "${cmd[*]}" > "$dest/command.txt"
echo "${COMMIT:-$(git rev-parse HEAD)}" > "$dest/commit.txt"
"${cmd[@]}" | tee "$dest/eval_all.txt"
