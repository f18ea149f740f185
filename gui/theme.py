"""One dark theme for the whole app: a Fusion palette plus a short style sheet, and the accent colours the
custom-painted widgets share (so knobs, pad, meters and plots read as one instrument)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#16181d"
PANEL = "#1e2128"
PANEL_EDGE = "#2c313b"
CONTROL = "#2a2e37"
TEXT = "#e3e6ec"
TEXT_DIM = "#8b92a1"
ACCENT = "#4fc3c9"  # teal: values, arcs, the pad's puck
ACCENT_WARM = "#f0a04b"  # amber: MIDI learn, warnings
RECORD = "#e5484d"
OK = "#5ccf7a"
# One colour per prompt slot: the prompt rows, the XY pad's corners and the weight knobs share them.
SLOT_COLOURS: tuple[str, ...] = ("#4fc3c9", "#c792ea", "#f0a04b", "#8bd16a")

STYLE_SHEET = f"""
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BACKGROUND}; }}
QGroupBox {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; border-radius: 6px; margin-top: 16px;
             padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; top: 2px; padding: 0 4px; color: {TEXT_DIM};
                    font-weight: bold; letter-spacing: 1px; }}
QLineEdit, QComboBox, QSpinBox {{ background: {CONTROL}; border: 1px solid {PANEL_EDGE}; border-radius: 4px;
                                  padding: 3px 6px; selection-background-color: {ACCENT}; }}
QLineEdit:focus, QComboBox:focus, QSpinBox:focus {{ border: 1px solid {ACCENT}; }}
QComboBox QAbstractItemView {{ background: {CONTROL}; selection-background-color: #31535a; }}
QPushButton {{ background: {CONTROL}; border: 1px solid {PANEL_EDGE}; border-radius: 4px; padding: 4px 10px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: #22262e; }}
QPushButton:checked {{ background: #244247; border-color: {ACCENT}; color: white; }}
QPushButton:disabled {{ color: #5a606c; }}
QPushButton#play {{ font-weight: bold; min-width: 84px; }}
QPushButton#play:checked {{ background: #1f4a2d; border-color: {OK}; }}
QPushButton#record:checked {{ background: #5a1f22; border-color: {RECORD}; }}
QPushButton[learning="true"] {{ border: 2px solid {ACCENT_WARM}; }}
QTabWidget::pane {{ border: 1px solid {PANEL_EDGE}; border-radius: 4px; background: {PANEL}; }}
QTabBar::tab {{ background: {CONTROL}; padding: 5px 12px; border-top-left-radius: 4px;
                border-top-right-radius: 4px; margin-right: 2px; color: {TEXT_DIM}; }}
QTabBar::tab:selected {{ background: {PANEL}; color: {TEXT}; }}
QListWidget, QTreeWidget, QTableWidget {{ background: {BACKGROUND}; border: none; alternate-background-color: #1a1d23; }}
QHeaderView::section {{ background: {CONTROL}; border: none; padding: 3px; color: {TEXT_DIM}; }}
QToolTip {{ background: {CONTROL}; color: {TEXT}; border: 1px solid {PANEL_EDGE}; }}
QLabel#dim {{ color: {TEXT_DIM}; }}
QLabel#title {{ font-size: 15pt; font-weight: bold; color: {ACCENT}; letter-spacing: 2px; }}
QFrame#banner {{ border-radius: 4px; }}
QSlider::groove:vertical {{ background: {CONTROL}; width: 6px; border-radius: 3px; }}
QSlider::handle:vertical {{ background: {ACCENT}; height: 14px; margin: 0 -6px; border-radius: 7px; }}
QMenu {{ background: {CONTROL}; border: 1px solid {PANEL_EDGE}; }}
QMenu::item:selected {{ background: #31535a; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion (the same look on every platform) with a dark palette and the style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in ((QPalette.Window, BACKGROUND), (QPalette.WindowText, TEXT), (QPalette.Base, CONTROL),
                         (QPalette.AlternateBase, PANEL), (QPalette.Text, TEXT), (QPalette.Button, CONTROL),
                         (QPalette.ButtonText, TEXT), (QPalette.Highlight, ACCENT),
                         (QPalette.HighlightedText, BACKGROUND), (QPalette.ToolTipBase, CONTROL),
                         (QPalette.ToolTipText, TEXT), (QPalette.PlaceholderText, TEXT_DIM)):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(10.0)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
