#!/usr/bin/env bash
# The paper's full 300-epoch protocol for every model of Tables 1 and 3, most telling first: the MALUNet
# teacher and its distilled MicroAUNet student on both datasets, the ablations and the supervised control on
# both datasets (as in the paper's Table 3), then the baselines: UNeXt-S on both datasets first (its checkpoint
# is small), then UNet and SANet under bf16 (hours per epoch-hundred on a CPU, minutes on a GPU).
# Each run is started, or resumed from its last.pt, or skipped when finished (in runs/, or already collected
# into results/, as on a fresh checkout), then collected into results/; the teacher, its student and the
# baselines are then evaluated on all of the other dataset (generalisation). A student's teacher is the
# teacher run's last.pt, or its collected final.safetensors (the same EMA weights) where runs/ lacks it.
# Run it again after any interruption, from the repository root, until it prints "full protocol done".
# The first seed given trains every model; each further seed adds the teacher and its student only (the issue
# asks for three seeds of these two), before the ablations and baselines of the first.
# Several copies may run side by side: each takes the next run (or evaluation) that no other copy holds (a lock
# under runs/.locks/, released when its holder ends, even when killed). On a 2-core CPU, two copies with
# THREADS=1 train 1.3x (MALUNet) to 1.6x (a distillation) the images per second of one copy with THREADS=2.
#   scripts/full_protocol.sh [SEED ...]     (default: 42; data: $KVASIR, $CVC; $THREADS, default 2)
#   scripts/full_protocol.sh 42 43 44       (with the issue's three seeds of teacher and student)
set -uo pipefail
KVASIR=${KVASIR:-../shared/data/Kvasir-SEG}
CVC=${CVC:-../shared/data/CVC-ClinicDB/PNG}
THREADS=${THREADS:-2}
seeds=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(42)
status=0
busy=0  # 1 once a step was left to another copy of this script

run_dir() {  # DATASET NAME SEED
  echo "runs/$1/$2-e300$([[ $3 == 42 ]] || echo "-seed$3")"
}

finished_dir() {  # DATASET NAME SEED: where the finished run's record is (runs/ first, then results/); fails if unfinished
  local dir
  dir=$(run_dir "$@")
  for d in "$dir" "results/${dir#runs/}"; do
    [[ -f $d/eval_test.json ]] && { echo "$d"; return 0; }
  done
  return 1
}

teacher_weights() {  # DATASET SEED: the finished teacher's EMA weights
  local dir
  dir=$(finished_dir "$1" malunet "$2") || return 1
  if [[ -f $dir/last.pt ]]; then echo "$dir/last.pt"; else echo "$dir/final.safetensors"; fi
}

claim() {  # KEY: hold the lock runs/.locks/KEY until release; fails at once where another copy holds it
  mkdir -p "runs/.locks/${1%/*}"
  exec {held}>"runs/.locks/$1"
  flock -n "$held" && return 0
  exec {held}>&-
  busy=1
  return 1
}

release() {
  exec {held}>&-
}

step() {  # DATASET NAME SEED DESCRIPTION -- microaunet SUBCOMMAND ARGS... (data, split, epochs, seed added)
  local dataset=$1 name=$2 seed=$3 desc=$4
  shift 5
  local data=$KVASIR dir
  [[ $dataset == kvasir-seg ]] || data=$CVC
  finished_dir "$dataset" "$name" "$seed" > /dev/null && return 0
  dir=$(run_dir "$dataset" "$name" "$seed")
  claim "${dir#runs/}" || return 1
  finished_dir "$dataset" "$name" "$seed" > /dev/null && { release; return 0; }  # finished by another copy
  local resume=()
  [[ -f $dir/last.pt ]] && resume=(--resume)
  scripts/run.sh "$dir" "$data" test -- "$@" --data "$data" --split paper --epochs 300 --seed "$seed" \
      --threads "$THREADS" --out "$dir" "${resume[@]}" \
    && scripts/collect.sh "$dir" "results/${dir#runs/}" "$desc, $dataset (paper split), 300 epochs, seed $seed" \
    || { status=1; release; return 1; }
  release
}

generalise() {  # DATASET NAME SEED: the finished run on all of the other dataset, once; never stops the protocol
  local dataset=$1 other=$CVC direction=kvasir-to-cvc dir dest
  [[ $dataset == kvasir-seg ]] || { other=$KVASIR; direction=cvc-to-kvasir; }
  dir=$(finished_dir "$dataset" "$2" "$3") || return 0
  dest=results/generalisation/$direction/${dir##*/}
  [[ -f $dest/eval_all.json ]] && return 0
  claim "${dest#results/}" || return 0
  [[ -f $dest/eval_all.json ]] || scripts/cross_eval.sh "$dir" "$other" "$dest" || status=1
  release
}

for seed in "${seeds[@]}"; do
  for dataset in kvasir-seg cvc-clinicdb; do
    step $dataset malunet $seed "MALUNet teacher" -- microaunet train --model malunet \
      && step $dataset microaunet-distill $seed "MicroAUNet distilled from the 300-epoch teacher of its seed" -- \
           microaunet distill --teacher "$(teacher_weights $dataset $seed)" --student microaunet
    generalise $dataset malunet $seed
    generalise $dataset microaunet-distill $seed
  done
done
seed=${seeds[0]}  # the ablations and baselines: the first seed only
for dataset in kvasir-seg cvc-clinicdb; do
  teacher=$(teacher_weights $dataset $seed) || continue
  step $dataset microaunet $seed "MicroAUNet supervised only: the control" -- microaunet train --model microaunet
  step $dataset microaunet1-nodwd $seed "Ablation MicroAUNet-1: plain convs instead of DWD, distilled from the teacher of its seed" -- \
    microaunet distill --teacher "$teacher" --student microaunet-nodwd
  step $dataset microaunet2-noimitation $seed "Ablation MicroAUNet-2: no imitation stage, distilled from the teacher of its seed" -- \
    microaunet distill --teacher "$teacher" --student microaunet --no-imitation
  step $dataset microaunet3-nopreference $seed "Ablation MicroAUNet-3: no preference stage, distilled from the teacher of its seed" -- \
    microaunet distill --teacher "$teacher" --student microaunet --no-preference
done
for dataset in kvasir-seg cvc-clinicdb; do
  step $dataset unext-s $seed "UNeXt-S baseline" -- microaunet train --model unext-s
  generalise $dataset unext-s $seed
done
for dataset in kvasir-seg cvc-clinicdb; do
  step $dataset unet $seed "UNet baseline, bf16 autocast" -- microaunet train --model unet --precision bf16
  step $dataset sanet $seed "SANet baseline (Res2Net-50 from scratch), bf16 autocast" -- \
    microaunet train --model sanet --precision bf16
  for name in unet sanet; do generalise $dataset $name $seed; done
done
if [[ $status != 0 ]]; then
  echo "some runs failed; run this script again to resume them"
elif [[ $busy == 1 ]]; then
  echo "done here; what another copy of this script holds is still running"
else
  echo "full protocol done"
fi
exit $status
