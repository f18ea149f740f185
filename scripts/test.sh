#!/usr/bin/env bash
# Run the whole test suite (CPU only, no sound card needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
