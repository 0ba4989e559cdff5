#!/usr/bin/env bash
# Train one run on a lent GPU machine: a copy of the working tree without git history or an installed
# package, and 64 MiB of files each way. Unpacks the dataset that lent_gpu.py packed, trains through
# run.sh (evaluation left to this machine), and leaves in OUT_DIR what comes back: the run's record
# (record.tar, no checkpoints) and final.safetensors in 16 MB parts (under the 16 MiB a returned file may
# have; 31 MB of UNet weights: two parts) with its SHA-256.
#   COMMIT=<hash> results/scripts/lent_gpu_train.sh PACK_DIR RUN_DIR OUT_DIR -- microaunet train ... --device cuda --out RUN_DIR
# Back here: results/scripts/lent_gpu_fetch.sh OUT_DIR RUN_DIR, then evaluate_run.sh and cross_eval.sh.
set -euo pipefail
pack=$1 run=$2 out=$3
shift 3
[[ $1 == -- ]] && shift
: "${COMMIT:?name the commit of the copied tree: COMMIT=<hash>}"
bin=$(mktemp -d)
printf '#!/bin/sh\nexec python3 "$@"\n' > "$bin/python"
printf '#!/bin/sh\nexec python3 -m microaunet.cli "$@"\n' > "$bin/microaunet"
chmod +x "$bin/python" "$bin/microaunet"
export PATH=$bin:$PATH PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 results/scripts/lent_gpu.py unpack "$pack" ../shared/data
SKIP_EVAL=1 results/scripts/run.sh "$run" - - -- "$@"  # data and split: for the evaluation, not made there
mkdir -p "$out"
split -b 16000000 -d "$run/final.safetensors" "$out/final.safetensors.part"
(cd "$run" && sha256sum final.safetensors) > "$out/final.sha256"
tar cf "$out/record.tar" -C "$run" --exclude='*.pt' --exclude=final.safetensors .
