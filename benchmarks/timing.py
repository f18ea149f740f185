"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def median_seconds(call: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of `repeats` calls of `call`, after one warm-up call (first-call costs left out)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
