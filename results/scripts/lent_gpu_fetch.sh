#!/usr/bin/env bash
# Rebuild a run trained by lent_gpu_train.sh from the files that came back: its record and its
# final.safetensors, whose SHA-256 is checked.
#   results/scripts/lent_gpu_fetch.sh FILES_DIR RUN_DIR
set -euo pipefail
files=$1 run=$2
mkdir -p "$run"
tar xf "$files/record.tar" -C "$run"
cat "$files"/final.safetensors.part* > "$run/final.safetensors"
(cd "$run" && sha256sum --quiet -c -) < "$files/final.sha256"
echo "$run rebuilt: $(ls "$run" | tr '\n' ' ')"
