#!/usr/bin/env bash
# HERE, before the device calls (runbook: scripts/device/diffusion_v2.md). In the checkout the device tool sends:
# packs CACHE (built from DATASET) into .dev16/pack (if not done), lays one part per call into .dev16/call_K
# (the shipped diffusion weights to start from ride in the first call with room, else in a call_0 of their own),
# puts the cp312 soundfile wheels in the last call, takes both weight files and docs/ out of the index (none is
# needed there, and with them the tree alone is 78 MiB; restore_diffusion_v2.sh puts them back) and checks that
# each call stays under 63 MiB.
#   bash scripts/device/prepare_diffusion_v2.sh CACHE DATASET [PART_MIB (default 58)] [init|scratch (default init)]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
CACHE=${1:?latent cache}; DATASET=${2:?dataset the cache was built from}; PART_MIB=${3:-58}; START=${4:-init}
PY=${PY:-.venv/bin/python}
EXCLUDE=$(git rev-parse --git-path info/exclude)
grep -qx '/.dev16/' "$EXCLUDE" || echo '/.dev16/' >> "$EXCLUDE"
if [ ! -f .dev16/pack/parts.json ]; then
  PYTHONPATH=$PWD nice -n 19 $PY -c "from engine.diffusion.cache_pack import pack_latent_cache as p; \
p('$CACHE', '$DATASET', '.dev16/pack', part_mib=$PART_MIB)"
fi
# parts of PART_MIB, whatever size the pack was made with (what fits depends on the tree that travels)
PYTHONPATH=$PWD $PY -c "from engine.diffusion.cache_pack import resplit_pack; resplit_pack('.dev16/pack', $PART_MIB)"
WHEELS=.dev16/whl
if ! ls $WHEELS/soundfile-*.whl $WHEELS/cffi-*cp312*.whl $WHEELS/pycparser-*.whl >/dev/null 2>&1; then
  if ls .gan/whl/*.whl >/dev/null 2>&1; then mkdir -p $WHEELS && cp .gan/whl/*.whl $WHEELS/; else
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d $WHEELS soundfile==0.14.0 cffi==2.1.1 pycparser==3.0
  fi
fi
rm -rf .dev16/call_*
parts=(.dev16/pack/part_*.bin)
for k in "${!parts[@]}"; do
  mkdir -p ".dev16/call_$((k + 1))" && cp "${parts[$k]}" ".dev16/call_$((k + 1))/"
done
last=".dev16/call_${#parts[@]}"
cp .dev16/pack/parts.json .dev16/call_1/ && cp .dev16/pack/parts.json "$last"/ && cp $WHEELS/*.whl "$last"/
for f in engine/weights/diffusion.safetensors engine/weights/autoencoder.safetensors docs; do
  if git ls-files --error-unmatch "$f" >/dev/null 2>&1; then git rm -r --cached -q "$f"; fi
  grep -qx "/$f" "$EXCLUDE" || echo "/$f" >> "$EXCLUDE"
done
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
echo "the tree travels with every call: $(awk "BEGIN {printf \"%.1f\", $tree / 1048576}") MiB"
if [ "$START" = init ]; then
  weights=$(stat -c %s engine/weights/diffusion.safetensors); home=.dev16/call_0
  for call in $(ls -d .dev16/call_* | sort -V); do
    if [ $((tree + $(du -sb "$call" | cut -f1) + weights)) -le $((63 * 1048576)) ]; then home=$call; break; fi
  done
  mkdir -p $home && cp engine/weights/diffusion.safetensors $home/diffusion_init.safetensors
fi
calls=$(ls -d .dev16/call_* | sort -V)
worst=0
for call in $calls; do
  size=$(du -sb "$call" | cut -f1); total=$((tree + size)); [ $total -gt $worst ] && worst=$total
  echo "  $call: $(ls "$call" | tr '\n' ' ') -> $(awk "BEGIN {printf \"%.1f\", $total / 1048576}") MiB"
done
if [ "$worst" -gt $((63 * 1048576)) ]; then
  echo "too big: lower PART_MIB (rm -rf .dev16/pack) or drop untracked files; restore_diffusion_v2.sh undoes" >&2; exit 1
fi
echo "calls, in order (each within 30 s of the last one's return):"
for call in $calls; do
  if [ "$call" = "$last" ]; then
    echo "  run(command=\"bash scripts/device/diffusion_v2.sh train MINUTES\", carry=[\"$call\"], timeout_s=590)"
  else
    echo "  run(command=\"bash scripts/device/diffusion_v2.sh stash\", carry=[\"$call\"], timeout_s=120)"
  fi
done
