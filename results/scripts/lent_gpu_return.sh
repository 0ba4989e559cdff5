#!/usr/bin/env bash
# What of a run on a lent GPU machine comes back (8 files of 16 MiB, 64 MiB together, per call): its record
# (record.tar: everything but the checkpoints and the weights) and final.safetensors in 16 MB parts with its
# SHA-256; weights over 48 MB (SANet: 96 MB) stay there, named by size and SHA-256 in the record's weights.txt,
# so such a run must be evaluated there (lent_gpu_train.sh with EVALUATE).
#   results/scripts/lent_gpu_return.sh RUN_DIR OUT_DIR
set -euo pipefail
run=$1 out=$2
limit=${RETURN_WEIGHTS_LIMIT:-48000000}
mkdir -p "$out"
rm -f "$out"/final.safetensors.part* "$out/final.sha256"
size=$(stat -c %s "$run/final.safetensors")
if ((size <= limit)); then
  split -b 16000000 -d "$run/final.safetensors" "$out/final.safetensors.part"
  (cd "$run" && sha256sum final.safetensors) > "$out/final.sha256"
else
  echo "final.safetensors not kept in git (left on the lent GPU machine): $size bytes, sha256 $(sha256sum "$run/final.safetensors" | cut -d' ' -f1)" \
    > "$run/weights.txt"
fi
tar cf "$out/record.tar" -C "$run" --exclude='*.pt' --exclude=final.safetensors .
