#!/usr/bin/env bash
# The paper's full 300-epoch schedule for the MALUNet teacher and its distilled MicroAUNet student, on
# Kvasir-SEG and CVC-ClinicDB (paper splits): each run is started, or resumed from its last.pt, or skipped
# when finished, then collected into results/. Run it again after any interruption, from the repository
# root, until it prints "full protocol done".
#   results/scripts/full_protocol.sh [SEED ...]     (default: 42; data: $KVASIR, $CVC; $THREADS, default 2)
set -uo pipefail
KVASIR=${KVASIR:-../shared/data/Kvasir-SEG}
CVC=${CVC:-../shared/data/CVC-ClinicDB/PNG}
THREADS=${THREADS:-2}
seeds=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(42)

step() {  # RUN_DIR DATA_DIR DESCRIPTION -- COMMAND...
  local dir=$1 data=$2 desc=$3
  shift 4
  [[ -f $dir/eval_test.json ]] && return 0
  local resume=()
  [[ -f $dir/last.pt ]] && resume=(--resume)
  results/scripts/run.sh "$dir" "$data" test -- "$@" --out "$dir" "${resume[@]}" \
    && results/scripts/collect.sh "$dir" "results/${dir#runs/}" "$desc"
}

status=0
for seed in "${seeds[@]}"; do
  suffix=$([[ $seed == 42 ]] || echo "-seed$seed")
  for dataset in kvasir-seg cvc-clinicdb; do
    data=$([[ $dataset == kvasir-seg ]] && echo "$KVASIR" || echo "$CVC")
    teacher=runs/$dataset/malunet-e300$suffix
    student=runs/$dataset/microaunet-distill-e300$suffix
    step "$teacher" "$data" "MALUNet teacher, $dataset (paper split), 300 epochs (the paper's schedule), seed $seed" -- \
      microaunet train --model malunet --data "$data" --split paper --epochs 300 --seed "$seed" --threads "$THREADS" \
      || { status=1; continue; }
    step "$student" "$data" "MicroAUNet distilled from the 300-epoch teacher of seed $seed, $dataset (paper split), 300 epochs" -- \
      microaunet distill --teacher "$teacher/last.pt" --student microaunet --data "$data" --split paper \
        --epochs 300 --seed "$seed" --threads "$THREADS" \
      || status=1
  done
done
[[ $status == 0 ]] && echo "full protocol done"
exit $status
