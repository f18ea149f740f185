"""The effects pump's effects, offline, as a take's re-render applies them (instrument.session.rerender)."""

from __future__ import annotations

import numpy as np

from instrument.parameters import ParameterStore
from instrument.session import apply_effects_automation

RATE = 44100


def test_effects_automation_offline_matches_blockwise_changes() -> None:
    rng = np.random.default_rng(1)
    dry = rng.normal(0, 0.1, (2, RATE)).astype(np.float32)
    store = ParameterStore()
    wet = apply_effects_automation(dry, dict(store.snapshot().values),
                                   [{"frame": RATE // 2, "name": "fx_filter_cutoff_hz", "value": 200.0}])
    first, second = wet[:, :RATE // 2], wet[:, RATE // 2 + 4096:]
    high = lambda x: np.mean(np.diff(x, axis=-1) ** 2)  # noqa: E731
    assert high(second) < 0.05 * high(first), "the low-pass took effect at its frame"
