#!/usr/bin/env bash
# Every kept 300-epoch teacher, student and UNeXt-S run evaluated on the test split of each OTHER dataset
# (Kvasir-SEG, CVC-ClinicDB, BKAI-NeoPolyp; each dataset's own test split is in its run folder already), for the
# report's cross-dataset matrix. Skips what is done; one thread.
#   scripts/cross_matrix.sh     (data: $KVASIR, $CVC, $BKAI)
# Writes results/cross-dataset/SOURCE-to-TARGET/RUN/{eval_test.json,config.json,command.txt,commit.txt}.
set -euo pipefail
declare -A DATA=([kvasir-seg]=${KVASIR:-../shared/data/Kvasir-SEG} [cvc-clinicdb]=${CVC:-../shared/data/CVC-ClinicDB/PNG}
                 [bkai-neopolyp]=${BKAI:-../shared/data/BKAI-NeoPolyp})
commit=$(git rev-parse HEAD)
for source in kvasir-seg cvc-clinicdb bkai-neopolyp; do
  for run in results/$source/{malunet,microaunet-distill,unext-s}-e300{,-seed43,-seed44}; do
    [[ -f $run/final.safetensors ]] || continue
    for target in kvasir-seg cvc-clinicdb bkai-neopolyp; do
      [[ $target == "$source" ]] && continue
      dest=results/cross-dataset/$source-to-$target/$(basename "$run")
      [[ -f $dest/eval_test.json ]] && continue
      mkdir -p "$dest"
      cp "$run/config.json" "$dest/config.json"
      cmd=(microaunet evaluate --threads 1 --ckpt "$run/final.safetensors" --data "${DATA[$target]}" --split test
           --split-def paper --out "$dest/eval_test.json")
      echo "${cmd[*]}" > "$dest/command.txt"
      echo "$commit" > "$dest/commit.txt"
      "${cmd[@]}" > /dev/null 2>&1 || { echo "failed: ${cmd[*]}" >&2; rm -rf "$dest"; exit 1; }
      echo "$dest"
    done
  done
done
