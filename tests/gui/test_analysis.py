"""The live view's analysis (no Qt): monitor tap -> spectrogram, envelope, level and measured descriptors."""

from __future__ import annotations

import numpy as np

from gui.analysis import (FLOOR_DB, HOP_SAMPLES, SPECTROGRAM_BINS, SPECTROGRAM_HIGH_HZ, SPECTROGRAM_LOW_HZ,
                          LiveAnalysis)
from instrument.monitor import MonitorTap

RATE = 44100


def _analysis(tap: MonitorTap, requested: dict | None = None) -> LiveAnalysis:
    return LiveAnalysis(lambda: tap, lambda: None, lambda: requested or {})


def _feed(tap: MonitorTap, analysis: LiveAnalysis, audio: np.ndarray, block: int = 256) -> None:
    for start in range(0, audio.shape[-1], block):
        tap.write(audio[:, start:start + block])
        if start % (8 * block) == 0:
            analysis.poll_audio()
    analysis.poll_audio()
    analysis._publish()


def test_a_sine_lands_in_its_band_with_its_loudness_and_brightness() -> None:
    tap = MonitorTap()
    analysis = _analysis(tap, {"loudness": -12.0, "brightness": None})
    t = np.arange(2 * RATE) / RATE
    sine = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    _feed(tap, analysis, np.stack([sine, sine]))
    frame = analysis.latest
    column = frame.spectrogram_db[-1]
    expected_bin = np.log(1000.0 / SPECTROGRAM_LOW_HZ) / np.log(SPECTROGRAM_HIGH_HZ / SPECTROGRAM_LOW_HZ) * SPECTROGRAM_BINS
    assert abs(int(np.argmax(column)) - expected_bin) <= 2
    assert -12.0 < column.max() < 0.0  # a -6 dBFS sine, in dB re full scale
    assert abs(frame.measured["loudness"][-1] - 20 * np.log10(0.5 / np.sqrt(2))) < 0.2  # RMS of the sine
    assert abs(frame.measured["brightness"][-1] - 1000.0) < 60.0
    assert frame.measured["noisiness"][-1] < 0.05  # tonal
    assert frame.requested["loudness"][-1] == -12.0 and np.isnan(frame.requested["brightness"][-1])
    assert -7.0 < frame.peak_db < -5.0


def test_clicks_count_as_onsets_and_noise_is_flat() -> None:
    tap = MonitorTap()
    analysis = _analysis(tap)
    rng = np.random.default_rng(0)
    audio = np.zeros((2, 3 * RATE), dtype=np.float32)
    for second in np.arange(0.1, 3.0, 0.25):  # 4 clicks a second
        start = int(second * RATE)
        audio[:, start:start + 400] = rng.standard_normal(400).astype(np.float32) * 0.5
    _feed(tap, analysis, audio)
    density = analysis.latest.measured["density"][-1]
    assert 3.0 <= density <= 5.0, density

    tap2 = MonitorTap()
    analysis2 = _analysis(tap2)
    noise = (rng.standard_normal((2, RATE)) * 0.1).astype(np.float32)
    _feed(tap2, analysis2, noise)
    assert analysis2.latest.measured["noisiness"][-1] > 0.4
    assert analysis2.latest.measured["brightness"][-1] > 5000.0


def test_silence_and_a_new_session_start_clean() -> None:
    taps = [MonitorTap()]
    analysis = LiveAnalysis(lambda: taps[-1], lambda: None, lambda: {})
    _feed(taps[-1], analysis, np.zeros((2, RATE // 2), dtype=np.float32))
    assert analysis.latest.spectrogram_db.max() <= FLOOR_DB + 1e-3
    assert analysis.latest.peak_db == 20 * np.log10(1e-5)
    taps.append(MonitorTap())  # a new session: the analysis follows it from its current position
    taps[-1].write(np.ones((2, 4 * HOP_SAMPLES), dtype=np.float32) * 0.25)
    assert analysis.poll_audio() is False  # what was written before it switched is not replayed
    taps[-1].write(np.ones((2, 4 * HOP_SAMPLES), dtype=np.float32) * 0.25)
    assert analysis.poll_audio() is True
