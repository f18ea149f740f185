"""The app's parameter controls and meters. Every control mirrors one ParameterStore value: it shows what the
store holds (`show_value`, called by the display timer; never emits) and reports what the player did
(`edited` signal, in the parameter's real units). Right-click on any control asks the window for the MIDI
menu (`midi_menu_requested(parameter, global position)`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QContextMenuEvent, QFont, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen,
                           QWheelEvent)
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSizePolicy, QSpinBox, QWidget

from gui import theme
from instrument.parameters import ParameterSpec
from instrument.presets import CURVE_STEPS

KNOB_DRAG_PIXELS = 180.0  # a 180-pixel drag sweeps the whole range (shift: ten times finer)


def format_value(spec: ParameterSpec, value: float) -> str:
    """A value as a musician reads it: "-6.0 dB", "1.50 kHz", "124 BPM", "8 steps", "A", "on"."""
    if spec.kind == "choice":
        return spec.choice_label(value)
    if spec.kind == "bool":
        return "on" if value >= 0.5 else "off"
    if spec.unit == "Hz":
        return f"{value / 1000:.2f} kHz" if value >= 1000 else f"{value:.0f} Hz"
    if spec.kind == "int":
        return f"{int(value)} {spec.unit}".strip()
    if spec.unit == "dB":
        return f"{value:+.1f} dB" if value > 0 else f"{value:.1f} dB"
    if spec.unit == "BPM":
        return f"{value:.1f} BPM" if value != round(value) else f"{value:.0f} BPM"
    if spec.unit:
        return f"{value:.1f} {spec.unit}"
    if spec.maximum <= 1.0:
        return f"{value * 100:.0f}%" if spec.name.startswith(("fx_", "prompt_", "variation", "xy_")) else f"{value:.2f}"
    return f"{value:.1f}"


def short_prompt(text: str) -> str:
    """A caption-style prompt shortened for a label: "Genre: jazz | Instruments: piano" -> "jazz · piano"."""
    parts = [part.split(":", 1)[1].strip() if ":" in part else part.strip() for part in text.split("|")]
    return " · ".join(part for part in parts if part)


class ParameterControl:
    """Mixin contract (documentation only; Qt forbids multiple QObject bases): `parameter`, `spec`,
    `show_value(value)`, `set_learning(bool)`, `set_mapping_text(str)`, signals `edited(float)` and
    `midi_menu_requested(str, QPointF)`."""


class Knob(QWidget):
    """A rotary knob: drag up/down (shift: fine), wheel, arrow keys; double-click resets to the default."""

    edited = Signal(float)
    midi_menu_requested = Signal(str, QPointF)

    def __init__(self, spec: ParameterSpec, label: str, colour: str = theme.ACCENT, parent: QWidget | None = None,
                 diameter: int = 46, compact: bool = False, show_label: bool = True) -> None:
        """compact: the texts beside the dial instead of above and below it (a knob in a row of other controls:
        the top bar, a prompt's weight), so it is no taller than the dial. show_label: False where the row
        says what the knob is (the label stays in the tooltip and the accessible name)."""
        super().__init__(parent)
        self.parameter = spec.name
        self.spec = spec
        self.label = label
        self.colour = QColor(colour)
        self.diameter = diameter
        self.compact = compact
        self.show_label = show_label
        self.value = float(spec.default)
        self.learning = False
        self.mapping_text = ""
        self._drag_origin: tuple[float, float] | None = None  # (y pixel, normalised position) at press
        self.setFocusPolicy(Qt.StrongFocus)
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.setToolTip(f"{label}: {spec.description}\nDrag up/down (Shift: fine), wheel, double-click: default,"
                        " right-click: MIDI learn")
        self.setAccessibleName(label)

    COMPACT_TEXT_WIDTH = 60  # "124.5 BPM", "100%" and "CC22" at 8.5 pt beside a compact dial

    def sizeHint(self) -> QSize:
        if self.compact:
            lines = 3 if self.show_label else 2  # label, value, MIDI mapping
            text_width = self.COMPACT_TEXT_WIDTH if self.show_label else 40  # "100%", "CC22"
            return QSize(self.diameter + 6 + text_width, max(self.diameter, 12 * lines) + 2)
        return QSize(max(self.diameter + 26, 66), self.diameter + 42)  # 66: "20.00 kHz", "4.0 onsets/s" at 8.5 pt

    # --- store -> widget --------------------------------------------------------------------------------------

    def show_value(self, value: float) -> None:
        if value != self.value:
            self.value = float(value)
            self.update()

    def set_learning(self, learning: bool) -> None:
        if learning != self.learning:
            self.learning = learning
            self.update()

    def set_mapping_text(self, text: str) -> None:
        if text != self.mapping_text:
            self.mapping_text = text
            self.update()

    @property
    def normalised(self) -> float:
        return self.spec.to_normalised(self.value)

    # --- player -> store --------------------------------------------------------------------------------------

    def set_by_player(self, value: float) -> None:
        """What a gesture does: clamp, show at once (no wait for the next tick), emit `edited`."""
        value = self.spec.clamp(value)
        if value != self.value:
            self.value = value
            self.update()
            self.edited.emit(value)

    def set_normalised_by_player(self, position: float) -> None:
        self.set_by_player(self.spec.from_normalised(position))

    def _step(self, direction: int, fine: bool) -> None:
        if self.spec.kind in ("int", "choice"):
            self.set_by_player(self.value + direction)
        else:
            self.set_normalised_by_player(self.normalised + direction * (0.002 if fine else 0.01))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton:
            self._drag_origin = (event.position().y(), self.normalised)
            self.setFocus()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_origin is None:
            return
        origin_y, origin_position = self._drag_origin
        scale = KNOB_DRAG_PIXELS * (10.0 if event.modifiers() & Qt.ShiftModifier else 1.0)
        self.set_normalised_by_player(origin_position + (origin_y - event.position().y()) / scale)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_origin = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.set_by_player(self.spec.default)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self._step(1 if steps > 0 else -1, bool(event.modifiers() & Qt.ShiftModifier))
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key_Up, Qt.Key_Right):
            self._step(1, bool(event.modifiers() & Qt.ShiftModifier))
        elif event.key() in (Qt.Key_Down, Qt.Key_Left):
            self._step(-1, bool(event.modifiers() & Qt.ShiftModifier))
        else:
            super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.midi_menu_requested.emit(self.parameter, QPointF(event.globalPos()))

    # --- painting ---------------------------------------------------------------------------------------------

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        width = self.width()
        d = self.diameter
        top = (self.height() - d) / 2 if self.compact else 16
        rect = QRectF(1 if self.compact else (width - d) / 2, top, d, d)
        small = QFont(self.font())
        small.setPointSizeF(8.5)
        painter.setFont(small)
        painter.setPen(QColor(theme.ACCENT_WARM if self.learning else theme.TEXT_DIM))
        if not self.compact:
            painter.drawText(QRectF(0, 0, width, 14), Qt.AlignHCenter | Qt.AlignVCenter,
                             "LEARN…" if self.learning else self.label)
        # Track (270 degrees, gap at the bottom), value arc, body and pointer.
        start_deg, span_deg = 225.0, -270.0
        pen = QPen(QColor(theme.CONTROL), 5, Qt.SolidLine, Qt.RoundCap)
        painter.setPen(pen)
        painter.drawArc(rect.adjusted(2, 2, -2, -2), int(start_deg * 16), int(span_deg * 16))
        position = self.normalised
        pen.setColor(QColor(theme.ACCENT_WARM) if self.learning else self.colour)
        painter.setPen(pen)
        if position > 0:
            painter.drawArc(rect.adjusted(2, 2, -2, -2), int(start_deg * 16), int(span_deg * position * 16))
        body = rect.adjusted(8, 8, -8, -8)
        painter.setPen(QPen(QColor(theme.PANEL_EDGE), 1))
        painter.setBrush(QColor("#30343e") if self.hasFocus() else QColor("#2a2e37"))
        painter.drawEllipse(body)
        angle = math.radians(start_deg + span_deg * position)
        centre = body.center()
        radius = body.width() / 2
        painter.setPen(QPen(QColor(theme.TEXT), 2, Qt.SolidLine, Qt.RoundCap))
        painter.drawLine(QPointF(centre.x() + math.cos(angle) * radius * 0.35,
                                 centre.y() - math.sin(angle) * radius * 0.35),
                         QPointF(centre.x() + math.cos(angle) * radius * 0.85,
                                 centre.y() - math.sin(angle) * radius * 0.85))
        if self.compact:
            self._paint_compact_texts(painter, small, d + 6)
            painter.end()
            return
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(QRectF(0, top + d + 1, width, 14), Qt.AlignHCenter, format_value(self.spec, self.value))
        if self.mapping_text:
            painter.setPen(QColor(theme.ACCENT_WARM))
            tiny = QFont(small)
            tiny.setPointSizeF(7.0)
            painter.setFont(tiny)
            painter.drawText(QRectF(0, top + d + 14, width, 12), Qt.AlignHCenter, self.mapping_text)
        painter.end()


    def _paint_compact_texts(self, painter: QPainter, font: QFont, left: float) -> None:
        """Label (dim), value and MIDI mapping stacked beside the dial, centred on it."""
        lines: list[tuple[str, str, float]] = []  # (text, colour, point size)
        if self.show_label or self.learning:
            lines.append(("LEARN…" if self.learning else self.label,
                          theme.ACCENT_WARM if self.learning else theme.TEXT_DIM, 8.5))
        lines.append((format_value(self.spec, self.value), theme.TEXT, 8.5))
        if self.mapping_text:
            lines.append((self.mapping_text, theme.ACCENT_WARM, 7.0))
        y = (self.height() - 12 * len(lines)) / 2
        for text, colour, size in lines:
            font.setPointSizeF(size)
            painter.setFont(font)
            painter.setPen(QColor(colour))
            painter.drawText(QRectF(left, y, self.width() - left, 12), Qt.AlignLeft | Qt.AlignVCenter, text)
            y += 12


class LinesLabel(QLabel):
    """A word-wrapped label exactly `lines` lines high, whatever its text (the rest shows in its tooltip).
    Its height never follows its text, so a new message does not relayout the window, and it asks for no
    height-for-width: a wrapped QLabel does, and then the window's scroll area sizes everything to its preferred
    height and scrolls on a 1366x768 screen instead of fitting."""

    def __init__(self, text: str = "", lines: int = 2, parent: QWidget | None = None,
                 text_tooltip: bool = True) -> None:
        """text_tooltip: the tooltip repeats the text (False: the owner sets its own, e.g. the unelided text)."""
        self.text_tooltip = text_tooltip
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2)

    def hasHeightForWidth(self) -> bool:
        return False

    def setText(self, text: str) -> None:
        super().setText(text)
        if self.text_tooltip:
            self.setToolTip(text)


class ChoiceBox(QComboBox):
    """A choice parameter (sampler, key, scale, delay time) as a drop-down."""

    edited = Signal(float)
    midi_menu_requested = Signal(str, QPointF)

    def __init__(self, spec: ParameterSpec, label: str, parent: QWidget | None = None,
                 item_texts: Sequence[str] | None = None) -> None:
        """item_texts: what each choice is called on screen, where its parameter name is too long for the row."""
        super().__init__(parent)
        self.parameter = spec.name
        self.spec = spec
        self.label = label
        if item_texts is not None and len(item_texts) != len(spec.choices):
            raise ValueError(f"{spec.name}: {len(item_texts)} item texts for {len(spec.choices)} choices")
        self.addItems(list(spec.choices if item_texts is None else item_texts))
        self.setCurrentIndex(int(spec.default))
        self.setToolTip(f"{label}: {spec.description}\nRight-click: MIDI learn")
        self.setAccessibleName(label)
        self.currentIndexChanged.connect(self._on_index)
        self._showing = False

    def show_value(self, value: float) -> None:
        index = int(self.spec.clamp(value))
        if index != self.currentIndex():
            self._showing = True  # programmatic: do not echo back into the store
            try:
                self.setCurrentIndex(index)
            finally:
                self._showing = False

    @property
    def value(self) -> float:
        return float(self.currentIndex())

    def set_by_player(self, value: float) -> None:
        self.setCurrentIndex(int(self.spec.clamp(value)))

    def _on_index(self, index: int) -> None:
        if not self._showing and index >= 0:
            self.edited.emit(float(index))

    def set_learning(self, learning: bool) -> None:
        self.setProperty("learning", "true" if learning else "false")
        self.setStyleSheet(f"border: 2px solid {theme.ACCENT_WARM};" if learning else "")

    def set_mapping_text(self, text: str) -> None:
        self.setToolTip(f"{self.label}: {self.spec.description}" + (f"\nMIDI: {text}" if text else "")
                        + "\nRight-click: MIDI learn")

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.midi_menu_requested.emit(self.parameter, QPointF(event.globalPos()))


class ToggleButton(QPushButton):
    """A bool parameter (descriptor switches, limiter) as a checkable button."""

    edited = Signal(float)
    midi_menu_requested = Signal(str, QPointF)

    def __init__(self, spec: ParameterSpec, label: str, parent: QWidget | None = None) -> None:
        super().__init__(label, parent)
        self.parameter = spec.name
        self.spec = spec
        self.label = label
        self.setCheckable(True)
        self.setChecked(spec.default >= 0.5)
        self.setToolTip(f"{spec.description}\nRight-click: MIDI learn")
        self.toggled.connect(self._on_toggled)
        self._showing = False

    def show_value(self, value: float) -> None:
        checked = value >= 0.5
        if checked != self.isChecked():
            self._showing = True
            try:
                self.setChecked(checked)
            finally:
                self._showing = False

    @property
    def value(self) -> float:
        return 1.0 if self.isChecked() else 0.0

    def set_by_player(self, value: float) -> None:
        self.setChecked(value >= 0.5)

    def _on_toggled(self, checked: bool) -> None:
        if not self._showing:
            self.edited.emit(1.0 if checked else 0.0)

    def set_learning(self, learning: bool) -> None:
        self.setStyleSheet(f"border: 2px solid {theme.ACCENT_WARM};" if learning else "")

    def set_mapping_text(self, text: str) -> None:
        self.setToolTip(f"{self.spec.description}" + (f"\nMIDI: {text}" if text else "") + "\nRight-click: MIDI learn")

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.midi_menu_requested.emit(self.parameter, QPointF(event.globalPos()))


class IntBox(QSpinBox):
    """An int parameter typed as a number (the seed)."""

    edited = Signal(float)
    midi_menu_requested = Signal(str, QPointF)

    def __init__(self, spec: ParameterSpec, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameter = spec.name
        self.spec = spec
        self.label = label
        self.setRange(int(spec.minimum), int(spec.maximum))
        self.setValue(int(spec.default))
        self.setToolTip(f"{label}: {spec.description}\nRight-click: MIDI learn")
        self.setAccessibleName(label)
        self.setKeyboardTracking(False)  # typing "1234" is one change, not four
        self.valueChanged.connect(self._on_value)
        self._showing = False

    def show_value(self, value: float) -> None:
        if int(value) != super().value():
            self._showing = True
            try:
                self.setValue(int(value))
            finally:
                self._showing = False

    @property
    def value(self) -> float:  # type: ignore[override]
        return float(super().value())

    def set_by_player(self, value: float) -> None:
        self.setValue(int(self.spec.clamp(value)))

    def _on_value(self, value: int) -> None:
        if not self._showing:
            self.edited.emit(float(value))

    def set_learning(self, learning: bool) -> None:
        self.setStyleSheet(f"border: 2px solid {theme.ACCENT_WARM};" if learning else "")

    def set_mapping_text(self, text: str) -> None:
        self.setToolTip(f"{self.label}: {self.spec.description}" + (f"\nMIDI: {text}" if text else ""))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        self.midi_menu_requested.emit(self.parameter, QPointF(event.globalPos()))


class XYPad(QWidget):
    """The prompt morph pad: drag the puck between the four prompt corners (bottom-left = prompt 1,
    bottom-right = 2, top-left = 3, top-right = 4, as instrument.session.xy_corner_weights defines them).
    Emits `moved(x, y)` (0..1 each); right-click asks for the MIDI menu of X or Y by the click's side."""

    moved = Signal(float, float)
    midi_menu_requested = Signal(str, QPointF)

    MARGIN_X = 12
    MARGIN_Y = 30  # room for the corner labels above and below the square (clear of the puck at a corner)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameter = "xy_x"
        self.x_value = 0.0
        self.y_value = 0.0
        self.corner_labels = ["", "", "", ""]
        self.corner_weights = (1.0, 0.0, 0.0, 0.0)
        self.learning = ""
        self.setMinimumSize(180, 180)  # a 120-pixel square between the corner labels on a 1366x768 screen
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setToolTip("Morph between the four prompts: drag the dot towards a corner.\n"
                        "Right-click: MIDI learn for X (left half) or Y (right half)")

    def show_position(self, x: float, y: float) -> None:
        if (x, y) != (self.x_value, self.y_value):
            self.x_value, self.y_value = x, y
            self.update()

    def show_corners(self, labels: list[str], weights: tuple[float, ...]) -> None:
        if labels != self.corner_labels or tuple(weights) != tuple(self.corner_weights):
            self.corner_labels = list(labels)
            self.corner_weights = tuple(weights)
            self.update()

    def set_learning(self, parameter: str) -> None:
        if parameter != self.learning:
            self.learning = parameter
            self.update()

    def _square(self) -> QRectF:
        side = min(self.width() - 2 * self.MARGIN_X, self.height() - 2 * self.MARGIN_Y)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def position_at(self, point: QPointF) -> tuple[float, float]:
        square = self._square()
        x = (point.x() - square.left()) / square.width()
        y = (square.bottom() - point.y()) / square.height()
        return min(1.0, max(0.0, x)), min(1.0, max(0.0, y))

    def point_of(self, x: float, y: float) -> QPointF:
        square = self._square()
        return QPointF(square.left() + x * square.width(), square.bottom() - y * square.height())

    def set_by_player(self, x: float, y: float) -> None:
        x, y = min(1.0, max(0.0, x)), min(1.0, max(0.0, y))
        if (x, y) != (self.x_value, self.y_value):
            self.x_value, self.y_value = x, y
            self.update()
            self.moved.emit(x, y)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton:
            self.set_by_player(*self.position_at(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.LeftButton:
            self.set_by_player(*self.position_at(event.position()))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        parameter = "xy_x" if event.pos().x() < self.width() / 2 else "xy_y"
        self.midi_menu_requested.emit(parameter, QPointF(event.globalPos()))

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        square = self._square()
        painter.setPen(QPen(QColor(theme.ACCENT_WARM if self.learning else theme.PANEL_EDGE), 2 if self.learning else 1))
        painter.setBrush(QColor("#191c22"))
        painter.drawRoundedRect(square, 8, 8)
        painter.setPen(QPen(QColor("#262a33"), 1))
        for i in range(1, 4):
            painter.drawLine(QPointF(square.left() + square.width() * i / 4, square.top() + 4),
                             QPointF(square.left() + square.width() * i / 4, square.bottom() - 4))
            painter.drawLine(QPointF(square.left() + 4, square.top() + square.height() * i / 4),
                             QPointF(square.right() - 4, square.top() + square.height() * i / 4))
        corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
        small = QFont(self.font())
        small.setPointSizeF(8.5)
        painter.setFont(small)
        for slot, (cx, cy) in enumerate(corners):
            colour = QColor(theme.SLOT_COLOURS[slot])
            point = self.point_of(cx, cy)
            weight = self.corner_weights[slot] if slot < len(self.corner_weights) else 0.0
            glow = QColor(colour)
            glow.setAlphaF(0.15 + 0.6 * weight)
            painter.setPen(Qt.NoPen)
            painter.setBrush(glow)
            radius = 6 + 10 * weight
            painter.drawEllipse(point, radius, radius)
            # Labels sit outside the square (below for 1 and 2, above for 3 and 4): the puck never hides them;
            # each gets half the width, elided in pixels so neighbours never overlap.
            box = QRectF(square.left() if cx == 0 else square.center().x() + 4,
                         square.bottom() + 11 if cy == 0 else square.top() - 27, square.width() / 2 - 4, 16)
            metrics = painter.fontMetrics()
            number = f"{slot + 1}"
            room = int(box.width()) - metrics.horizontalAdvance(number + "  ")
            text = metrics.elidedText(short_prompt(self.corner_labels[slot]) or "(empty)", Qt.ElideRight, room)
            text = f"{number}  {text}" if cx == 0 else f"{text}  {number}"  # the slot number always shows
            painter.setPen(colour if self.corner_labels[slot] else QColor(theme.TEXT_DIM))
            painter.drawText(box, (Qt.AlignLeft if cx == 0 else Qt.AlignRight) | Qt.AlignVCenter, text)
        puck = self.point_of(self.x_value, self.y_value)
        painter.setPen(QPen(QColor(theme.ACCENT), 1, Qt.DashLine))
        painter.drawLine(QPointF(puck.x(), square.top()), QPointF(puck.x(), square.bottom()))
        painter.drawLine(QPointF(square.left(), puck.y()), QPointF(square.right(), puck.y()))
        painter.setPen(QPen(QColor("white"), 2))
        painter.setBrush(QColor(theme.ACCENT))
        painter.drawEllipse(puck, 9, 9)
        if self.learning:
            painter.setPen(QColor(theme.ACCENT_WARM))
            painter.drawText(square, Qt.AlignCenter, f"LEARN {'X' if self.learning == 'xy_x' else 'Y'}…")
        painter.end()


class Meter(QWidget):
    """A labelled horizontal bar: level 0..1 with colour zones, and the number as text."""

    def __init__(self, label: str, warn_at: float = 0.7, alarm_at: float = 0.9, parent: QWidget | None = None,
                 tooltip: str = "") -> None:
        super().__init__(parent)
        self.label = label
        self.level = 0.0
        self.text = "–"
        self.warn_at = warn_at
        self.alarm_at = alarm_at
        self.setMinimumHeight(self.HEIGHT)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        if tooltip:
            self.setToolTip(tooltip)

    HEIGHT = 24  # the label and number on one line, a 7-pixel bar under it: five fit a laptop screen's column

    def sizeHint(self) -> QSize:
        return QSize(180, self.HEIGHT)

    def set_level(self, level: float, text: str) -> None:
        level = 0.0 if not math.isfinite(level) else min(1.0, max(0.0, level))
        if abs(level - self.level) > 1e-3 or text != self.text:
            self.level, self.text = level, text
            self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        small = QFont(self.font())
        small.setPointSizeF(8.5)
        painter.setFont(small)
        # The number wins the line; the label gives way (elided) in a narrow meter rather than overlap it.
        metrics = painter.fontMetrics()
        label_room = self.width() - metrics.horizontalAdvance(self.text) - 8
        painter.setPen(QColor(theme.TEXT_DIM))
        painter.drawText(QRectF(0, 0, self.width(), 14), Qt.AlignLeft | Qt.AlignVCenter,
                         metrics.elidedText(self.label.upper(), Qt.ElideRight, max(0, label_room)))
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(QRectF(0, 0, self.width(), 14), Qt.AlignRight | Qt.AlignVCenter, self.text)
        bar = QRectF(0, 16, self.width(), 7)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(theme.CONTROL))
        painter.drawRoundedRect(bar, 3, 3)
        colour = theme.OK if self.level < self.warn_at else theme.ACCENT_WARM if self.level < self.alarm_at else theme.RECORD
        painter.setBrush(QColor(colour))
        if self.level > 0:
            painter.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * self.level, bar.height()), 3, 3)
        painter.end()


class CurveLane(QWidget):
    """A drawn automation curve for one parameter over a loop of `bars` bars: draw with the left button.
    `values` are knob positions 0..1 (the spec's curve), one per step; the window plays it back."""

    edited = Signal()

    STEPS = CURVE_STEPS  # what a preset saves

    def __init__(self, spec: ParameterSpec, colour: str = theme.ACCENT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.colour = QColor(colour)
        self.values = [spec.to_normalised(spec.default)] * self.STEPS
        self.phase: float | None = None  # playhead 0..1 while the curve plays
        self.active = False
        self.drawn = False
        self._last_step: int | None = None
        self.setMinimumSize(96, 38)  # 16 steps of 6 pixels: still drawable on a 1366-pixel-wide screen
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip(f"Draw a curve for {spec.description.lower()} (loops every 4 bars when ▶ is on)")

    def sizeHint(self) -> QSize:
        return QSize(200, 42)

    def set_phase(self, phase: float | None) -> None:
        if phase != self.phase:
            self.phase = phase
            self.update()

    def draw_at(self, point: QPointF) -> None:
        step = min(self.STEPS - 1, max(0, int(point.x() / max(1, self.width()) * self.STEPS)))
        value = min(1.0, max(0.0, 1.0 - point.y() / max(1, self.height())))
        # Fill the steps between two mouse events so a fast stroke leaves no gaps.
        previous = self._last_step if self._last_step is not None else step
        low, high = sorted((previous, step))
        for index in range(low, high + 1):
            self.values[index] = value
        self._last_step = step
        self.drawn = True
        self.update()
        self.edited.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._last_step = None
        self.draw_at(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.LeftButton:
            self.draw_at(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._last_step = None

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor(theme.PANEL_EDGE), 1))
        painter.setBrush(QColor("#191c22"))
        painter.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 4, 4)
        if not self.drawn:  # an untouched lane explains itself instead of showing a bare line
            painter.setPen(QColor(theme.TEXT_DIM))
            small = QFont(self.font())
            small.setPointSizeF(8.0)
            painter.setFont(small)
            room = self.rect().adjusted(6, 0, -6, 0)
            hint = "draw a 4-bar curve here"  # shorter in a narrow lane (a 1366-pixel screen) than cut off
            if painter.fontMetrics().horizontalAdvance(hint) > room.width():
                hint = "draw a curve"
            painter.drawText(room, Qt.AlignCenter, hint)
            painter.end()
            return
        path = QPainterPath()
        w, h = self.width(), self.height() - 4
        for index, value in enumerate(self.values + [self.values[0]]):
            point = QPointF(index / self.STEPS * w, 2 + (1 - value) * h)
            path.moveTo(point) if index == 0 else path.lineTo(point)
        colour = QColor(self.colour if self.active else QColor(theme.TEXT_DIM))
        painter.setPen(QPen(colour, 1.6))
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(path)
        if self.phase is not None and self.active:
            painter.setPen(QPen(QColor(theme.TEXT), 1))
            painter.drawLine(QPointF(self.phase * w, 1), QPointF(self.phase * w, self.height() - 1))
        painter.end()
