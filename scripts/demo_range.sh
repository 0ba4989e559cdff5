#!/usr/bin/env bash
# The demo's expected score: `microaunet demo` with its defaults (96 synthetic pairs, 60 epochs) for training
# seeds 42, 43 and 44, one thread each, one after the other; prints each run's test Dice and wall time.
#   scripts/demo_range.sh > results/demo.md
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# microaunet demo, seeds 42-44 ($(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $(getconf _NPROCESSORS_ONLN) cores)"
echo
echo "| seed | per-image Dice | pooled Dice | wall s |"
echo "|---:|---:|---:|---:|"
for seed in 42 43 44; do
  start=$(date +%s.%N)
  microaunet demo --out "$tmp/demo-$seed" --seed "$seed" --threads 1 --json 2> /dev/null > "$tmp/$seed.json"
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  python3 -c "import json,sys; r=json.load(open('$tmp/$seed.json')); print(f\"| $seed | {r['per_image']['dice']:.3f} | {r['pooled']['dice']:.3f} | {float('$wall'):.0f} |\")"
done
