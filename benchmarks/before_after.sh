#!/bin/bash
# The latency and GUI-stall benchmarks on one tree, for before/after comparisons of a change (alternate the
# trees: A, B, A, B, ... on the same machine, nothing else running). Reports go to OUT/latency_LABEL.txt and
# OUT/gui_LABEL.txt. The tree's own packages are imported (the benchmarks put their tree first on sys.path).
#   git worktree add /tmp/before <commit>
#   benchmarks/before_after.sh /tmp/before before1 docs/refactor; benchmarks/before_after.sh . after1 docs/refactor
set -euo pipefail
tree=$1 label=$2 out=$(realpath "${3:-.}")
python=$(realpath "$(dirname "$0")/../.venv/bin/python")
cd "$tree"
"$python" benchmarks/latency.py --minutes 1 > "$out/latency_$label.txt"
xvfb-run -a -s "-screen 0 1920x1080x24" "$python" benchmarks/gui_stall.py --seconds 40 > "$out/gui_$label.txt"
echo "done $label"
