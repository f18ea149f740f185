"""The live effects chain (pedalboard): filter -> chorus -> delay -> reverb -> compressor -> limiter.

Plugins are created once and their parameters are updated in place, so a knob move neither clicks nor
drops the reverb tail; blocks are processed with reset=False, so blockwise output equals processing the
whole signal at once (tested). Non-finite input never reaches the plugins: one NaN would poison the
reverb and delay state for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import pedalboard

from engine.vocabulary import SAMPLE_RATE

LIMITER_THRESHOLD_DB: float = -1.0
DELAY_MAX_SECONDS: float = 4.0


def delay_seconds(fraction_of_whole_note: str, tempo_bpm: float) -> float:
    """'3/8' at 120 BPM -> 0.75 s (a whole note is four beats)."""
    return float(Fraction(fraction_of_whole_note)) * 4.0 * 60.0 / tempo_bpm


class EffectsChain:
    """Owned by one thread (the engine's audio stage): `update` then `process`, never concurrently."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self.filter = pedalboard.LowpassFilter(cutoff_frequency_hz=20000.0)
        self.chorus = pedalboard.Chorus(rate_hz=0.8, depth=0.3, mix=0.0)
        self.delay = pedalboard.Delay(delay_seconds=0.5, feedback=0.35, mix=0.0)
        self.reverb = pedalboard.Reverb(room_size=0.5, wet_level=0.15, dry_level=1.0)
        self.compressor = pedalboard.Compressor(threshold_db=0.0, ratio=3.0, attack_ms=10.0, release_ms=150.0)
        self.limiter = pedalboard.Limiter(threshold_db=LIMITER_THRESHOLD_DB, release_ms=100.0)
        shared = [self.filter, self.chorus, self.delay, self.reverb, self.compressor]
        # Two boards over the same plugin objects: switching the limiter keeps every other plugin's state.
        self._board = pedalboard.Pedalboard(shared + [self.limiter])
        self._board_unlimited = pedalboard.Pedalboard(shared)
        self.limiter_enabled = True
        self.nonfinite_blocks = 0

    def update(self, values: Mapping[str, float], delay_label: str = "1/4") -> None:
        """Apply parameter values (real units, names as in instrument.parameters) to the plugins in place."""
        self.filter.cutoff_frequency_hz = float(np.clip(values.get("fx_filter_cutoff_hz", 20000.0), 20.0,
                                                        0.45 * self.sample_rate))
        self.chorus.mix = float(values.get("fx_chorus_mix", 0.0))
        tempo_bpm = float(values.get("tempo_bpm", 120.0))
        self.delay.delay_seconds = min(DELAY_MAX_SECONDS, delay_seconds(delay_label, tempo_bpm))
        self.delay.feedback = float(values.get("fx_delay_feedback", 0.35))
        self.delay.mix = float(values.get("fx_delay_mix", 0.0))
        self.reverb.wet_level = float(values.get("fx_reverb_mix", 0.15))
        self.reverb.room_size = float(values.get("fx_reverb_room", 0.5))
        self.compressor.threshold_db = float(values.get("fx_compressor_threshold_db", 0.0))
        self.limiter_enabled = bool(values.get("fx_limiter_enabled", 1.0))

    def process(self, block: np.ndarray) -> np.ndarray:
        """(2, frames) float32 -> (2, frames) float32, continuing the chain's state from the last block."""
        if not np.all(np.isfinite(block)):
            self.nonfinite_blocks += 1
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        board = self._board if self.limiter_enabled else self._board_unlimited
        out = board(np.ascontiguousarray(block, dtype=np.float32), self.sample_rate, reset=False)
        return out.astype(np.float32, copy=False)

    def reset(self) -> None:
        """Forget tails (e.g. on stop)."""
        self._board.reset()
