"""Fine-frequency spectra for the listening figures (codec_spectrogram.py, render_report.py): 0-1.5 kHz, where
a comb at the codec's 43.07 Hz frame rate or a wrong note shows."""

from __future__ import annotations

import numpy as np
from scipy import signal as sp_signal

SAMPLE_RATE = 44100
MAX_HZ = 1500.0


def spectrogram_db(mono: np.ndarray, n_fft: int = 8192, hop: int = 1024, max_hz: float = MAX_HZ
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies Hz (F,), frame centre times s (T,), power dB (F, T)) for 0..max_hz of a mono signal."""
    freqs, times, spec = sp_signal.stft(mono, fs=SAMPLE_RATE, window="hann", nperseg=n_fft,
                                        noverlap=n_fft - hop, boundary=None, padded=False)
    keep = freqs <= max_hz
    return freqs[keep], times, 20.0 * np.log10(np.abs(spec[keep]) + 1e-10)


def long_term_db(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, power dB) of a (channels, n) signal for 0..MAX_HZ: Welch, 65536-point Blackman-Harris."""
    nperseg = min(65536, 1 << int(np.floor(np.log2(audio.shape[-1]))))
    freqs, power = sp_signal.welch(audio.astype(np.float64), fs=SAMPLE_RATE, window="blackmanharris",
                                   nperseg=nperseg, noverlap=nperseg // 2, axis=-1)
    power = power.reshape(-1, power.shape[-1]).mean(axis=0)
    keep = freqs <= MAX_HZ
    return freqs[keep], 10.0 * np.log10(power[keep] + 1e-20)
