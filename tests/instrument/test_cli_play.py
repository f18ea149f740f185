"""`cascade play`, `cascade devices` and `cascade rerender` as a user runs them (subprocesses, debug model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile



def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ | {"OMP_NUM_THREADS": "1"})


def summary_of(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_devices_lists_audio_and_midi() -> None:
    result = run("devices")
    assert result.returncode == 0, result.stderr
    assert "audio outputs" in result.stdout and "MIDI inputs" in result.stdout


def test_play_records_without_a_device_and_rerender_upgrades_the_take(tmp_path: Path) -> None:
    played = run("play", "--headless", "--debug-model", "--output", "none", "--seconds", "2.5", "--record",
                 str(tmp_path), "--threads", "1", "--preset", "ambient-drift")
    assert played.returncode == 0, played.stderr
    summary = summary_of(played)
    assert summary["output"].startswith("no audio device") and summary["engine"]["chunks"] >= 2
    assert summary["start_to_first_sound_seconds"] < 3.0 and summary["engine"]["errors"] == 0
    take = Path(summary["take"])
    assert json.loads(take.read_text())["state"] == "complete"
    out = tmp_path / "better.flac"
    rendered = run("rerender", str(take), "--steps", "6", "-o", str(out), "--debug-model", "--threads", "1",
                   "--no-progress")
    assert rendered.returncode == 0, rendered.stderr
    info = soundfile.info(out)
    assert info.frames == soundfile.info(take.with_suffix(".flac")).frames and info.subtype == "PCM_24"


def test_play_with_no_options_picks_jack(jack_server, tmp_path: Path) -> None:
    played = run("play", "--headless", "--debug-model", "--seconds", "1.5", "--threads", "1", "--quiet")
    assert played.returncode == 0, played.stderr
    summary = summary_of(played)
    assert "JACK" in summary["output"] and summary["nonfinite_blocks"] == 0


def test_play_refuses_bad_input_clearly(tmp_path: Path) -> None:
    missing = run("play", "--headless", "--weights", str(tmp_path / "nothing.safetensors"), "--seconds", "1")
    assert missing.returncode == 2 and "no diffusion model" in missing.stderr
    preset = run("play", "--headless", "--debug-model", "--preset", "no-such-preset", "--seconds", "1")
    assert preset.returncode == 2 and "no preset named" in preset.stderr and "default" in preset.stderr
    take = run("rerender", str(tmp_path / "missing.json"), "--debug-model")
    assert take.returncode == 2 and "cannot read the take sidecar" in take.stderr


def test_headless_play_plays_a_presets_drawn_curve(tmp_path: Path) -> None:
    """A preset saved with a playing curve (the app's format v2) drives its parameter headless too: the take's
    automation log shows the curve's writes, at most one a second, and the target switched on."""
    from instrument.parameters import ParameterStore
    from instrument.presets import CURVE_STEPS, preset_from_store

    store = ParameterStore()
    spec = store.spec("brightness_hz")
    rising = [spec.from_normalised(i / (CURVE_STEPS - 1)) for i in range(CURVE_STEPS)]
    store.set("tempo_bpm", 240.0)  # 16 beats = a 4 s loop: the curve sweeps a quarter of its travel a second
    preset = preset_from_store(store, "Rising", curves={"brightness_hz": {"points": rising, "playing": True}})
    path = tmp_path / "rising.json"
    path.write_text(json.dumps(preset))
    played = run("play", "--headless", "--debug-model", "--output", "none", "--seconds", "3.5", "--record",
                 str(tmp_path / "takes"), "--threads", "1", "--preset", str(path))
    assert played.returncode == 0, played.stderr
    assert "curves: brightness_hz" in played.stderr
    take = json.loads(Path(summary_of(played)["take"]).read_text())
    log = [json.loads(line) for line in (tmp_path / "takes" / take["automation"]).read_text().splitlines()]
    curve_writes = [entry for entry in log if entry.get("name") == "brightness_hz" and entry.get("source") == "curve"]
    assert 2 <= len(curve_writes) <= 4, curve_writes
    values = [entry["value"] for entry in curve_writes]
    assert values == sorted(values) and values[-1] > values[0], "a rising curve writes rising values"


def test_play_says_what_each_prompts_words_read(tmp_path: Path) -> None:
    """As the app shows under each prompt: the rules' reading, a tempo read by the trained words reader (said
    so), nothing for a number that is not a tempo; --read-words rules leaves the reader's tempo unread."""
    preset = json.loads((Path(__file__).resolve().parents[2] / "presets" / "default.json").read_text())
    preset["prompts"] = ["a groove at about 132, dark warehouse", "deep house at 124 bpm in A minor", "route 66 blues", ""]
    path = tmp_path / "typed.json"
    path.write_text(json.dumps(preset))
    played = run("play", "--headless", "--debug-model", "--output", "none", "--seconds", "1", "--quiet", "--preset",
                 str(path))
    assert played.returncode == 0, played.stderr
    lines = [line for line in played.stderr.splitlines() if line.startswith("prompt ")]
    assert lines[0].startswith("prompt 1 reads: 132 BPM (tempo read by the model, p "), lines
    assert lines[1:] == ["prompt 2 reads: 124 BPM, A minor", "prompt 3 reads: nothing"], lines
    rules = run("play", "--headless", "--debug-model", "--output", "none", "--seconds", "1", "--quiet", "--preset",
                str(path), "--read-words", "rules")
    assert "prompt 1 reads: nothing" in rules.stderr, rules.stderr
