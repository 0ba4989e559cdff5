#!/usr/bin/env bash
# Rebuild a run trained by lent_gpu_train.sh from the files that came back: its record, and its
# final.safetensors, whose SHA-256 is checked, or, where the weights stayed there, the record's weights.txt
# naming them and the evaluations made there (the one on all of the other dataset into CROSS_DEST).
#   results/scripts/lent_gpu_fetch.sh FILES_DIR RUN_DIR [CROSS_DEST]
set -euo pipefail
files=$1 run=$2 cross=${3:-}
mkdir -p "$run"
tar xf "$files/record.tar" -C "$run"
if [[ -f $files/final.sha256 ]]; then
  cat "$files"/final.safetensors.part* > "$run/final.safetensors"
  (cd "$run" && sha256sum --quiet -c -) < "$files/final.sha256"
elif [[ ! -f $run/weights.txt || ! -f $run/eval_test.json ]]; then
  echo "$files: neither the weights nor their evaluation came back" >&2
  exit 1
fi
if [[ -f $files/cross.tar ]]; then
  [[ -n $cross ]] || { echo "$files/cross.tar came back: name where it goes (CROSS_DEST)" >&2; exit 1; }
  mkdir -p "$cross"
  tar xf "$files/cross.tar" -C "$cross"
fi
echo "$run rebuilt: $(ls "$run" | tr '\n' ' ')"
