#!/usr/bin/env bash
# Copy a finished run's record and its final EMA weights (final.safetensors; not the checkpoints)
# from runs/ into results/, with a description.
#   results/scripts/collect.sh runs/kvasir-seg/NAME results/kvasir-seg/NAME "what the run is"
set -euo pipefail
src=$1 dst=$2 desc=$3
mkdir -p "$dst"
for f in command.txt commit.txt machine.txt wall_clock.txt train_stdout.log config.json log.csv final.safetensors \
         eval_command.txt eval_test.json eval_test.txt; do
  if [[ -f $src/$f ]]; then cp "$src/$f" "$dst/$f"; fi
done
echo "$desc" > "$dst/provenance.txt"
