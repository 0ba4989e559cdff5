#!/usr/bin/env bash
# Is the CPU better used by two one-thread trainings side by side than by one two-thread training?
# Runs `microaunet bench train` (MALUNet training steps and distillation steps, images/s) on two threads alone,
# then twice at once on one thread each, then once on one thread alone, and prints the four results as one
# JSON object. Nothing else should run meanwhile (pause a training with kill -STOP, resume with kill -CONT).
#   scripts/bench_side_by_side.sh DATA_DIR > results/bench_train_side_by_side.json
set -euo pipefail
data=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
microaunet bench train --data "$data" --threads 2 --json > "$tmp/two_threads_alone.json"
microaunet bench train --data "$data" --threads 1 --json > "$tmp/one_thread_side_by_side_a.json" &
microaunet bench train --data "$data" --threads 1 --json > "$tmp/one_thread_side_by_side_b.json"
wait
microaunet bench train --data "$data" --threads 1 --json > "$tmp/one_thread_alone.json"
python - "$tmp" <<'PY'
import json, sys
from pathlib import Path

runs = {p.stem: json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("*.json"))}
pair = [runs["one_thread_side_by_side_a"], runs["one_thread_side_by_side_b"]]
summary = {}
for step in ("teacher", "distill"):
    key = f"{step}_cached_fastest_layout"
    together = sum(r[key] for r in pair)
    summary[step] = {"images_per_s_two_threads_alone": runs["two_threads_alone"][key],
                     "images_per_s_one_thread_alone": runs["one_thread_alone"][key],
                     "images_per_s_two_one_thread_side_by_side": round(together, 1),
                     "side_by_side_over_two_threads": round(together / runs["two_threads_alone"][key], 2)}
print(json.dumps({"summary": summary, "runs": runs}, indent=2))
PY
