#!/usr/bin/env bash
# HERE, right after the device calls: put both weight files and docs/ back in the index (undoes prepare_diffusion_v2.sh's
# untracking; .dev16 stays, ignored, for a rerun).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for f in engine/weights/diffusion.safetensors engine/weights/autoencoder.safetensors docs; do
  sed -i "\\#^/$f\$#d" "$(git rev-parse --git-path info/exclude)"
  git reset -q -- "$f"
done
git status --short | head -5
