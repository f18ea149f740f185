"""The in-app take player: a take plays from the Takes tab in a child process (python -m instrument.take_player)
into a real JACK dummy server, captured with jack_rec; Play again stops it (the child ends); a missing or broken
take is an error on the banner and the app goes on. The app's own process never initialises PortAudio for it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtCore import Qt

from tests.helpers import wait_for

RATE = 44100


def _write_take(folder: Path, stem: str, seconds: float, hz: float = 441.0) -> Path:
    """A take as the app lists it: a FLAC and its sidecar (instrument/takes.py writes the same fields)."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.25 * np.sin(2 * np.pi * hz * t)
    audio = folder / f"{stem}.flac"
    soundfile.write(audio, np.stack([tone, -tone], axis=1), RATE, subtype="PCM_24")
    sidecar = folder / f"{stem}.json"
    sidecar.write_text(json.dumps({"format": "cascade-take", "audio": audio.name, "sample_rate": RATE,
                                   "frames": len(t), "state": "complete"}))
    return audio


def _show_take(window: object, qtbot: object, stem: str) -> None:
    window.instrument.takes_version += 1  # what recording or re-rendering does
    qtbot.waitUntil(lambda: any(window.takes_list.item(i).text().startswith(stem)
                                for i in range(window.takes_list.count())), timeout=3000)
    for i in range(window.takes_list.count()):
        if window.takes_list.item(i).text().startswith(stem):
            window.takes_list.setCurrentRow(i)


def _player_ports(jack_server: object) -> list[str]:
    return [p for p in jack_server.ports() if p.startswith("PortAudio") and "out" in p]


def test_a_take_plays_in_the_app_into_jack_and_stops(jack_server: object, window: object, qtbot: object,
                                                     tmp_path: Path) -> None:
    _write_take(window.instrument.takes_dir, "take-tone", 20.0)
    _show_take(window, qtbot, "take-tone")
    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.take_play_button.text() == "■ Stop", timeout=3000)
    qtbot.waitUntil(lambda: window.instrument.take_player.started_s is not None, timeout=15000)
    assert wait_for(lambda: len(_player_ports(jack_server)) == 2, 5.0), jack_server.ports()
    ports = sorted(_player_ports(jack_server))
    capture = tmp_path / "capture.wav"
    subprocess.run(["jack_rec", "-f", str(capture), "-d", "1", "-b", "32", *ports], check=True, timeout=20,
                   capture_output=True, env=os.environ)
    qtbot.waitUntil(lambda: "take-tone.flac" in window.take_player_label.text(), timeout=2000)
    audio, rate = soundfile.read(capture, always_2d=True)
    assert rate == RATE and audio.shape[1] == 2 and len(audio) > 0.8 * RATE
    assert np.all(np.isfinite(audio))
    assert 0.2 < np.abs(audio).max() < 0.3, "the take's level, not silence"
    spectrum = np.abs(np.fft.rfft(audio[:, 0] * np.hanning(len(audio))))
    assert abs(np.argmax(spectrum) * rate / len(audio) - 441.0) < 3.0
    assert np.corrcoef(audio[:, 0], audio[:, 1])[0, 1] < -0.99, "left and right kept apart"
    pid = window.instrument.take_player.pid
    assert pid is not None and pid != os.getpid()

    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)  # Stop
    qtbot.waitUntil(lambda: window.take_play_button.text() == "▶ Play", timeout=5000)
    assert not window.instrument.take_playing and not window.instrument.take_player.playing
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), 5.0), "the player child ended"
    assert wait_for(lambda: not _player_ports(jack_server), 5.0), "its JACK ports are gone"
    assert window.banner.level != "error", window.banner.text
    assert window.take_player_label.text() == ""


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_short_take_plays_to_its_end(jack_server: object, window: object, qtbot: object) -> None:
    _write_take(window.instrument.takes_dir, "take-short", 0.5)
    _show_take(window, qtbot, "take-short")
    events: list[dict] = []
    listener = window.instrument.take_player.on_event
    window.instrument.take_player.on_event = lambda event: (events.append(event), listener(event))
    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.take_play_button.text() == "■ Stop", timeout=3000)
    qtbot.waitUntil(lambda: window.take_play_button.text() == "▶ Play", timeout=20000)  # by itself
    kinds = [event["event"] for event in events]
    assert kinds[:3] == ["opened", "device", "started"] and kinds[-2:] == ["finished", "exited"], kinds
    assert events[-1]["code"] == 0 and events[0]["seconds"] == pytest.approx(0.5)
    assert window.banner.level != "error", window.banner.text


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_a_missing_or_broken_take_is_an_error_on_the_banner(jack_server: object, window: object, qtbot: object,
                                                            broken: str) -> None:
    audio = _write_take(window.instrument.takes_dir, f"take-{broken}", 1.0)
    if broken == "missing":
        audio.unlink()
    else:
        audio.write_bytes(b"fLaC" + os.urandom(3000))  # a FLAC header, then noise
    _show_take(window, qtbot, f"take-{broken}")
    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.banner.level == "error", timeout=15000)
    text = window.banner.text
    assert text.startswith("Take not played: cannot play take-") and audio.name in text
    assert ("no such file" in text) if broken == "missing" else ("not a readable audio file" in text)
    qtbot.waitUntil(lambda: window.take_play_button.text() == "▶ Play", timeout=5000)
    assert not _player_ports(jack_server)
    # The app goes on: the display timer ticks and a good take still plays afterwards.
    ticks = window.ticks
    qtbot.waitUntil(lambda: window.ticks > ticks + 3, timeout=3000)
    _write_take(window.instrument.takes_dir, "take-good", 10.0)
    _show_take(window, qtbot, "take-good")
    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.instrument.take_player.started_s is not None, timeout=15000)
    qtbot.mouseClick(window.take_play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.take_play_button.text() == "▶ Play", timeout=5000)
