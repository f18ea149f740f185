"""The per-piece state the part writers share, and the roles' registers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.dataset.composer.harmony import Chord
from engine.dataset.composer.styles import StyleSpec

# GM registers (MIDI pitch) for the roles.
CHORD_REGISTER: tuple[int, int] = (53, 76)
PAD_REGISTER: tuple[int, int] = (55, 79)
ARP_REGISTER: tuple[int, int] = (60, 88)
COUNTER_REGISTER: tuple[int, int] = (50, 72)
TIMING_JITTER_SECONDS: float = 0.004  # a few ms of human looseness


@dataclass
class PartContext:
    """Per-piece state shared by the part generators."""

    rng: np.random.Generator
    spec: StyleSpec
    seconds_per_beat: float
    beats_per_bar: int
    bar_starts_seconds: list[float]
    end_seconds: float
    tonic_pc: int
    scale_pcs: frozenset[int]
    scale_intervals: tuple[int, ...]
    chords: list[Chord]  # one per bar
    energy: list[float]  # one per bar
    swing_fraction: float  # beats an off-beat 8th is delayed by
    swing16_fraction: float  # beats an off-beat 16th is delayed by

    def time(self, bar: int, position_beats: float, jitter: bool = True) -> float:
        """Seconds of a position inside a bar, with swing and a little human timing jitter."""
        frac = position_beats % 1.0
        pos = position_beats
        if abs(frac - 0.5) < 1e-6:
            pos += self.swing_fraction
        elif abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6:
            pos += self.swing16_fraction + (self.swing_fraction if frac > 0.5 else 0.0)
        t = self.bar_starts_seconds[bar] + pos * self.seconds_per_beat
        if jitter:
            t += float(self.rng.normal(0.0, TIMING_JITTER_SECONDS))
        return max(0.0, t)
