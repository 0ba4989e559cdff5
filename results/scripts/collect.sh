#!/usr/bin/env bash
# Copy a finished run's record (not its checkpoints) from runs/ into results/, with a description.
#   results/scripts/collect.sh runs/kvasir-seg/NAME results/kvasir-seg/NAME "what the run is"
set -euo pipefail
src=$1 dst=$2 desc=$3
mkdir -p "$dst"
for f in command.txt commit.txt wall_clock.txt train_stdout.log config.json log.csv eval_command.txt eval_test.json eval_test.txt; do
  [[ -f $src/$f ]] && cp "$src/$f" "$dst/$f"
done
echo "$desc" > "$dst/provenance.txt"
