"""One effects chain as the pump runs it: parameter automation with smoothing, the chain, the resampler.

`EffectsAutomation` is shared by the pump and the offline re-render of a take; `PumpChain` follows the
parameters published in the shared block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.vocabulary import SAMPLE_RATE
from instrument.effects import EffectsChain
from instrument.effects_pump.shared import EFFECT_PARAMETERS, PARAM_SEQUENCE, PumpShared
from instrument.output import CEILING
from instrument.parameters import DELAY_BEATS, PARAMETER_SPECS, ParameterSpec


class EffectsAutomation:
    """Effect parameter targets -> the EffectsChain, with the store's smoothing applied per block (a
    one-pole glide with the spec's smoothing_seconds, so a 7-bit MIDI step does not zipper)."""

    def __init__(self, store_specs: Mapping[str, ParameterSpec], effects: EffectsChain,
                 values: Mapping[str, float]) -> None:
        self.specs = store_specs
        self.effects = effects
        self.targets = {name: float(values[name]) for name in EFFECT_PARAMETERS}
        self.current = dict(self.targets)
        self._dirty = True

    def set(self, name: str, value: float) -> None:
        if name in self.targets:
            self.targets[name] = float(value)
            smoothing = self.specs[name].smoothing_seconds
            if smoothing <= 0:
                self.current[name] = float(value)
            self._dirty = True

    def advance(self, block_seconds: float) -> None:
        """Move smoothed values one block towards their targets and update the plugins if anything moved."""
        if not self._dirty:
            return
        moving = False
        for name, target in self.targets.items():
            current = self.current[name]
            if current == target:
                continue
            smoothing = self.specs[name].smoothing_seconds
            step = 1.0 if smoothing <= 0 else min(1.0, block_seconds / smoothing)
            value = current + (target - current) * step
            if abs(target - value) <= 1e-4 * max(1.0, abs(target)):
                value = target
            self.current[name] = value
            moving = moving or value != target
        label = DELAY_BEATS[int(round(self.current["fx_delay_beats"]))]
        self.effects.update(self.current, label)
        self._dirty = moving


SPECS: Mapping[str, ParameterSpec] = {spec.name: spec for spec in PARAMETER_SPECS}


class PumpChain:
    """One EffectsChain with its automation and (when the device rate differs) its resampler, following the
    parameters published in the shared block. The pump runs one, or two over the same dry frames (the shadow):
    equal blocks and equal parameters give bit-equal output."""

    def __init__(self, values: Mapping[str, float], sequence: int, output_rate: int) -> None:
        self.effects = EffectsChain(SAMPLE_RATE)
        self.automation = EffectsAutomation(SPECS, self.effects, values)
        self.sequence = sequence  # the parameter sequence applied last
        self.resampler: Any = None
        if output_rate != SAMPLE_RATE:
            from pedalboard.io import StreamResampler

            self.resampler = StreamResampler(SAMPLE_RATE, output_rate, 2)

    def follow(self, shared: PumpShared) -> tuple[int, float] | None:
        """Take the parameters published since the last call; (their sequence, change time) if there were any."""
        if shared.slots[PARAM_SEQUENCE] == self.sequence:
            return None
        parameters = shared.read_parameters()
        if parameters is None:
            return None
        sequence, change_time_s, values = parameters
        for name, value in zip(EFFECT_PARAMETERS, values):
            if value != self.automation.targets[name]:
                self.automation.set(name, value)
        self.sequence = sequence
        return sequence, change_time_s

    def render(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frames, 2) dry -> (wet (2, frames) at 44.1 kHz, clipped; the same at the device rate)."""
        self.automation.advance(len(block) / SAMPLE_RATE)
        wet = self.effects.process(block.T)
        np.clip(wet, -CEILING, CEILING, out=wet)
        return wet, (wet if self.resampler is None else self.resampler.process(wet))
