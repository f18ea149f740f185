"""The two fades a stream's joins are made of: the correlation-compensated equal-power crossfade and the
raised-cosine fade-in (numpy, float32 audio (channels, samples))."""

from __future__ import annotations

import numpy as np


def equal_power_crossfade(old: np.ndarray, new: np.ndarray, compensate_correlation: bool = True) -> np.ndarray:
    """(channels, n) old fading out, new fading in -> (channels, n).

    Gains g_out = cos(pi t / 2) / N, g_in = sin(pi t / 2) / N with N = sqrt(1 + 2 rho cos sin), where rho
    (0..1) is the correlation of the two segments: the summed power stays constant for any rho (rho = 0 is
    the textbook equal-power law, rho = 1 the equal-gain law). Two versions of the same continuation are
    strongly correlated; the plain law would swell them by up to 3 dB mid-fade.
    """
    n = old.shape[-1]
    if n == 0:
        return new.copy()
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    fade_out, fade_in = np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)
    rho = 0.0
    if compensate_correlation:
        energy = float(np.sqrt(np.sum(old.astype(np.float64) ** 2) * np.sum(new.astype(np.float64) ** 2)))
        if energy > 1e-12:
            rho = float(np.clip(np.sum(old.astype(np.float64) * new) / energy, 0.0, 1.0))
    norm = np.sqrt(1.0 + 2.0 * rho * fade_out * fade_in)
    return (old * (fade_out / norm) + new * (fade_in / norm)).astype(np.float32)


def fade_in(audio: np.ndarray, samples: int) -> None:
    """In place: a raised-cosine fade-in over the first `samples` of (channels, n)."""
    n = min(samples, audio.shape[-1])
    if n > 0:
        audio[..., :n] *= (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
