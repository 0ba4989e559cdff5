#!/usr/bin/env bash
# Train one run on a lent GPU machine: a copy of the working tree without git history or an installed
# package, and 64 MiB of files each way. Unpacks the dataset that lent_gpu.py packed, trains through
# run.sh, and leaves in OUT_DIR what comes back (lent_gpu_return.sh): the run's record and its weights,
# where they fit the trip back.
#   COMMIT=<hash> results/scripts/lent_gpu_train.sh PACK_DIR RUN_DIR OUT_DIR -- microaunet train ... --device cuda --out RUN_DIR
# Without EVALUATE the evaluation is left to this machine: back here, results/scripts/lent_gpu_fetch.sh OUT_DIR
# RUN_DIR, then evaluate_run.sh and cross_eval.sh. Weights too large to come back (SANet) are evaluated there:
# EVALUATE="DATA_DIR OTHER_DATA_DIR CROSS_DEST" (the other dataset unpacked there too, by an earlier call) adds the
# test-split evaluation to the record and the evaluation on all of the other dataset as OUT_DIR/cross.tar, both
# on all of that machine's cores; back here, lent_gpu_fetch.sh OUT_DIR RUN_DIR CROSS_DEST.
# The evaluation's polyp-toolbox metrics need pysodmetrics, which that machine lacks (the rest is there): carry
# its wheel (here: pip download --no-deps pysodmetrics -d .whl; carry .whl) and install it there first
# (python3 -m pip install -q --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site).
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
if [[ -n ${EVALUATE:-} ]]; then
  read -r data other cross <<< "$EVALUATE"
  EVAL_THREADS=$(nproc) results/scripts/evaluate_run.sh "$run" "$data" test
  EVAL_THREADS=$(nproc) results/scripts/cross_eval.sh "$run" "$other" "$cross"
  tar cf "$out/cross.tar" -C "$cross" .
fi
results/scripts/lent_gpu_return.sh "$run" "$out"
