#!/usr/bin/env bash
# DEVICE side of the diffusion model's training on data v2 (runbook: scripts/device/diffusion_v2.md).
#   bash scripts/device/diffusion_v2.sh stash            # a call that only brings parts: keep them in $STASH
#   bash scripts/device/diffusion_v2.sh train MINUTES [train_diffusion_v2.py options]
# Every call first copies the .dev16/call_* folders it carried into $STASH (kept while the machine stays warm).
# `train` also installs the carried soundfile wheels, unpacks and trains (scripts/device/train_diffusion_v2.py)
# and leaves in $OUT: the export in 15 MiB parts, sha256.txt, train_log.jsonl and train_stdout.txt.
set -uo pipefail
MODE=${1:?stash or train}; shift
OUT=${OUT:-/tmp/diffusion_v2_out}; mkdir -p "$OUT"
STASH=${STASH:-/tmp/dev16}; mkdir -p "$STASH"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
for folder in .dev16/call_*; do
  [ -d "$folder" ] && cp -n "$folder"/* "$STASH"/ 2>/dev/null
done
echo "stash: $(ls "$STASH" | tr '\n' ' ')"
[ "$MODE" = stash ] && exit 0
MINUTES=${1:?minutes}; shift
SITE=/tmp/diffusion_v2_site
if ! $PYTHON -c "import soundfile" 2>/dev/null; then
  $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE "$STASH"/*.whl || exit 3
  export PYTHONPATH=$SITE:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
LOG="$OUT/train_stdout.txt"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true) | tee "$LOG"
$PYTHON -c "import torch, soundfile; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$LOG"
RUN=${RUN:-/tmp/dev16_run}
INIT=()
[ -f "$STASH/diffusion_init.safetensors" ] && INIT=(--init "$STASH/diffusion_init.safetensors")
$PYTHON scripts/device/train_diffusion_v2.py --parts "$STASH" --run "$RUN" --minutes "$MINUTES" "${INIT[@]}" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
cp "$RUN/train_log.jsonl" "$OUT/" 2>/dev/null
if [ -f "$RUN/diffusion.safetensors" ]; then  # 15 MiB parts: the tool returns files up to 16 MiB
  (cd "$RUN" && sha256sum diffusion.safetensors > "$OUT/sha256.txt" \
    && split -b 15M -d -a 1 diffusion.safetensors "$OUT/diffusion.safetensors.part")
fi
ls -la "$OUT"  # at most 6 files: 3 parts, sha256.txt, train_log.jsonl, train_stdout.txt
exit $status
