"""The app with a real (JACK dummy) audio device: it plays there; a lost server is reported on the banner in a
performer's words while playing goes on to a software clock; the sound comes back by itself when the server
runs again, and "Reopen audio output" reopens it at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.helpers import killable_jackd


def test_lost_output_is_reported_and_comes_back_by_itself(qtbot: object, user_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.debug_models import debug_generator
    from instrument.controller import AppConfig, Instrument
    from gui.main_window import MainWindow

    with killable_jackd(monkeypatch, "cascade-gui") as jack:
        instrument = Instrument(AppConfig(output="auto", takes_dir=user_dir / "takes",
                                          generator_factory=lambda: debug_generator(0)))
        window = MainWindow(instrument)
        qtbot.addWidget(window)
        instrument.start().result(timeout=60)
        window.start()
        qtbot.waitUntil(lambda: "JACK" in window.output_label.text(), timeout=10000)
        assert "No audio device" not in window.banner.text
        qtbot.waitUntil(lambda: window.level_meter.text.endswith("dBFS"), timeout=10000)
        jack.kill()  # the audio server crashes under the running stream
        qtbot.waitUntil(lambda: window.banner.text.startswith("JACK stopped"), timeout=10000)
        assert window.banner.level == "warning" and "comes back by itself" in window.banner.text
        assert "restart_output" not in window.banner.text
        qtbot.waitUntil(lambda: "sound paused" in window.output_label.text(), timeout=3000)
        jack.restart()  # nobody touches the app
        qtbot.waitUntil(lambda: window.banner.text.startswith("Sound is back on system"), timeout=15000)
        qtbot.waitUntil(lambda: window.output_label.text().startswith("Output: system"), timeout=3000)
        # "Reopen audio output" still reopens at once (a device plugged in, say).
        qtbot.mouseClick(window.reopen_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: "audio output: system" in window.banner.text, timeout=15000)
        window.close()
