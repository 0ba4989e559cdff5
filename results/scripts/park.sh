#!/usr/bin/env bash
# Carry the unfinished runs of runs/ to another machine: copy each one's checkpoint (last.pt) and record
# into results/in-progress/, to be committed; full_protocol.sh resumes from there where runs/ lacks the run,
# and removes the copy once the run is collected. Run it from the repository root, while or after training:
# a checkpoint is written whole at each epoch's end, so the copy is the last finished epoch. A checkpoint
# over 10 MB (git_limit.sh; UNet and SANet: weights, their EMA and Adam's two moments, at least 125 MB and
# 380 MB) is too large for git and is named, not parked.
#   results/scripts/park.sh
set -euo pipefail
source "$(dirname "$0")/git_limit.sh"
shopt -s nullglob
for ckpt in runs/*/*/last.pt; do
  run=${ckpt%/last.pt}
  [[ -f $run/eval_test.json ]] && continue
  size=$(stat -c %s "$ckpt")
  if ((size > GIT_FILE_LIMIT)); then
    echo "not parked: $ckpt is $size bytes, too large for git; this run restarts from epoch 0 elsewhere" >&2
    continue
  fi
  dest=results/in-progress/${run#runs/}
  mkdir -p "$dest"
  for f in last.pt command.txt commit.txt machine.txt wall_clock.txt train_stdout.log config.json log.csv; do
    if [[ -f $run/$f ]]; then cp "$run/$f" "$dest/$f"; fi
  done
  epochs=?
  [[ -f $run/log.csv ]] && epochs=$(($(wc -l < "$run/log.csv") - 1))
  echo "parked $run -> $dest (epochs done: $epochs)"
done
