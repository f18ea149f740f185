"""Drawn descriptor curves played into the parameter store: the app's curve lanes and `cascade play` alike.

A curve is CURVE_STEPS knob positions (0..1) looped every CURVE_BEATS beats at the store's tempo. Every write
is a generation change the engine answers by regenerating ahead of the playhead, so a curve writes at most
every CURVE_WRITE_SECONDS and only when it moved by more than CURVE_WRITE_TRAVEL of the knob's travel: a
staircase the engine keeps up with (written every display tick, a curve kept the engine rolling back at two
steps with dropouts). The loop's phase advances with the tempo in force at each tick, so a tempo change bends
the loop's speed instead of making it jump.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from instrument.parameters import ParameterStore

CURVE_BEATS = 16  # a drawn curve loops every 4 bars of 4/4 at the current tempo
CURVE_WRITE_SECONDS = 1.0  # a playing curve updates its parameter at most this often ...
CURVE_WRITE_TRAVEL = 0.02  # ... and only when it moved by more than this fraction of the knob's travel


def loop_value(positions: Sequence[float], phase: float) -> float:
    """A looped curve's knob position at loop phase 0..1: linear between steps, the last step into the first."""
    steps = len(positions)
    position = (phase % 1.0) * steps
    index = int(position) % steps
    fraction = position - int(position)
    return positions[index] * (1 - fraction) + positions[(index + 1) % steps] * fraction


def start_preset_curves(curves: Mapping[str, Mapping], store: ParameterStore, source: str = "preset"
                        ) -> dict[str, list[float]]:
    """A preset's curves (parameter -> {"points": real units, "playing": bool}, validated) -> the knob
    positions of those that play; their descriptor targets are switched on (a playing curve is a target the
    model follows, as switching a lane on in the app does)."""
    playing = {name: [store.spec(name).to_normalised(point) for point in curve["points"]]
               for name, curve in curves.items() if curve.get("playing")}
    for name in playing:
        if f"{name}_enabled" in store.specs:
            store.set(f"{name}_enabled", 1.0, source)
    return playing


class CurvePlayer:
    """Plays curves into a store. Owns the loop's phase and what each curve last wrote; the store owns the
    values, the caller owns the curves (it passes the playing ones to every `tick`)."""

    def __init__(self, store: ParameterStore, source: str = "curve") -> None:
        self.store = store
        self.source = source
        self.phase = 0.0
        self._last_tick_s: float | None = None
        self._written: dict[str, tuple[float, float]] = {}  # name -> (knob position, time of the write)

    def forget(self, name: str) -> None:
        """The next tick writes this curve at once (it was just switched on or redrawn)."""
        self._written.pop(name, None)

    def tick(self, curves: Mapping[str, Sequence[float]], now_s: float) -> float | None:
        """Advance the loop to `now_s` (time.monotonic()) and write the curves that moved enough; returns the
        phase 0..1, or None when no curve plays (the loop runs on: a curve switched on joins it in time)."""
        if self._last_tick_s is not None:
            beats_per_second = self.store.get("tempo_bpm") / 60.0
            self.phase = (self.phase + (now_s - self._last_tick_s) * beats_per_second / CURVE_BEATS) % 1.0
        self._last_tick_s = now_s
        if not curves:
            return None
        for name, positions in curves.items():
            position = loop_value(positions, self.phase)
            written, written_s = self._written.get(name, (-1.0, -1e18))
            if abs(position - written) > CURVE_WRITE_TRAVEL and now_s - written_s >= CURVE_WRITE_SECONDS:
                self._written[name] = (position, now_s)
                self.store.set_normalised(name, position, self.source)
        return self.phase
