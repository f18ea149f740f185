"""The live view (pyqtgraph): scrolling spectrogram and waveform of the output, requested vs measured
descriptor curves. `show(frame)` is called by the window's display timer and does no analysis: it hands
the analysis thread's arrays to pyqtgraph, and only when a new frame arrived."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from engine.vocabulary import DESCRIPTOR_SHORT_NAMES, DESCRIPTORS, SAMPLE_RATE
from gui import theme
from gui.analysis import (ENVELOPE_SAMPLES, HISTORY_SECONDS, SPECTROGRAM_BINS, SPECTROGRAM_HIGH_HZ,
                          SPECTROGRAM_LOW_HZ, AnalysisFrame)

pg.setConfigOptions(antialias=False, background=theme.PANEL, foreground=theme.TEXT_DIM, imageAxisOrder="col-major")

DESCRIPTOR_EVERY = 3  # descriptor curves at 10 Hz with the 30 Hz display timer
SPECTROGRAM_LEVELS_DB = (-85.0, 5.0)  # dB re a full-scale sine: black .. white (music at -15 dBFS stays below white)
DESCRIPTOR_AXES: dict[str, tuple[str, tuple[float, float]]] = {
    # descriptor short name -> (unit, y range); the plot titles are the vocabulary's labels
    "loudness": ("dB", (-60.0, 0.0)),
    "brightness": ("kHz", (0.0, 10.0)),
    "noisiness": ("", (0.0, 1.0)),
    "density": ("onsets/s", (0.0, 10.0)),
}


def _plot(title: str = "", height: int | None = None, min_height: int | None = None) -> pg.PlotWidget:
    widget = pg.PlotWidget()
    widget.setMenuEnabled(False)
    widget.setMouseEnabled(x=False, y=False)
    widget.hideButtons()
    item = widget.getPlotItem()
    item.setContentsMargins(0, 0, 4, 0)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen(theme.PANEL_EDGE))
        item.getAxis(axis).setTextPen(pg.mkPen(theme.TEXT_DIM))
    if title:
        item.setTitle(title, color=theme.TEXT_DIM, size="9pt")
    if height:  # at most this tall; down to min_height when the window is short (a 1366x768 screen)
        widget.setMaximumHeight(height)
        widget.setMinimumHeight(min_height or height)
    return widget


class LiveView(QWidget):
    """Spectrogram on top, waveform under it, four descriptor plots in a row at the bottom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sequence_shown = -1
        self.frames_drawn = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self._build_spectrogram(), 5)
        layout.addWidget(self._build_waveform(), 2)
        legend = QLabel(f"DESCRIPTORS   <span style='color:{theme.ACCENT}'>━ measured</span>"
                        f"   <span style='color:{theme.ACCENT_WARM}'>━ requested</span>"
                        "   (switch a target on below to request it)")
        legend.setObjectName("dim")
        layout.addWidget(legend)
        layout.addLayout(self._build_descriptor_plots(), 0)

    def _build_spectrogram(self) -> pg.PlotWidget:
        self.spectrogram_plot = _plot()
        self.spectrogram = pg.ImageItem()
        self.spectrogram.setLookupTable(pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256))
        self.spectrogram_plot.addItem(self.spectrogram)
        self._spectrogram_rect = QRectF(-HISTORY_SECONDS, 0, HISTORY_SECONDS, SPECTROGRAM_BINS)
        item = self.spectrogram_plot.getPlotItem()
        item.setXRange(-HISTORY_SECONDS, 0, padding=0)
        item.setYRange(0, SPECTROGRAM_BINS, padding=0)
        ratio = np.log(SPECTROGRAM_HIGH_HZ / SPECTROGRAM_LOW_HZ)
        ticks = [(float(np.log(hz / SPECTROGRAM_LOW_HZ) / ratio * SPECTROGRAM_BINS), label)
                 for hz, label in ((100, "100"), (300, "300"), (1000, "1k"), (3000, "3k"), (10000, "10k"))]
        item.getAxis("left").setTicks([ticks])
        item.getAxis("left").setLabel("Hz")
        item.getAxis("bottom").setStyle(showValues=False)
        return self.spectrogram_plot

    def _build_waveform(self) -> pg.PlotWidget:
        self.waveform_plot = _plot(height=90, min_height=56)
        self.waveform = self.waveform_plot.plot(pen=pg.mkPen(theme.ACCENT, width=1))
        wave_item = self.waveform_plot.getPlotItem()
        wave_item.setXRange(-HISTORY_SECONDS, 0, padding=0)
        wave_item.setYRange(-1.0, 1.0, padding=0.02)
        wave_item.getAxis("left").setTicks([[(-1.0, "-1"), (0.0, "0"), (1.0, "1")]])
        wave_item.getAxis("bottom").setLabel("seconds")
        points = int(HISTORY_SECONDS * SAMPLE_RATE / ENVELOPE_SAMPLES)
        # The envelope is drawn as one zig-zag line min, max, min, max...: at this density it reads as a band.
        self._envelope_x = np.repeat(np.linspace(-HISTORY_SECONDS, 0, points, dtype=np.float32), 2)
        return self.waveform_plot

    def _build_descriptor_plots(self) -> QGridLayout:
        """One plot per descriptor in a row, titled with the vocabulary's label: requested and measured."""
        grid = QGridLayout()
        grid.setSpacing(4)
        self.descriptor_plots: dict[str, pg.PlotWidget] = {}
        self.measured_curves: dict[str, pg.PlotDataItem] = {}
        self.requested_curves: dict[str, pg.PlotDataItem] = {}
        for column, descriptor in enumerate(DESCRIPTORS):
            key = descriptor.short
            unit, (low, high) = DESCRIPTOR_AXES[key]
            plot = _plot(title=descriptor.label + (f" ({unit})" if unit else ""), height=118, min_height=90)
            plot_item = plot.getPlotItem()
            plot_item.setXRange(-HISTORY_SECONDS, 0, padding=0)
            plot_item.setYRange(low, high, padding=0.05)
            plot_item.getAxis("bottom").setStyle(showValues=False)
            plot_item.getAxis("left").setWidth(30)
            self.requested_curves[key] = plot.plot(pen=pg.mkPen(theme.ACCENT_WARM, width=2), connect="finite")
            self.measured_curves[key] = plot.plot(pen=pg.mkPen(theme.ACCENT, width=1), connect="finite")
            grid.addWidget(plot, 0, column)
            self.descriptor_plots[key] = plot
        return grid

    def draw(self, frame: AnalysisFrame) -> bool:
        """Draw `frame` if it is new; returns whether anything was drawn. The spectrogram and waveform
        scroll at the display rate; the slow descriptor curves redraw every DESCRIPTOR_EVERY-th frame
        (half the live view's paint time goes there otherwise)."""
        if frame.sequence == self.sequence_shown:
            return False
        self.sequence_shown = frame.sequence
        self.frames_drawn += 1
        self.spectrogram.setImage(frame.spectrogram_db, autoLevels=False, levels=SPECTROGRAM_LEVELS_DB,
                                  rect=self._spectrogram_rect)
        envelope = frame.envelope
        self.waveform.setData(self._envelope_x[:envelope.size], envelope.reshape(-1))
        if self.frames_drawn % DESCRIPTOR_EVERY:
            return True
        columns = frame.spectrogram_db.shape[0]
        x = np.linspace(-HISTORY_SECONDS, 0, columns, dtype=np.float32)
        for key in DESCRIPTOR_SHORT_NAMES:
            measured = frame.measured[key]
            requested = frame.requested[key]
            if key == "brightness":  # Hz -> kHz for a readable axis
                measured, requested = measured / 1000.0, requested / 1000.0
            self.measured_curves[key].setData(x, measured)
            if np.isfinite(requested).any():
                self.requested_curves[key].setData(x, requested)
            else:
                self.requested_curves[key].setData([], [])
        return True
