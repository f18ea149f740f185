"""The equal-power crossfade."""

from __future__ import annotations

import numpy as np

from engine.stream import equal_power_crossfade
from tests.engine.stream.support import sine


def test_crossfade_keeps_power_for_any_correlation() -> None:
    same = sine(0.1)
    # Identical material: the correlation-compensated law becomes equal gain, so the signal passes unchanged
    # (the textbook sin/cos law would swell it by 3 dB mid-fade).
    np.testing.assert_allclose(equal_power_crossfade(same, same), same, atol=1e-5)
    plain = equal_power_crossfade(same, same, compensate_correlation=False)
    assert np.abs(plain).max() > 1.35 * np.abs(same).max()
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.3, (2, 44100)).astype(np.float32)
    b = rng.normal(0, 0.3, (2, 44100)).astype(np.float32)
    mixed = equal_power_crossfade(a, b)
    rms = np.sqrt((mixed.reshape(2, 10, -1) ** 2).mean(axis=(0, 2)))
    assert np.all(np.abs(rms / 0.3 - 1) < 0.1), "uncorrelated: equal power all through the fade"
