"""The take player child process (python -m instrument.take_player) without the app: its events for a missing or
cut-short file, and a JACK server dying under it (the child leaves with its own exit code; this process, which
never initialised PortAudio for it, is untouched). The app's tests (tests/gui/test_take_player_gui.py) capture
its sound with jack_rec."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from instrument.take_player import EXIT_ERROR, EXIT_LOST, TakePlayer
from tests.helpers import KillableJack, jack_ports, killable_jackd, wait_for


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.exited = threading.Event()

    def __call__(self, event: dict) -> None:
        self.events.append(event)
        if event["event"] == "exited":
            self.exited.set()

    def kinds(self) -> list[str]:
        return [event["event"] for event in self.events]


def _tone(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * 44100)) / 44100
    tone = 0.25 * np.sin(2 * np.pi * 441.0 * t)
    soundfile.write(path, np.stack([tone, tone], axis=1), 44100)
    return path


def test_a_missing_file_is_an_error_event(tmp_path: Path) -> None:
    recorder = Recorder()
    player = TakePlayer(on_event=recorder)
    player.start(tmp_path / "gone.flac")
    assert recorder.exited.wait(30)
    assert recorder.kinds() == ["error", "exited"]
    assert recorder.events[0]["message"] == f"cannot play gone.flac: no such file ({tmp_path / 'gone.flac'})"
    assert recorder.events[1]["code"] == EXIT_ERROR and not player.playing


@pytest.fixture()
def own_jackd(monkeypatch: pytest.MonkeyPatch) -> Iterator[KillableJack]:
    """A JACK dummy server this test may kill (tests/conftest.py's jack_server must outlive PortAudio in this
    process; this one is only ever used by the child)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install jackd2): scripts/setup.sh installs it")
    with killable_jackd(monkeypatch, "cascade-player") as jack:
        yield jack


def test_a_cut_short_file_plays_what_is_there_then_reports(own_jackd: KillableJack, tmp_path: Path) -> None:
    whole = _tone(tmp_path / "whole.flac", 3.0)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:30000])  # a take whose writer died: header says 3 s, data ends early
    recorder = Recorder()
    player = TakePlayer(on_event=recorder)
    player.start(cut)
    assert recorder.exited.wait(30), recorder.events
    assert "started" in recorder.kinds() and recorder.kinds()[-2:] == ["error", "exited"], recorder.events
    assert "reading cut.flac failed" in recorder.events[-2]["message"]
    assert recorder.events[-1]["code"] == EXIT_ERROR


def test_the_server_dying_under_the_player_ends_the_child_not_us(own_jackd: KillableJack, tmp_path: Path) -> None:
    jack = own_jackd
    recorder = Recorder()
    player = TakePlayer(on_event=recorder)
    player.start(_tone(tmp_path / "long.flac", 30.0))
    assert wait_for(lambda: "started" in recorder.kinds(), 20.0), recorder.events
    assert wait_for(lambda: any(p.startswith("PortAudio") for p in jack_ports(jack.name)), 5.0)
    jack.kill()
    assert recorder.exited.wait(20), recorder.events
    assert recorder.kinds()[-2:] == ["error", "exited"], recorder.events
    assert "has gone" in recorder.events[-2]["message"] and recorder.events[-1]["code"] == EXIT_LOST
    assert not player.playing
    player.stop()  # nothing left to stop: returns at once


def test_stop_ends_a_playing_child(own_jackd: KillableJack, tmp_path: Path) -> None:
    recorder = Recorder()
    player = TakePlayer(on_event=recorder)
    player.start(_tone(tmp_path / "long.flac", 30.0))
    assert wait_for(lambda: "started" in recorder.kinds(), 20.0), recorder.events
    pid = player.pid
    player.stop()
    assert recorder.exited.wait(5)
    assert recorder.kinds()[-2:] == ["stopped", "exited"] and recorder.events[-1]["code"] == 0
    assert not player.playing and not Path(f"/proc/{pid}").exists()
