"""The live view's analysis thread: monitor tap -> spectrogram columns, waveform envelope, level and measured
descriptors; plus the session status for the meters. No Qt here: the display timer only picks up the
latest published `AnalysisFrame` (one attribute read) and hands arrays to pyqtgraph.

Why a thread: an FFT per 23 ms hop, the descriptor estimates and `LiveSession.status()` (which copies the
pump's latency lists) are cheap but not free; on the GUI thread they would add to every tick, and the
rule is that nothing the GUI thread does per tick may grow with the audio. numpy releases the GIL in
its heavy loops, and each poll here holds it for well under a millisecond.

The measured descriptors are a causal, streaming approximation of engine.dataset.descriptors (same
2048-sample Hann window and 1024-sample hop, so one column per latent frame): loudness = RMS in dBFS,
brightness = spectral centroid, noisiness = spectral flatness, density = spectral-flux onsets per second
over the last 2 s. Good enough to see whether a knob moves the sound; benchmarks/quality.py has the
offline numbers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.vocabulary import DESCRIPTOR_SHORT_NAMES, LATENT_HOP_FRAMES, SAMPLE_RATE
from instrument.monitor import MonitorTap

logger = logging.getLogger(__name__)

HOP_SAMPLES = LATENT_HOP_FRAMES  # one column per latent frame
WINDOW_SAMPLES = 2048
HISTORY_SECONDS = 8.0
SPECTROGRAM_BINS = 96
SPECTROGRAM_LOW_HZ = 40.0
SPECTROGRAM_HIGH_HZ = 16000.0
ENVELOPE_SAMPLES = 1024  # one min/max pair of the scrolling waveform per 1024 samples: ~one per pixel column
FLOOR_DB = -100.0
ONSET_WINDOW_SECONDS = 2.0
POLL_SECONDS = 0.025
SMOOTHING = 0.25  # one-pole coefficient per column for the measured loudness, brightness and noisiness
STATUS_EVERY_SECONDS = 0.1


def log_frequency_matrix(sample_rate: int, window: int = WINDOW_SAMPLES, bins: int = SPECTROGRAM_BINS,
                         low_hz: float = SPECTROGRAM_LOW_HZ, high_hz: float = SPECTROGRAM_HIGH_HZ) -> np.ndarray:
    """(window//2+1, bins) triangular filters on a log-frequency axis: FFT power -> display bins.

    Low bands narrower than one FFT bin would be empty rows in the image, so every band takes at least
    its nearest FFT bin."""
    freqs = np.fft.rfftfreq(window, 1.0 / sample_rate)
    edges = np.geomspace(low_hz, high_hz, bins + 2)
    matrix = np.zeros((freqs.size, bins), dtype=np.float32)
    for band in range(bins):
        lo, centre, hi = edges[band], edges[band + 1], edges[band + 2]
        rising = (freqs - lo) / (centre - lo)
        falling = (hi - freqs) / (hi - centre)
        weights = np.clip(np.minimum(rising, falling), 0.0, None)
        if weights.sum() <= 0:
            weights[int(np.argmin(np.abs(freqs - centre)))] = 1.0
        matrix[:, band] = weights / weights.sum()
    return matrix


@dataclass(frozen=True)
class AnalysisFrame:
    """What one display tick needs; arrays are private copies, oldest first."""

    sequence: int
    spectrogram_db: np.ndarray  # (columns, SPECTROGRAM_BINS)
    envelope: np.ndarray  # (points, 2): min and max of the mono mix per ENVELOPE_SAMPLES
    measured: Mapping[str, np.ndarray]  # descriptor key -> (columns,)
    requested: Mapping[str, np.ndarray]  # descriptor key -> (columns,); NaN where that target was off
    peak_db: float  # newest hop, post-effects, pre-master-gain
    rms_db: float
    columns_per_second: float
    status: Any = None  # the latest instrument.session.SessionStatus (None while stopped)
    status_time_s: float = 0.0


def empty_frame(sample_rate: int = SAMPLE_RATE) -> AnalysisFrame:
    columns = int(HISTORY_SECONDS * sample_rate / HOP_SAMPLES)
    nan = np.full(columns, np.nan, dtype=np.float32)
    return AnalysisFrame(0, np.full((columns, SPECTROGRAM_BINS), FLOOR_DB, dtype=np.float32),
                         np.zeros((int(HISTORY_SECONDS * sample_rate / ENVELOPE_SAMPLES), 2), dtype=np.float32),
                         {k: nan for k in DESCRIPTOR_SHORT_NAMES}, {k: nan for k in DESCRIPTOR_SHORT_NAMES}, FLOOR_DB, FLOOR_DB,
                         sample_rate / HOP_SAMPLES)


@dataclass
class _Rolling:
    """A fixed-size history that scrolls: rows appended at the end, the oldest dropped."""

    data: np.ndarray
    filled: int = 0

    def push(self, rows: np.ndarray) -> None:
        n = rows.shape[0]
        if n == 0:
            return
        if n >= self.data.shape[0]:
            self.data[...] = rows[-self.data.shape[0]:]
        else:
            self.data[:-n] = self.data[n:]
            self.data[-n:] = rows
        self.filled = min(self.data.shape[0], self.filled + n)


@dataclass
class _OnsetState:
    previous_log_magnitude: np.ndarray | None = None
    flux_history: list[float] = field(default_factory=list)
    frames_since_onset: int = 1000
    onset_frames: list[int] = field(default_factory=list)  # column indices (absolute)


class LiveAnalysis:
    """Owns one daemon thread: polls the tap (and the session status) and publishes AnalysisFrames.

    tap_source / status_source / requested_source are callables so the app can swap sessions without
    restarting the thread; each may return None (nothing playing)."""

    def __init__(self, tap_source: Callable[[], MonitorTap | None], status_source: Callable[[], Any],
                 requested_source: Callable[[], Mapping[str, float | None]], sample_rate: int = SAMPLE_RATE) -> None:
        self.tap_source = tap_source
        self.status_source = status_source
        self.requested_source = requested_source
        self.sample_rate = sample_rate
        self._matrix = log_frequency_matrix(sample_rate)
        self._window = np.hanning(WINDOW_SAMPLES + 1)[:-1].astype(np.float32)
        self._window_norm = float(np.sqrt(np.sum(self._window ** 2)))
        # Spectrogram power in dB relative to a full-scale sine's peak bin (so 0 dB = full scale).
        self._power_reference = float(np.sum(self._window)) ** 2 / 4.0
        self._freqs = np.fft.rfftfreq(WINDOW_SAMPLES, 1.0 / sample_rate).astype(np.float32)
        columns = int(HISTORY_SECONDS * sample_rate / HOP_SAMPLES)
        self._spectrogram = _Rolling(np.full((columns, SPECTROGRAM_BINS), FLOOR_DB, dtype=np.float32))
        self._measured = {k: _Rolling(np.full(columns, np.nan, dtype=np.float32)) for k in DESCRIPTOR_SHORT_NAMES}
        self._requested = {k: _Rolling(np.full(columns, np.nan, dtype=np.float32)) for k in DESCRIPTOR_SHORT_NAMES}
        self._envelope = _Rolling(np.zeros((int(HISTORY_SECONDS * sample_rate / ENVELOPE_SAMPLES), 2),
                                           dtype=np.float32))
        self._mono = np.zeros(0, dtype=np.float32)  # samples not yet consumed by a full hop
        self._envelope_carry = np.zeros(0, dtype=np.float32)
        self._tap: MonitorTap | None = None
        self._position = 0
        self._column = 0
        self._onsets = _OnsetState()
        self._smoothed: dict[str, float | None] = {}
        self._peak_db = FLOOR_DB
        self._rms_db = FLOOR_DB
        self._status: Any = None
        self._status_time_s = 0.0
        self._sequence = 0
        self.latest: AnalysisFrame = empty_frame(sample_rate)  # replaced whole: readers never see half a frame
        self.poll_seconds_max = 0.0  # the slowest poll so far (for the stall benchmark's report)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cascade-gui-analysis", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the loop ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        next_status_s = 0.0
        while not self._stop.is_set():
            started_s = time.monotonic()
            try:
                changed = self.poll_audio()
                if started_s >= next_status_s:
                    next_status_s = started_s + STATUS_EVERY_SECONDS
                    self._status = self.status_source()
                    self._status_time_s = time.monotonic()
                    changed = True
                if changed:
                    self._publish()
            except Exception:  # noqa: BLE001 - the live view must outlive a bad block or a session swap
                logger.exception("live analysis poll failed")
            self.poll_seconds_max = max(self.poll_seconds_max, time.monotonic() - started_s)
            self._stop.wait(POLL_SECONDS)

    def poll_audio(self) -> bool:
        """Analyse what the tap got since the last poll; returns whether anything new was analysed."""
        tap = self.tap_source()
        if tap is not self._tap:  # a new session: its stream starts at frame 0
            self._tap = tap
            self._position = tap.frames_written if tap is not None else 0
            self._mono = np.zeros(0, dtype=np.float32)
            self._onsets.previous_log_magnitude = None
        if tap is None:
            return False
        self._position, frames = tap.read_since(self._position, max_frames=self.sample_rate)
        if frames.shape[0] == 0:
            return False
        mono = frames.mean(axis=1, dtype=np.float32)
        self._push_envelope(mono)
        self._mono = np.concatenate([self._mono, mono])
        hops = (self._mono.size - (WINDOW_SAMPLES - HOP_SAMPLES)) // HOP_SAMPLES
        if hops <= 0:
            return True
        starts = np.arange(hops) * HOP_SAMPLES
        frames_matrix = self._mono[starts[:, None] + np.arange(WINDOW_SAMPLES)[None, :]]
        self._mono = self._mono[hops * HOP_SAMPLES:]
        self._analyse(frames_matrix)
        return True

    def _push_envelope(self, mono: np.ndarray) -> None:
        samples = np.concatenate([self._envelope_carry, mono])
        points = samples.size // ENVELOPE_SAMPLES
        self._envelope_carry = samples[points * ENVELOPE_SAMPLES:]
        if points:
            blocks = samples[:points * ENVELOPE_SAMPLES].reshape(points, ENVELOPE_SAMPLES)
            self._envelope.push(np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1))

    def _analyse(self, frames: np.ndarray) -> None:
        """frames: (hops, WINDOW_SAMPLES) mono -> one column each."""
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        loudness_db = 20 * np.log10(np.maximum(rms, 1e-5))
        spectrum = np.abs(np.fft.rfft(frames * self._window, axis=1)).astype(np.float32)
        power = spectrum ** 2
        banded = (power @ self._matrix) / self._power_reference
        self._spectrogram.push(10 * np.log10(np.maximum(banded, 1e-10)).astype(np.float32))
        magnitude_sum = spectrum.sum(axis=1)
        centroid_hz = np.where(magnitude_sum > 1e-6, (spectrum * self._freqs).sum(axis=1) / np.maximum(
            magnitude_sum, 1e-12), np.nan)
        floored = np.maximum(power, 1e-10)
        flatness = np.exp(np.mean(np.log(floored), axis=1)) / np.mean(floored, axis=1)
        density = self._onset_density(spectrum)
        requested = self.requested_source()
        measured_now = {"loudness": self._smooth("loudness", loudness_db),
                        "brightness": self._smooth("brightness", centroid_hz),
                        "noisiness": self._smooth("noisiness", flatness), "density": density}
        for key in DESCRIPTOR_SHORT_NAMES:
            self._measured[key].push(np.asarray(measured_now[key], dtype=np.float32))
            target = requested.get(key)
            value = np.nan if target is None else float(target)
            self._requested[key].push(np.full(frames.shape[0], value, dtype=np.float32))
        peak = float(np.abs(frames[-1, -HOP_SAMPLES:]).max())
        self._peak_db = 20 * math.log10(max(peak, 1e-5))
        self._rms_db = float(loudness_db[-1])

    def _smooth(self, key: str, values: np.ndarray) -> np.ndarray:
        """One-pole smoothing over ~4 columns (~90 ms): per-frame estimates flicker more than a player hears."""
        out = np.empty(values.shape[0], dtype=np.float32)
        state = self._smoothed.get(key)
        for i, value in enumerate(values):
            if not np.isfinite(value):
                state = None
                out[i] = np.nan
                continue
            state = float(value) if state is None else state + SMOOTHING * (float(value) - state)
            out[i] = state
        self._smoothed[key] = state
        return out

    def _onset_density(self, spectrum: np.ndarray) -> np.ndarray:
        """Causal spectral-flux peak picking; onsets per second over the last ONSET_WINDOW_SECONDS."""
        state = self._onsets
        log_magnitude = np.log1p(1000.0 * spectrum / self._window_norm)
        out = np.empty(spectrum.shape[0], dtype=np.float32)
        columns_per_second = self.sample_rate / HOP_SAMPLES
        window_columns = int(ONSET_WINDOW_SECONDS * columns_per_second)
        for i in range(spectrum.shape[0]):
            previous = state.previous_log_magnitude
            flux = 0.0 if previous is None else float(np.maximum(log_magnitude[i] - previous, 0.0).mean())
            state.previous_log_magnitude = log_magnitude[i]
            history = state.flux_history
            threshold = 1.3 * (sum(history[-8:]) / max(1, len(history[-8:]))) + 0.005
            # A peak one column late (causal): it rose above the last value and the new one is lower.
            if len(history) >= 2 and history[-1] > threshold and history[-1] >= history[-2] and history[-1] > flux \
                    and state.frames_since_onset >= 3:
                state.onset_frames.append(self._column - 1)
                state.frames_since_onset = 0
            state.frames_since_onset += 1
            history.append(flux)
            del history[:-16]
            state.onset_frames = [c for c in state.onset_frames if c > self._column - window_columns]
            out[i] = len(state.onset_frames) / ONSET_WINDOW_SECONDS
            self._column += 1
        return out

    def _publish(self) -> None:
        self._sequence += 1
        self.latest = AnalysisFrame(
            self._sequence, self._spectrogram.data.copy(), self._envelope.data.copy(),
            {k: v.data.copy() for k, v in self._measured.items()},
            {k: v.data.copy() for k, v in self._requested.items()},
            self._peak_db, self._rms_db, self.sample_rate / HOP_SAMPLES, self._status, self._status_time_s)
