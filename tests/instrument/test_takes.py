"""Takes: incremental 24-bit FLAC + automation log; valid after a hard kill and after a full disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from instrument.takes import AutomationEvent, TakeWriter, read_take_audio, repair_take


def tone(seconds: float, frequency_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 44100)) / 44100
    left = 0.5 * np.sin(2 * np.pi * frequency_hz * t)
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


def test_take_round_trip_with_automation(tmp_path: Path) -> None:
    writer = TakeWriter(tmp_path, name="t1", metadata={"model": "debug", "seed": 7})
    writer.start()
    audio = tone(2.0)
    for start in range(0, len(audio), 1024):
        writer.write(audio[start:start + 1024])
    writer.log(AutomationEvent(22050, "cfg_scale", 6.5, "midi"))
    status = writer.close()
    assert status.error is None and status.frames_written == len(audio)
    data, rate = soundfile.read(tmp_path / "t1.flac", dtype="float32")
    info = soundfile.info(tmp_path / "t1.flac")
    assert rate == 44100 and info.subtype == "PCM_24" and data.shape == audio.shape
    np.testing.assert_allclose(data, audio, atol=1e-6)
    sidecar = json.loads((tmp_path / "t1.json").read_text())
    assert sidecar["state"] == "complete" and sidecar["seed"] == 7 and sidecar["frames"] == len(audio)
    events = [json.loads(line) for line in (tmp_path / "t1.automation.jsonl").read_text().splitlines()]
    assert events == [{"frame": 22050, "name": "cfg_scale", "value": 6.5, "source": "midi"}]


def test_take_survives_a_hard_kill(tmp_path: Path) -> None:
    script = f"""
import sys, time, numpy as np
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from instrument.takes import TakeWriter
w = TakeWriter({str(tmp_path)!r}, name="crash", flush_seconds=0.25)
w.start()
t = np.arange(4410) / 44100
block = np.stack([0.4 * np.sin(2 * np.pi * 330 * t)] * 2, axis=1).astype(np.float32)
for i in range(30):
    w.write(block)
    time.sleep(0.01)
time.sleep(0.5)
print("written", flush=True)
time.sleep(60)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "written"
    process.kill()  # SIGKILL: no cleanup at all
    process.wait()
    assert json.loads((tmp_path / "crash.json").read_text())["state"] == "recording"
    audio, rate = read_take_audio(tmp_path / "crash.flac")
    assert rate == 44100 and audio.shape[1] >= 44100 * 2.5, "loses at most the last second"
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.3
    frames = repair_take(tmp_path / "crash.flac")
    repaired, _ = soundfile.read(tmp_path / "crash.flac")  # now every reader accepts it
    assert len(repaired) == frames == audio.shape[1]


def test_disk_full_stops_recording_and_keeps_the_audio(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (a real full disk)")
    try:
        writer = TakeWriter(mount, name="full", flush_seconds=0.1)
        writer.start()
        rng = np.random.default_rng(0)
        for _ in range(120):  # ~12 s of noise: far more than 1 MB of 24-bit FLAC
            writer.write((0.5 * rng.standard_normal((4410, 2))).astype(np.float32))
            time.sleep(0.002)
        status = writer.close()
        assert status.error == "disk full"
        audio, _ = read_take_audio(mount / "full.flac")
        assert audio.shape[1] > 44100 * 0.5 and np.all(np.isfinite(audio))
    finally:
        subprocess.run(["umount", str(mount)], check=False)
