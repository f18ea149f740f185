#!/usr/bin/env bash
# HERE, right after the device call: put engine/weights/diffusion.safetensors back in the index (undoes
# prepare_codec_gan.sh's untracking; .gan stays, ignored, for a rerun).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
sed -i '\#^/engine/weights/diffusion.safetensors$#d' "$(git rev-parse --git-path info/exclude)"
git reset -q -- engine/weights/diffusion.safetensors
git status --short | head -5
