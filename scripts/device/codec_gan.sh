#!/usr/bin/env bash
# DEVICE side of the codec decoder's adversarial fine-tune (runbook: scripts/device/codec_gan.md).
# Runs in the repository root on the lent GPU machine: installs the carried soundfile wheels, trains for
# MINUTES of wall clock from engine/weights/autoencoder.safetensors on the carried bundle (.gan/data) plus
# GPU-made tones, exports the EMA decoder (fp16, shipped format) and leaves in $OUT: the export split in
# 15 MiB parts, its sha256, the JSONL log and the trainer's stdout (every log line, even if it was killed).
#   bash scripts/device/codec_gan.sh MINUTES [extra python -m engine.codec.adversarial options]
set -uo pipefail
MINUTES=${1:?minutes}; shift
OUT=${OUT:-/tmp/codec_gan_out}; mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.gan}
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
SITE=/tmp/codec_gan_site
if ! $PYTHON -c "import soundfile" 2>/dev/null; then
  $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE $BUNDLE/whl/*.whl || exit 3
  export PYTHONPATH=$SITE:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
# engine/codec/phase.py (imported with the model) needs numba at import time only; training never calls it
if [ -n "${FORCE_NUMBA_STUB:-}" ] || ! $PYTHON -c "import numba" 2>/dev/null; then
  mkdir -p /tmp/codec_gan_stub/numba
  printf 'def njit(*args, **kwargs):\n    return args[0] if args and callable(args[0]) else (lambda function: function)\n' \
    > /tmp/codec_gan_stub/numba/__init__.py
  export PYTHONPATH=$PYTHONPATH:/tmp/codec_gan_stub
  echo "numba: stub"
fi
LOG="$OUT/train_stdout.txt"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true) | tee "$LOG"
$PYTHON -c "import torch, soundfile; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'soundfile', soundfile.__version__)" | tee -a "$LOG"
sha256sum engine/weights/autoencoder.safetensors | tee -a "$LOG"
RUN=${RUN:-/tmp/codec_gan_run}
# an EMA snapshot at half time too: if the second half goes wrong, the first half is not lost
SNAPSHOT=${SNAPSHOT:-$(awk "BEGIN {print $MINUTES / 2}")}
$PYTHON -m engine.codec.adversarial --data "$BUNDLE/data" --out "$RUN" --export "$RUN/autoencoder_gan.safetensors" \
  --minutes "$MINUTES" --snapshot-minutes "$SNAPSHOT" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
cp "$RUN/train_log.jsonl" "$OUT/" 2>/dev/null
: > "$OUT/sha256.txt"
for name in autoencoder_gan autoencoder_gan_snapshot; do  # 15 MiB parts: the tool returns files up to 16 MiB
  if [ -f "$RUN/$name.safetensors" ]; then
    (cd "$RUN" && sha256sum $name.safetensors >> "$OUT/sha256.txt" \
      && split -b 15M -d -a 1 $name.safetensors "$OUT/$name.safetensors.part")
  fi
done
ls -la "$OUT"  # at most 7 files: 2 x 2 parts, sha256.txt, train_log.jsonl, train_stdout.txt
exit $status
