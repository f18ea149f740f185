"""`cascade` / `cascade app`: build the Qt application, the instrument and the window, and run.

Start-up order, so that sound comes within ~3 s: the window shows at once with the preset applied and
the model loading on the operations thread (~2 s for the shipped model on a CPU); playback starts as soon
as the model is there. The display timer keeps the window alive meanwhile.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.controller import AppConfig, Instrument
from gui.main_window import MainWindow
from gui.theme import apply_theme

logger = logging.getLogger(__name__)


def create_window(config: AppConfig, app: QApplication | None = None) -> MainWindow:
    """The themed window with its instrument started (model loading in the background)."""
    app = app or QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    instrument = Instrument(config)
    instrument.start()  # the model loads on the operations thread while the window is built
    window = MainWindow(instrument)
    window.start()
    return window


def run_app(config: AppConfig, *, quit_after_seconds: float | None = None, screenshot: Path | None = None,
            screenshot_after_seconds: float = 8.0) -> int:
    """Run the app until the window closes; returns the exit code.

    quit_after_seconds: close by itself (smoke tests, benchmarks). screenshot: grab the window to this PNG
    after screenshot_after_seconds (for docs; under Xvfb the real xcb platform renders it)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cascade")
    app.setOrganizationName("cascade")
    window = create_window(config, app)
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
