"""The two random draws every part of the composer makes: an element of a tuple, a MIDI velocity."""

from __future__ import annotations

import numpy as np


def pick(rng: np.random.Generator, options: tuple | list):  # type: ignore[type-arg]
    """One element chosen by rng (keeps the Python type, unlike rng.choice)."""
    return options[int(rng.integers(len(options)))]


def velocity(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return min(127, max(1, int(round(base + rng.normal(0.0, spread)))))  # builtins: np.clip is slow on scalars
