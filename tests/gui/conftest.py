"""Fixtures for the app's tests: a real window on a debug generator with no audio device (offscreen Qt)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # scripts/test.sh sets it too; a bare pytest run works


@pytest.fixture()
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User presets, takes and controller presets go to a temporary folder."""
    folder = tmp_path / "user"
    monkeypatch.setenv("CASCADE_USER_DIR", str(folder))
    return folder


def make_window(qtbot: object, user_dir: Path, *, autoplay: bool, harmony: bool = False) -> object:
    from engine.debug_models import debug_generator
    from instrument.controller import AppConfig, Instrument
    from gui.main_window import MainWindow
    from gui.theme import apply_theme
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())
    config = AppConfig(output="none", autoplay=autoplay, takes_dir=user_dir / "takes",
                       generator_factory=lambda: debug_generator(0, harmony=harmony))
    instrument = Instrument(config)
    window = MainWindow(instrument)
    qtbot.addWidget(window)
    instrument.start().result(timeout=60)
    window.start()
    window.show()
    return window


@pytest.fixture()
def window(qtbot: object, user_dir: Path) -> Iterator[object]:
    """The app, stopped (model loaded, nothing playing): for control, preset and MIDI tests."""
    win = make_window(qtbot, user_dir, autoplay=False)
    yield win
    win.close()


@pytest.fixture()
def playing_window(qtbot: object, user_dir: Path) -> Iterator[object]:
    """The app playing the debug model to a software clock (no audio device)."""
    win = make_window(qtbot, user_dir, autoplay=True)
    yield win
    win.close()
