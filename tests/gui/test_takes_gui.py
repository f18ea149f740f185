"""Takes in the app: a disk that fills mid-take is on the banner at once, the take is kept and listed as it is,
playing goes on and Record works again; a take a crash left is repaired at start (offscreen Qt, real tmpfs,
a real SIGKILLed recording process)."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile
from PySide6.QtCore import Qt

from tests.gui.conftest import make_window
from tests.takes_support import crashed_take, tmpfs


def test_a_full_disk_stops_the_take_on_the_banner_and_playing_goes_on(qtbot: object, user_dir: Path) -> None:
    with tmpfs(user_dir / "takes", "1m") as takes:
        window = make_window(qtbot, user_dir, autoplay=True)
        instrument = window.instrument
        try:
            qtbot.mouseClick(window.record_button, Qt.LeftButton)
            qtbot.waitUntil(lambda: instrument.recording, timeout=5000)
            qtbot.waitUntil(lambda: "Recording stopped: disk full" in window.banner.text, timeout=30000)
            assert window.banner.level == "error" and "still playing" in window.banner.text
            qtbot.waitUntil(lambda: not instrument.recording and not window.record_button.isChecked(), timeout=5000)
            [sidecar] = takes.glob("*.json")
            data = json.loads(sidecar.read_text())
            frames = soundfile.info(sidecar.with_suffix(".flac")).frames  # finalised: libsndfile reads it
            assert data["state"] == "disk_full" and data["frames"] == frames > 44100 // 2
            qtbot.waitUntil(lambda: window.takes_list.count() == 1
                            and "(disk full)" in window.takes_list.item(0).text(), timeout=5000)
            entry = window.takes_list.item(0).data(Qt.UserRole)
            assert abs(entry.seconds - frames / 44100) < 1e-6
            # Still playing: the engine goes on making chunks.
            chunks = instrument.session.status().engine.chunks
            qtbot.waitUntil(lambda: instrument.session.status().engine.chunks > chunks + 1, timeout=20000)
            assert instrument.playing
            # Room again (the player deletes that take): Record records again.
            for path in takes.glob(f"{sidecar.stem}*"):
                path.unlink()
            qtbot.mouseClick(window.record_button, Qt.LeftButton)
            qtbot.waitUntil(lambda: instrument.recording and window.record_button.isChecked(), timeout=5000)
            qtbot.waitUntil(lambda: instrument.session.status().take_frames > 22050, timeout=20000)
            qtbot.mouseClick(window.record_button, Qt.LeftButton)
            qtbot.waitUntil(lambda: window.takes_list.count() == 1
                            and window.takes_list.item(0).data(Qt.UserRole).state == "complete", timeout=10000)
        finally:
            window.close()


def test_a_take_a_crash_left_is_repaired_at_start(qtbot: object, user_dir: Path) -> None:
    takes = user_dir / "takes"
    takes.mkdir(parents=True)
    sidecar = crashed_take(takes, "crashed", seconds=2.0)
    window = make_window(qtbot, user_dir, autoplay=False)
    try:
        qtbot.waitUntil(lambda: "repaired 1 take left by a crash" in window.banner.text, timeout=10000)
        assert "crashed" in window.banner.text and window.banner.level == "info"
        data = json.loads(sidecar.read_text())
        assert data["state"] == "repaired" and soundfile.info(sidecar.with_suffix(".flac")).frames == data["frames"]
        qtbot.waitUntil(lambda: window.takes_list.count() == 1
                        and "(repaired)" in window.takes_list.item(0).text(), timeout=5000)
        assert "recording" not in window.takes_list.item(0).text()
    finally:
        window.close()
