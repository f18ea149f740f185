"""The harmony display: the chord held on the MIDI keyboard as the harmony target (instrument/session/harmony.py).

Three compact rows under the XY pad (no group box of its own: its frame cost the height a 1366x768 screen does
not have): the settings (follow chords on/off, next bar or beat, what letting go leaves, the chord's MIDI
channel), the target chord's name beside its 12 pitch classes as a strip of cells (brighter = more weight), and
one line for what waits for the next bar line (or beat), or why nothing is sent. It only mirrors:
the main window's display tick hands it the instrument's state (`show_state`), and it changes a label's text or
repaints the strip only when what it shows changed (a label's new text would relayout the window 30 times a
second otherwise: docs/gui.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.harmony import KEY_HARMONY_SOURCES, PITCH_CLASSES
from gui import theme
from instrument.chord_names import NOTE_NAMES

NO_HARMONY_CONTROL = "harmony: this model has no harmony control"
# The "Key gives" choices on screen (engine.harmony.KEY_HARMONY_SOURCES order), short enough for the chord row:
# the key's chord changes a bar at a time, its scale, its tonic chord, or nothing (the model is free).
KEY_HARMONY_TEXTS: tuple[str, ...] = tuple({"progression": "changes", "scale": "scale", "tonic_chord": "tonic",
                                            "none": "free"}[source] for source in KEY_HARMONY_SOURCES)


class ChromaStrip(QWidget):
    """12 cells, C to B: each lit by its pitch class's weight (0..1) in the accent colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.weights: tuple[float, ...] = (0.0,) * PITCH_CLASSES
        self.setFixedHeight(26)
        self.setMinimumWidth(12 * 14)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("The harmony target's pitch classes, C to B (brighter: more weight)")

    def show_weights(self, weights: Sequence[float]) -> None:
        rounded = tuple(round(float(w), 2) for w in weights)
        if rounded != self.weights:
            self.weights = rounded
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        cell = self.width() / PITCH_CLASSES
        lit, dark = QColor(theme.ACCENT), QColor(theme.CONTROL)
        for index, weight in enumerate(self.weights):
            colour = QColor(dark)
            if weight > 0:
                colour = QColor.fromRgbF(*(d + (l - d) * (0.25 + 0.75 * weight) for d, l in
                                           zip(dark.getRgbF()[:3], lit.getRgbF()[:3])))
            rect = QRectF(index * cell + 1, 0, cell - 2, 15)
            painter.setPen(Qt.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 3, 3)
            painter.setPen(QColor(theme.TEXT if weight > 0 else theme.TEXT_DIM))
            font = painter.font()
            font.setPointSizeF(6.5)
            painter.setFont(font)
            painter.drawText(QRectF(index * cell, 15, cell, 11), Qt.AlignCenter, NOTE_NAMES[index])
        painter.end()


class HarmonyPanel(QWidget):
    """The harmony rows. `controls` are its parameter widgets, which the window binds like any other."""

    def __init__(self, controls: Sequence[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Chords held on the MIDI keyboard become the harmony target from the next bar "
                        "(a model trained with the harmony control only)")
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 2, 0, 0)
        rows.setSpacing(1)
        settings = QHBoxLayout()
        settings.setSpacing(4)
        for control in controls:
            settings.addWidget(control)
        rows.addLayout(settings)
        self.chord_label = QLabel("–")
        self.chord_label.setFixedSize(60, 26)  # fixed: a new chord name never relayouts the window
        self.chord_label.setStyleSheet(f"font-size: 15px; font-weight: bold; color: {theme.ACCENT};")
        self.chord_label.setToolTip("The harmony target playing now")
        self.strip = ChromaStrip()
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.chord_label)
        top.addWidget(self.strip, 1)
        rows.addLayout(top)
        self.status_label = QLabel("")
        self.status_label.setObjectName("dim")
        self.status_label.setStyleSheet("font-size: 11px;")
        self.status_label.setFixedHeight(self.status_label.fontMetrics().lineSpacing() + 2)
        self.status_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        rows.addWidget(self.status_label)
        self._shown: tuple[str, str] = ("", "")

    def _show_text(self, chord: str, status: str) -> None:
        if (chord, status) != self._shown:
            self._shown = (chord, status)
            self.chord_label.setText(chord)
            self.status_label.setText(status)
            self.status_label.setToolTip(status)

    def show_state(self, available: bool | None, playing: bool, values: Any, display: Any) -> None:
        """available: the model has the harmony control (None: loading); values: the store's values; display:
        the session's HarmonyDisplay (None when nothing plays or the model has no harmony control)."""
        if available is None:
            self.strip.show_weights((0.0,) * PITCH_CLASSES)
            self._show_text("–", "harmony: waiting for the model")
            return
        if not available:
            self.strip.show_weights((0.0,) * PITCH_CLASSES)
            self._show_text("–", NO_HARMONY_CONTROL)
            return
        if values["harmony_follow"] < 0.5:
            self.strip.show_weights((0.0,) * PITCH_CLASSES)
            self._show_text("–", "harmony: following chords is off")
            return
        if display is None:
            self.strip.show_weights((0.0,) * PITCH_CLASSES)
            self._show_text("–", "harmony: starts with playback" if not playing else "")
            return
        current = display.current
        from_key = current is None or current.kind == "key"
        if from_key:
            current = display.key  # what the key gives now (None: the key gives nothing)
        name, weights = "–", (0.0,) * PITCH_CLASSES
        if current is not None and current.kind != "free":
            name, weights = current.name, current.chroma or weights
        self.strip.show_weights(weights)
        if display.pending is not None:
            beats = display.pending_beats or 0.0
            status = f"next: {display.pending.name} in {beats:.1f} beats"
        elif display.current is None:
            status = "play a chord on the keyboard" if display.held.empty else f"holding {display.held.name}"
        elif not display.held.empty:
            status = f"holding {display.held.name}"
        else:
            status = "from the key" if from_key and current is not None else ""
        self._show_text(name, status)
