"""Where the window and its key controls are on the screen, as data: does the app fit the screen it runs on?

`cascade app --layout-report FILE.json` writes it when the screenshot is taken (tests/gui/test_fit_screen.py and
benchmarks/probe/anywhere.py run the real app under Xvfb at 1366x768 and read it). A control counts as shown
when all of it is inside the window, on the screen and not clipped by a scroll area.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QMainWindow, QScrollArea, QWidget


def _rect(rect: QRect) -> list[int]:
    return [rect.x(), rect.y(), rect.width(), rect.height()]


def shown_fraction(widget: QWidget, screen_rect: QRect) -> float:
    """The share of `widget`'s area a performer can see: not clipped by its parents (a scroll area's viewport,
    the window's edge) and on the screen."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return 0.0
    visible = widget.visibleRegion().boundingRect()  # widget coordinates, clipped by every ancestor
    top_left = widget.mapToGlobal(visible.topLeft())
    on_screen = QRect(top_left, visible.size()).intersected(screen_rect)
    return on_screen.width() * on_screen.height() / float(widget.width() * widget.height())


def layout_report(window: QMainWindow, controls: dict[str, QWidget]) -> dict[str, Any]:
    """The screen, the window's frame and each control's place and shown fraction (JSON-ready)."""
    screen = window.screen()
    geometry = screen.geometry()
    available = screen.availableGeometry()
    scroll = window.centralWidget()
    scrollbars = {}
    if isinstance(scroll, QScrollArea):
        scrollbars = {"horizontal": scroll.horizontalScrollBar().isVisible(),
                      "vertical": scroll.verticalScrollBar().isVisible()}
    report: dict[str, Any] = {
        "screen": _rect(geometry), "available": _rect(available), "frame": _rect(window.frameGeometry()),
        "window": _rect(window.geometry()), "frame_inside_available": available.contains(window.frameGeometry()),
        "minimum_content": [window.centralWidget().widget().minimumSizeHint().width(),
                            window.centralWidget().widget().minimumSizeHint().height()]
        if isinstance(scroll, QScrollArea) else None,
        "scrollbars": scrollbars, "controls": {}}
    for name, widget in controls.items():
        top_left = widget.mapToGlobal(QPoint(0, 0))
        report["controls"][name] = {"rect": [top_left.x(), top_left.y(), widget.width(), widget.height()],
                                    "shown": round(shown_fraction(widget, geometry), 3)}
    return report
