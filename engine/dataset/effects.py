"""The randomised pedalboard effect chain every piece is rendered through (its names go into the captions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard

from engine.vocabulary import SAMPLE_RATE


@dataclass(frozen=True)
class EffectChoice:
    """One randomised effect: its caption name and the configured pedalboard plugin."""

    name: str
    plugin: pedalboard.Plugin


# Styles for which audible distortion is idiomatic; elsewhere it is rare and light.
_DRIVE_STYLES = frozenset({"rock", "techno", "drum and bass", "synthwave"})


def random_effect_chain(style: str, tempo_bpm: float, rng: np.random.Generator) -> list[EffectChoice]:
    """A per-piece effect chain in a fixed, sensible order, with randomised presence and parameters.

    Tempo-synced delay times keep the echoes on the grid, so they do not blur the tempo estimate.
    """
    beat_seconds = 60.0 / tempo_bpm
    chain: list[EffectChoice] = []
    if rng.random() < (0.45 if style in _DRIVE_STYLES else 0.08):
        drive_db = float(rng.uniform(6.0, 18.0) if style in _DRIVE_STYLES else rng.uniform(3.0, 8.0))
        chain.append(EffectChoice("distortion", pedalboard.Distortion(drive_db=drive_db)))
    if rng.random() < 0.3:
        chain.append(EffectChoice("chorus", pedalboard.Chorus(
            rate_hz=float(rng.uniform(0.3, 1.5)), depth=float(rng.uniform(0.15, 0.45)),
            mix=float(rng.uniform(0.25, 0.5)))))
    roll = rng.random()
    if roll < 0.2:
        chain.append(EffectChoice("low-pass filter", pedalboard.LowpassFilter(
            cutoff_frequency_hz=float(rng.uniform(2500.0, 8000.0)))))
    elif roll < 0.3:
        chain.append(EffectChoice("high-pass filter", pedalboard.HighpassFilter(
            cutoff_frequency_hz=float(rng.uniform(60.0, 200.0)))))
    if rng.random() < 0.3:
        delay_beats = float(rng.choice([0.5, 0.75, 1.0]))
        chain.append(EffectChoice("delay", pedalboard.Delay(
            delay_seconds=delay_beats * beat_seconds, feedback=float(rng.uniform(0.15, 0.4)),
            mix=float(rng.uniform(0.1, 0.25)))))
    if rng.random() < 0.7:
        chain.append(EffectChoice("reverb", pedalboard.Reverb(
            room_size=float(rng.uniform(0.2, 0.85)), damping=float(rng.uniform(0.2, 0.7)),
            wet_level=float(rng.uniform(0.08, 0.3)), dry_level=float(rng.uniform(0.7, 0.9)),
            width=float(rng.uniform(0.7, 1.0)))))
    if rng.random() < 0.5:
        chain.append(EffectChoice("compression", pedalboard.Compressor(
            threshold_db=float(rng.uniform(-24.0, -12.0)), ratio=float(rng.uniform(2.0, 5.0)),
            attack_ms=float(rng.uniform(3.0, 20.0)), release_ms=float(rng.uniform(60.0, 250.0)))))
    return chain


def apply_effects(audio: np.ndarray, chain: list[EffectChoice], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Run `audio` (channels, frames) float32 through the chain; returns the same shape."""
    if not chain:
        return audio
    board = pedalboard.Pedalboard([choice.plugin for choice in chain])
    return np.ascontiguousarray(board(audio, sample_rate), dtype=np.float32)
