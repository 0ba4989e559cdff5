#!/usr/bin/env bash
# The trainer's supervised MicroAUNet step (scripts/bench_compile_step.py, eager, two threads) under each OpenMP
# waiting setting: libgomp's default spin (GOMP_SPINCOUNT=300000), this package's default (10000), a shorter spin
# (1000) and OMP_WAIT_POLICY=PASSIVE. Run it once on a quiet machine and once beside other work.
#   scripts/bench_openmp_wait.sh [DATA] > results/bench_openmp_wait.txt
set -uo pipefail
data=${1:-../shared/data/Kvasir-SEG}
echo "# $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
for setting in GOMP_SPINCOUNT=300000 GOMP_SPINCOUNT=10000 GOMP_SPINCOUNT=1000 OMP_WAIT_POLICY=PASSIVE; do
  echo "$setting $(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$setting" python scripts/bench_compile_step.py \
    --data "$data" --mode eager --threads 2 --steps 20 2>&1 | tail -1)"
done
