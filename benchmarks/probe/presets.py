"""Probe cases, presets (issue 17, "presets say what is wrong with them"): the real `cascade play --preset` with a
truncated user preset, one full of wrong types, unknown keys and out-of-range values, and a user preset named
like a factory one. A user folder of its own ($CASCADE_USER_DIR), so the player's real presets stay untouched."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.probe.case import Case, Outcome

CASCADE = str(Path(sys.executable).with_name("cascade"))
USER = Path(tempfile.mkdtemp(prefix="cascade-probe-presets-"))
PRESETS = USER / "presets"
atexit.register(shutil.rmtree, USER, ignore_errors=True)


def play(preset: str) -> subprocess.CompletedProcess[str]:
    """One second of `cascade play` (the shipped model, no audio device) on `preset`."""
    return subprocess.run([CASCADE, "play", "--headless", "--output", "none", "--seconds", "1", "--quiet",
                           "--preset", preset], capture_output=True, text=True, timeout=300,
                          env=os.environ | {"CASCADE_USER_DIR": str(USER)})


def write(name: str, text: str) -> Path:
    PRESETS.mkdir(parents=True, exist_ok=True)
    path = PRESETS / name
    path.write_text(text, encoding="utf-8")
    return path


def truncated_preset() -> Outcome:
    path = write("cut.json", '{\n  "format": "cascade-preset",\n  "version": 1,\n  "parameters": {"cfg_scale": 4')
    result = play("cut")
    line = (result.stderr.strip().splitlines() or ["(nothing)"])[-1]
    seen = f"rc {result.returncode}: {line.replace(str(PRESETS), '<user presets>')[:110]!r}"
    passed = (result.returncode == 2 and str(path) in line and "invalid JSON at line 4" in line
              and "no preset named" not in line)
    return Outcome(seen, passed)


def preset_full_of_mistakes() -> Outcome:
    write("wild.json", json.dumps({
        "format": "cascade-preset", "version": 1, "name": "Wild", "colour": "red",
        "parameters": {"cfg_scale": "loud", "steps": 1e9, "master_gain_db": 1e6, "reverb": 0.5, "variation": 0.25},
        "prompts": ["glassy pads"]}))
    result = play("wild")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: preset:")]
    told = {words: any(words in line for line in warnings)
            for words in ("'colour'", "cfg_scale must be a number, got 'loud'", "steps = 1000000000.0",
                          "master_gain_db = 1000000.0", "unknown parameter 'reverb'")}
    seen = (f"rc {result.returncode}; {len(warnings)} warnings on stderr, {sum(told.values())} of 5 problems named; "
            f"played {'yes' if 'playing on' in result.stderr else 'no'}")
    return Outcome(seen, result.returncode == 0 and all(told.values()) and "playing on" in result.stderr)


def user_and_factory_default() -> Outcome:
    write("default.json", json.dumps({"format": "cascade-preset", "version": 1, "name": "Default",
                                      "parameters": {"seed": 7}, "prompts": ["my own default"]}))
    mine = play("Default")
    factory = play("factory:Default")
    note = next((line for line in mine.stderr.splitlines() if line.startswith("note:")), "")
    seen = (f"'Default': rc {mine.returncode}, {note.replace(str(PRESETS), '<user presets>')[:80]!r}...; "
            f"'factory:Default': rc {factory.returncode}, {'no note' if 'note:' not in factory.stderr else 'a note'}")
    passed = (mine.returncode == 0 and str(PRESETS / "default.json") in note and "factory:Default" in note
              and factory.returncode == 0 and "note:" not in factory.stderr and "warning:" not in factory.stderr)
    return Outcome(seen, passed)


CASES: list[Case] = [
    ("a truncated user preset", truncated_preset),
    ("wrong types, unknown keys, out-of-range values", preset_full_of_mistakes),
    ("a user preset named like a factory one", user_and_factory_default),
]
