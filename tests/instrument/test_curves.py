"""Drawn curves played into the store (instrument/curves.py), with explicit times: no clock, no Qt."""

from __future__ import annotations

import pytest

from instrument.curves import CURVE_BEATS, CurvePlayer, loop_value, start_preset_curves
from instrument.parameters import ParameterStore
from instrument.presets import CURVE_STEPS


def test_loop_value_interpolates_between_steps_and_wraps() -> None:
    positions = [0.0, 1.0, 0.5, 0.25]
    assert loop_value(positions, 0.0) == 0.0
    assert loop_value(positions, 0.125) == pytest.approx(0.5)  # halfway from step 0 to step 1
    assert loop_value(positions, 0.875) == pytest.approx(0.125)  # from the last step back into the first
    assert loop_value(positions, 1.25) == loop_value(positions, 0.25) == 1.0


def test_a_curve_writes_at_most_once_a_second_and_only_when_it_moved() -> None:
    store = ParameterStore()
    store.set("tempo_bpm", 240.0)  # 16 beats = a 4 s loop
    player = CurvePlayer(store)
    ramp = [i / (CURVE_STEPS - 1) for i in range(CURVE_STEPS)]
    flat = [0.3] * CURVE_STEPS
    version = store.version
    for tick in range(40):  # 10 Hz ticks from 0 to 3.9 s
        player.tick({"noisiness": ramp, "density": flat}, 100.0 + 0.1 * tick)
    writes = [c for c in store.changes_since(version) if c.source == "curve"]
    ramp_writes = [c for c in writes if c.name == "noisiness"]
    assert len(ramp_writes) == 4  # at 0, 1, 2 and 3 s: the ramp moves 25 % a second
    assert len([c for c in writes if c.name == "density"]) == 1, "a flat curve writes once"
    noisiness = store.spec("noisiness")
    assert noisiness.to_normalised(store.get("noisiness")) == pytest.approx(loop_value(ramp, 0.75), abs=1e-6)


def test_a_tempo_change_bends_the_loop_instead_of_jumping_it() -> None:
    store = ParameterStore()
    store.set("tempo_bpm", 120.0)
    player = CurvePlayer(store)
    curve = {"density": [0.5] * CURVE_STEPS}
    player.tick(curve, 0.0)
    assert player.tick(curve, 2.0) == pytest.approx(4 / CURVE_BEATS)  # 4 beats at 120 bpm
    store.set("tempo_bpm", 60.0)
    assert player.tick(curve, 4.0) == pytest.approx(6 / CURVE_BEATS)  # 2 more beats, no jump back
    assert player.tick({}, 6.0) is None  # nothing plays: no phase shown, the loop runs on
    assert player.phase == pytest.approx(8 / CURVE_BEATS)


def test_a_presets_playing_curves_switch_their_targets_on() -> None:
    store = ParameterStore()
    spec = store.spec("brightness_hz")
    curves = {"brightness_hz": {"points": [spec.maximum] * CURVE_STEPS, "playing": True},
              "loudness_db": {"points": [-20.0] * CURVE_STEPS, "playing": False}}
    playing = start_preset_curves(curves, store)
    assert set(playing) == {"brightness_hz"} and playing["brightness_hz"][0] == pytest.approx(1.0)
    assert store.get("brightness_hz_enabled") == 1.0 and store.get("loudness_db_enabled") == 0.0
    CurvePlayer(store).tick(playing, 0.0)
    assert store.get("brightness_hz") == pytest.approx(spec.maximum)
