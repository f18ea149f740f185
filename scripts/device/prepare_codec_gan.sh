#!/usr/bin/env bash
# HERE, before the device call (runbook: scripts/device/codec_gan.md). In the checkout the device tool sends:
# packs .gan/data (if missing) from DATASET, fetches the cp312 soundfile/cffi/pycparser wheels into .gan/whl
# (if missing), ignores .gan, takes engine/weights/diffusion.safetensors out of the index (so it does not
# travel; restore_codec_gan.sh puts it back) and checks that what travels stays under 64 MiB.
#   bash scripts/device/prepare_codec_gan.sh [DATASET (default /tmp/exp/ds_multi)] [DATA_MIB (default 36)]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
DATASET=${1:-/tmp/exp/ds_multi}; DATA_MIB=${2:-36}
PY=${PY:-.venv/bin/python}
EXCLUDE=$(git rev-parse --git-path info/exclude)
grep -qx '/.gan/' "$EXCLUDE" || echo '/.gan/' >> "$EXCLUDE"
if [ ! -f .gan/data/index.json ]; then
  PYTHONPATH=$PWD nice -n 19 $PY scripts/device/pack_codec_data.py --dataset "$DATASET" --out .gan/data --budget-mib "$DATA_MIB"
fi
if ! ls .gan/whl/soundfile-*.whl .gan/whl/cffi-*cp312*.whl .gan/whl/pycparser-*.whl >/dev/null 2>&1; then
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gan/whl soundfile==0.14.0 cffi==2.1.1 pycparser==3.0
fi
if git ls-files --error-unmatch engine/weights/diffusion.safetensors >/dev/null 2>&1; then
  git rm --cached -q engine/weights/diffusion.safetensors
fi
grep -qx '/engine/weights/diffusion.safetensors' "$EXCLUDE" || echo '/engine/weights/diffusion.safetensors' >> "$EXCLUDE"
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
gan=$(du -sb .gan | cut -f1)
total=$((tree + gan))
echo "travels: tree $((tree / 1048576)) MiB + .gan $((gan / 1048576)) MiB = $(awk "BEGIN {printf \"%.1f\", $total / 1048576}") MiB (limit 64)"
git status --short | head -5
if [ "$total" -gt $((63 * 1048576)) ]; then
  echo "too big: pack less (DATA_MIB) or drop untracked files; run restore_codec_gan.sh to undo" >&2; exit 1
fi
