"""`cascade` / `cascade app`: the Qt application and the window over an instrument already started.

Start-up order (instrument/preload.py, instrument.app_start.start_app_instrument): the instrument starts before
Qt is imported, on the start preset, and plays as soon as the model has warmed up and its first chunk is
computed, which happens while Qt is imported and this window is built; the display timer then mirrors whatever
state the instrument is in (loading, playing, no model). The command line that gets here is gui/cli.py.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, QTimer
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QApplication, QMainWindow

from gui.layout_report import layout_report
from gui.main_window import MainWindow
from gui.theme import apply_theme
from instrument.controller import Instrument

logger = logging.getLogger(__name__)


def create_window(instrument: Instrument, app: QApplication | None = None) -> MainWindow:
    """The themed window over `instrument` (started, or about to be: Instrument.start)."""
    app = app or QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(instrument)
    window.start()
    return window


# The window's size on a screen with room for it; smaller screens get all of their room (maximised), bigger ones
# most of it (the live view and the XY pad grow, the knobs keep their size).
PREFERRED_SIZE = QSize(1560, 960)
SCREENSHOT_LOAD_WAIT_S = 120.0  # a screenshot waits this long at most for the model to load
SCREEN_SHARE = 0.85


def show_on_screen(window: QMainWindow, screen: QScreen | None) -> None:
    """Show `window` sized by the screen's available geometry (without the panels): maximised on a screen
    smaller than PREFERRED_SIZE plus a frame (1366x768, 1440x900: the window fits there, gui/main_window.py),
    else SCREEN_SHARE of it (at least PREFERRED_SIZE), centred."""
    if screen is None:
        window.show()
        return
    available = screen.availableGeometry()
    frame_px = 60  # a window manager's title bar and borders
    if (available.width() < PREFERRED_SIZE.width() + frame_px
            or available.height() < PREFERRED_SIZE.height() + frame_px):
        # Without a window manager (Xvfb, a kiosk) maximising does nothing: the geometry itself must fit.
        window.setGeometry(available)
        window.showMaximized()
        return
    size = QSize(max(PREFERRED_SIZE.width(), int(available.width() * SCREEN_SHARE)),
                 max(PREFERRED_SIZE.height(), int(available.height() * SCREEN_SHARE)))
    window.resize(size)
    window.move(available.center() - QPoint(size.width() // 2, size.height() // 2))
    window.show()


def run_app(instrument: Instrument, *, quit_after_seconds: float | None = None, screenshot: Path | None = None,
            screenshot_after_seconds: float = 8.0, layout_report_path: Path | None = None) -> int:
    """Run the app over a started instrument until the window closes; returns the exit code.

    quit_after_seconds: close by itself (smoke tests, benchmarks). screenshot: grab the screen to this PNG
    screenshot_after_seconds after the model has loaded (for docs and layout checks; under Xvfb the real xcb
    platform renders it); a pending screenshot holds the quit back until it is taken. layout_report_path: at
    the same moment, write where the window and its key controls are (gui/layout_report.py) as JSON."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cascade")
    app.setOrganizationName("cascade")
    window = create_window(instrument, app)
    show_on_screen(window, app.primaryScreen())
    # Ctrl-C in the terminal closes the window cleanly (Python runs signal handlers between timer ticks).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    pending = {"screenshot": screenshot is not None or layout_report_path is not None, "quit": False}
    if pending["screenshot"]:
        _schedule_screenshot(app, window, instrument, pending, screenshot, screenshot_after_seconds, layout_report_path)
    if quit_after_seconds is not None:
        def quit_now() -> None:
            if pending["screenshot"]:
                pending["quit"] = True  # grab() closes the window once the picture is taken
            else:
                window.close()

        QTimer.singleShot(int(quit_after_seconds * 1000), quit_now)
    code = app.exec()
    window.instrument.shutdown()
    return int(code)


def _schedule_screenshot(app: QApplication, window: MainWindow, instrument: Instrument, pending: dict[str, bool],
                         screenshot: Path | None, after_seconds: float, layout_report_path: Path | None) -> None:
    """Grab the screen (and write the layout report) `after_seconds` after the model has loaded; then close the
    window if a quit came meanwhile (pending["quit"])."""
    def grab() -> None:
        if screenshot is not None:
            # The whole screen, not the window's own widget tree: what the performer sees, so a window
            # that hangs off the screen shows cut off in the picture too.
            screen = window.screen() or app.primaryScreen()
            screen.grabWindow(0).save(str(screenshot))
            logger.warning("screenshot written to %s", screenshot)
        if layout_report_path is not None:
            report = layout_report(window, window.key_controls())
            layout_report_path.write_text(json.dumps(report, indent=1))
        pending["screenshot"] = False
        if pending["quit"]:
            window.close()

    loaded_by_s = time.monotonic() + SCREENSHOT_LOAD_WAIT_S

    def when_loaded() -> None:
        # Counted from the model's load, not the window's show: a busy machine loads slower, and a picture
        # of "Loading the model..." documents nothing (nor does quitting mid-load: instrument.controller).
        if instrument.state == "loading" and time.monotonic() < loaded_by_s:
            QTimer.singleShot(100, when_loaded)
        else:
            QTimer.singleShot(int(after_seconds * 1000), grab)

    when_loaded()
