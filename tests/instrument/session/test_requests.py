"""Parameter snapshots -> the engine's request (instrument.session.requests)."""

from __future__ import annotations

import pytest

from engine.vocabulary import DESCRIPTORS
from instrument.parameters import ParameterStore
from instrument.session import DESCRIPTOR_PARAMETERS, blend_weights, request_from_snapshot
from instrument.session.requests import LIVE_DESCRIPTOR_GUIDANCE


def test_request_from_parameters() -> None:
    store = ParameterStore()
    store.set_many({"cfg_scale": 6.5, "steps": 12, "sampler": 2, "seed": 7, "tempo_bpm": 96.0, "key": 9,
                    "scale": 1, "loudness_db": -14.0, "loudness_db_enabled": 1, "prompt_2_weight": 0.5},
                   ["deep house", "rain on a window", "", ""])
    request = request_from_snapshot(store.snapshot())
    assert request.prompts == ("deep house", "rain on a window") and request.weights == pytest.approx((2 / 3, 1 / 3))
    assert (request.cfg_scale, request.steps, request.sampler, request.seed) == (6.5, 12, "euler", 7)
    assert (request.tempo_bpm, request.key, request.scale) == (96.0, "A", "minor")
    assert request.descriptors == {"loudness": -14.0}
    # live, a target's curve has its own guidance (the app's scale); CFG guides the clock and held chords
    assert request.descriptor_guidance == LIVE_DESCRIPTOR_GUIDANCE > 0
    assert request.guided_controls == ("chords", "clock")
    request.validated()
    # The XY pad morphs to its corner's prompt; empty slots never get weight.
    store.set_many({"xy_x": 1.0, "xy_y": 0.0})
    assert blend_weights(store.snapshot().values, store.prompt_texts()) == pytest.approx((0, 1, 0, 0))
    store.set_many({"xy_x": 1.0, "xy_y": 1.0})
    fallback = request_from_snapshot(store.snapshot())  # slot 4 is empty: the non-empty prompts, equally
    assert fallback.prompts == ("deep house", "rain on a window") and fallback.weights == (1.0, 1.0)
    empty = ParameterStore()
    assert request_from_snapshot(empty.snapshot()).prompts == ("music",)


def test_descriptor_parameters_are_the_vocabularys_short_to_parameter_names() -> None:
    assert DESCRIPTOR_PARAMETERS == {"loudness": "loudness_db", "brightness": "brightness_hz",
                                     "noisiness": "noisiness", "density": "density"}
    assert list(DESCRIPTOR_PARAMETERS) == [descriptor.short for descriptor in DESCRIPTORS]


def test_the_meter_comes_from_the_words_of_the_sounding_prompts() -> None:
    store = ParameterStore()
    store.set_many({"prompt_1_weight": 1.0, "prompt_2_weight": 0.0},
                   ["folk waltz with accordion", "jig in 6/8 with fiddle", "house in 12/8", ""])
    assert request_from_snapshot(store.snapshot()).beats_per_bar == 3  # prompt 1 sounds alone: a waltz
    store.set_many({"prompt_1_weight": 0.2, "prompt_2_weight": 0.0, "prompt_3_weight": 0.8})
    assert request_from_snapshot(store.snapshot()).beats_per_bar == 6  # 12/8: six quarter-note beats
    store.set_many({}, ["ambient pads", "", "", ""])
    assert request_from_snapshot(store.snapshot()).beats_per_bar == 4  # no meter in the words: 4-beat bars
