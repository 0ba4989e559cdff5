#!/usr/bin/env bash
# The robustness benchmark of shipped weights, one model after the other, one thread each; per model it writes
# DEST/NAME.json (the full result), DEST/NAME.md (command, commit, date, wall time, then the table) and
# DEST/NAME.log (the progress lines).
#   scripts/robustness.sh DATA_DIR DEST_DIR WEIGHTS_NAME...
# Run it from the repository root. COMMIT=<hash> names the commit where there is no git history (as for run.sh).
set -euo pipefail
data=$1 dest=$2
shift 2
mkdir -p "$dest"
commit=${COMMIT:-$(git rev-parse HEAD)$(git diff --quiet HEAD -- src || echo " (with uncommitted changes in src/)")}
for weights in "$@"; do
  cmd=(microaunet bench robustness --weights "$weights" --data "$data" --split test --threads 1
       --out "$dest/$weights.json")
  start=$(date +%s)
  "${cmd[@]}" > "$dest/$weights.table.tmp" 2> "$dest/$weights.log"
  wall=$(( $(date +%s) - start ))
  {
    echo "command: \`${cmd[*]}\`  "
    echo "commit: $commit  "
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')  "
    echo "wall time: ${wall} s on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), 1 thread"
    echo
    cat "$dest/$weights.table.tmp"
  } > "$dest/$weights.md"
  rm "$dest/$weights.table.tmp"
done
