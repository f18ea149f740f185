"""The pitch-class profile of audio by essentia's HPCP: how benchmarks and tests score the harmony of generated
audio, independently of our models (benchmarks/harmony.py, tests of the shipped harmony control).

An 8192-sample frame (Blackman-Harris 62) resolves ~5 Hz, two semitones apart down to ~90 Hz (F2); spectral peaks
40 Hz-5 kHz; 12 bins, reference A 440, each frame scaled to its loudest bin (unitMax).
"""

from __future__ import annotations

import numpy as np

from engine.vocabulary import SAMPLE_RATE

HPCP_FRAME_SAMPLES = 8192
HPCP_HOP_SAMPLES = 2048
HPCP_MIN_HZ = 40.0
HPCP_MAX_HZ = 5000.0
HPCP_PEAK_THRESHOLD = 1e-5
HPCP_MAX_PEAKS = 60
PITCH_CLASSES = 12
# essentia's HPCP bin 0 is A (referenceFrequency 440); engine/harmony counts pitch classes from C = 0, A = 9.
ESSENTIA_BIN0_PITCH_CLASS = 9

__all__ = ["ESSENTIA_BIN0_PITCH_CLASS", "HPCP_HOP_SAMPLES", "c_based", "hpcp_frames", "mean_chroma"]


def hpcp_frames(mono: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(frames, 12) essentia HPCP of a mono signal, in essentia's bin order (bin 0 = A), unitMax per frame.
    Frame i is centred on sample i * HPCP_HOP_SAMPLES (FrameCutter's default startFromZero=False)."""
    import essentia.standard as es

    window = es.Windowing(type="blackmanharris62")
    spectrum = es.Spectrum()
    peaks = es.SpectralPeaks(sampleRate=float(sample_rate), minFrequency=HPCP_MIN_HZ, maxFrequency=HPCP_MAX_HZ,
                             magnitudeThreshold=HPCP_PEAK_THRESHOLD, maxPeaks=HPCP_MAX_PEAKS, orderBy="magnitude")
    hpcp = es.HPCP(size=PITCH_CLASSES, referenceFrequency=440.0, sampleRate=float(sample_rate),
                   minFrequency=HPCP_MIN_HZ, maxFrequency=HPCP_MAX_HZ, normalized="unitMax")
    rows: list[np.ndarray] = []
    signal = np.ascontiguousarray(mono, dtype=np.float32)
    for frame in es.FrameGenerator(signal, frameSize=HPCP_FRAME_SAMPLES, hopSize=HPCP_HOP_SAMPLES,
                                   startFromZero=False):
        frequencies, magnitudes = peaks(spectrum(window(frame)))
        rows.append(np.asarray(hpcp(frequencies, magnitudes), np.float64))
    return np.stack(rows) if rows else np.zeros((0, PITCH_CLASSES), np.float64)


def c_based(hpcp: np.ndarray) -> np.ndarray:
    """essentia's HPCP bins (0 = A) -> engine/harmony's pitch classes (0 = C): out[..., pc] = hpcp[..., pc - 9]."""
    return np.roll(hpcp, ESSENTIA_BIN0_PITCH_CLASS, axis=-1)


def mean_chroma(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(12,) the mean HPCP of `audio` ((samples,) or (channels, samples) as the engine renders it: mixed to
    mono), C = 0."""
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    return c_based(hpcp_frames(mono, sample_rate)).mean(axis=0)
