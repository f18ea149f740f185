"""The app as a whole: it plays (to a software clock: no audio device here), says so, shows the live view
and meters, records and re-renders a take, and starts and stops cleanly (also as `cascade app`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from gui.controller import NO_DEVICE_MESSAGE
from tests.gui.conftest import make_window


def _cascade_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.is_alive() and t.name.startswith(("cascade", "take-writer", "midi-in")))


def test_plays_without_a_device_shows_the_live_view_and_records(qtbot: object, user_dir: Path) -> None:
    window = make_window(qtbot, user_dir, autoplay=True)
    instrument = window.instrument
    assert instrument.playing  # started by the operations thread before start() returned
    qtbot.waitUntil(lambda: window.play_button.isChecked() and window.play_button.text().endswith("Stop"), timeout=3000)
    # No audio device: the app says so (banner and output line) ...
    qtbot.waitUntil(lambda: NO_DEVICE_MESSAGE in window.banner.text, timeout=3000)
    assert window.banner.level == "warning"
    qtbot.waitUntil(lambda: "no audio device" in window.output_label.text()
                    and "Record still saves takes" in window.output_label.text(), timeout=3000)
    # ... and still plays: first sound, spectrogram and waveform filled, meters moving.
    qtbot.waitUntil(lambda: window.analysis.latest.status is not None
                    and window.analysis.latest.status.start_to_first_sound_seconds is not None, timeout=20000)
    assert window.analysis.latest.status.start_to_first_sound_seconds < 3.0
    qtbot.waitUntil(lambda: float(np.max(window.analysis.latest.spectrogram_db[-5:])) > -80.0, timeout=10000)
    assert float(np.max(np.abs(window.analysis.latest.envelope[-50:]))) > 0.0
    assert window.live_view.sequence_shown == window.analysis.latest.sequence or window.ticks > 0
    qtbot.waitUntil(lambda: window.rtf_meter.text != "–" and window.buffer_meter.text.endswith(" s"), timeout=10000)
    assert window.level_meter.text.endswith("dBFS")
    # Start-up objects are frozen out of the garbage collector (a full collection stalled everything ~190 ms).
    import gc

    assert window.gc_frozen and gc.get_freeze_count() > 10_000
    gc.unfreeze()  # the rest of the test session collects as usual
    # A knob change is answered and its latency shown to the player.
    window.controls["cfg_scale"].set_by_player(9.0)
    qtbot.waitUntil(lambda: window.latency_meter.text.endswith(" ms"), timeout=15000)

    # Record (R works too), see the time run, stop: the take is listed, complete.
    qtbot.mouseClick(window.record_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: instrument.recording and window.time_label.text().startswith("●"), timeout=5000)
    qtbot.waitUntil(lambda: window.analysis.latest.status.take_frames > 44100, timeout=10000)
    qtbot.mouseClick(window.record_button, Qt.LeftButton)
    # Listed while it records, then as complete once the writer finished the file.
    qtbot.waitUntil(lambda: window.takes_list.count() == 1
                    and window.takes_list.item(0).data(Qt.UserRole).state == "complete", timeout=10000)
    assert not instrument.recording
    entry = window.takes_list.item(0).data(Qt.UserRole)
    assert entry.seconds >= 1.0 and entry.audio.exists()
    assert "take saved" in window.banner.text

    # Re-render it at more steps in the background; the list shows the result.
    window.rerender_steps.setValue(4)
    window.takes_list.setCurrentRow(0)
    window.rerender_selected_take()
    assert "Re-rendering" in window.banner.text
    qtbot.waitUntil(lambda: not instrument.rerendering, timeout=120000)
    qtbot.waitUntil(lambda: "1 re-render" in window.takes_list.item(0).text(), timeout=3000)
    assert (entry.sidecar.parent / f"{entry.sidecar.stem}-4steps.flac").exists()

    # Stop, play again, stop: the transport follows.
    window.instrument.stop().result(timeout=20)
    qtbot.waitUntil(lambda: not window.play_button.isChecked() and window.output_label.text() == "Stopped",
                    timeout=3000)
    window.instrument.play().result(timeout=20)
    qtbot.waitUntil(lambda: window.play_button.isChecked(), timeout=3000)
    window.close()
    assert not instrument.playing and instrument.midi_input is None
    assert _cascade_threads() == []


def test_record_while_stopped_starts_playing(window: object, qtbot: object) -> None:
    assert not window.instrument.playing
    window.instrument.toggle_record().result(timeout=20)
    assert window.instrument.playing and window.instrument.recording
    qtbot.waitUntil(lambda: window.record_button.isChecked(), timeout=3000)
    window.instrument.toggle_record().result(timeout=20)
    sidecars = list(window.instrument.takes_dir.glob("*.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["state"] == "complete"


def test_cascade_app_starts_plays_and_quits_cleanly(tmp_path: Path) -> None:
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen", "CASCADE_USER_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    shot = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "instrument.cli", "app", "--debug-model", "--output", "none",
                             "--threads", "1", "--quit-after", "8", "--screenshot", str(shot),
                             "--screenshot-after", "6"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000  # the window really rendered


def test_a_missing_model_is_an_error_on_the_banner(qtbot: object, user_dir: Path) -> None:
    from gui.controller import AppConfig, Instrument
    from gui.main_window import MainWindow

    instrument = Instrument(AppConfig(output="none", weights=str(user_dir / "nothing.safetensors")))
    window = MainWindow(instrument)
    qtbot.addWidget(window)
    instrument.start().result(timeout=60)
    window.start()
    qtbot.waitUntil(lambda: "no diffusion model" in window.banner.text, timeout=3000)
    assert not instrument.playing and not window.play_button.isEnabled() and not window.record_button.isEnabled()
    qtbot.waitUntil(lambda: window.output_label.text().startswith("No model loaded"), timeout=2000)
    window.close()


def test_a_take_is_rerendered_on_the_model_that_plays(user_dir: Path) -> None:
    """`cascade` hands the app its model through a factory (the preload): a re-render must still use the
    shipped model then, and the debug model only when the debug model plays."""
    from engine.debug_models import debug_generator
    from engine.generate import Generator
    from gui.controller import AppConfig, Instrument

    for factory, debug in ((Generator.load, False), (lambda: debug_generator(0), True)):
        instrument = Instrument(AppConfig(output="none", autoplay=False, generator_factory=factory))
        try:
            instrument.start().result(timeout=60)
            assert instrument.generator is not None
            command = instrument.rerender_command(user_dir / "take.json", 16, user_dir / "take-16steps.flac")
        finally:
            instrument.shutdown()
        assert ("--debug-model" in command) is debug and "--weights" not in command
        assert command[command.index("--steps") + 1] == "16"
