"""Small helpers shared by the tests (importable as tests.helpers)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes; returns its last value. Tests wait for a
    condition instead of sleeping a fixed time, so a loaded machine makes them slower, not flaky."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return predicate()
