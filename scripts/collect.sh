#!/usr/bin/env bash
# Copy a finished run's record and its final EMA weights (final.safetensors; not the checkpoints)
# from runs/ into results/, with a description. Weights over 10 MB (GIT_FILE_LIMIT; the UNet and SANet
# baselines: 31-96 MB) are not kept in git: their size and SHA-256 are recorded instead, and the run's test-split
# predictions (predictions.npz, a few hundred KB) are kept so that Fig. 5 can still draw the model.
#   scripts/collect.sh runs/kvasir-seg/NAME results/kvasir-seg/NAME "what the run is"
set -euo pipefail
GIT_FILE_LIMIT=10000000  # bytes: the largest weights file kept in git
src=$1 dst=$2 desc=$3
mkdir -p "$dst"
for f in command.txt commit.txt machine.txt wall_clock.txt train_stdout.log config.json log.csv \
         eval_command.txt eval_test.json eval_test.txt; do
  if [[ -f $src/$f ]]; then cp "$src/$f" "$dst/$f"; fi
done
weights=$src/final.safetensors
if [[ -f $weights && $(stat -c %s "$weights") -le $GIT_FILE_LIMIT ]]; then
  cp "$weights" "$dst/"
elif [[ -f $weights ]]; then
  echo "final.safetensors not kept in git: $(stat -c %s "$weights") bytes, sha256 $(sha256sum "$weights" | cut -d' ' -f1)" \
    > "$dst/weights.txt"
  if [[ -f $src/predictions.npz ]]; then cp "$src/predictions.npz" "$dst/"; fi
fi
echo "$desc" > "$dst/provenance.txt"
