"""`cascade` / `cascade app`: the Qt application and the window over an instrument already started.

Start-up order (instrument/preload.py, instrument.cli.start_app_instrument): the instrument starts before Qt is
imported, on the start preset, and plays as soon as the model has warmed up and its first chunk is computed,
which happens while Qt is imported and this window is built; the display timer then mirrors whatever state
the instrument is in (loading, playing, no model).
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.controller import Instrument
from gui.main_window import MainWindow
from gui.theme import apply_theme

logger = logging.getLogger(__name__)


def create_window(instrument: Instrument, app: QApplication | None = None) -> MainWindow:
    """The themed window over `instrument` (started, or about to be: Instrument.start)."""
    app = app or QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(instrument)
    window.start()
    return window


def run_app(instrument: Instrument, *, quit_after_seconds: float | None = None, screenshot: Path | None = None,
            screenshot_after_seconds: float = 8.0) -> int:
    """Run the app over a started instrument until the window closes; returns the exit code.

    quit_after_seconds: close by itself (smoke tests, benchmarks). screenshot: grab the window to this PNG
    after screenshot_after_seconds (for docs; under Xvfb the real xcb platform renders it)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cascade")
    app.setOrganizationName("cascade")
    window = create_window(instrument, app)
    available = app.primaryScreen().availableGeometry() if app.primaryScreen() is not None else None
    if available is not None and (available.width() < window.width() or available.height() < window.height()):
        window.showMaximized()  # a laptop screen: use all of it rather than hang off the edge
    else:
        window.show()
    # Ctrl-C in the terminal closes the window cleanly (Python runs signal handlers between timer ticks).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    if screenshot is not None:
        def grab() -> None:
            window.grab().save(str(screenshot))
            logger.warning("screenshot written to %s", screenshot)
        QTimer.singleShot(int(screenshot_after_seconds * 1000), grab)
    if quit_after_seconds is not None:
        QTimer.singleShot(int(quit_after_seconds * 1000), window.close)
    code = app.exec()
    window.instrument.shutdown()
    return int(code)
