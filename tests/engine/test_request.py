"""engine/request.py: a request with a chroma curve survives its JSON form (take logs, the prepared chunk's key)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.harmony import progression_chroma
from engine.request import GenerationError, GenerationRequest, request_from_json, request_to_json
from engine.vocabulary import DESCRIPTOR_GUIDANCE_DEFAULT, GUIDED_CONTROLS_DEFAULT


def test_a_chroma_curve_and_its_mask_round_trip_through_json() -> None:
    curve = progression_chroma("Am F N.C. G", 120.0, 400)
    request = GenerationRequest(prompts=("lofi piano",), chroma=curve.chroma, chroma_mask=curve.mask,
                                key_harmony="tonic_chord", beats_per_bar=3)
    back = request_from_json(json.loads(json.dumps(request_to_json(request))))
    assert back.chroma is not None and back.chroma_mask is not None
    assert np.array_equal(back.chroma, curve.chroma) and back.chroma.dtype == np.float32
    assert np.array_equal(back.chroma_mask, curve.mask) and back.key_harmony == "tonic_chord"
    assert back.beats_per_bar == 3
    plain = request_from_json(request_to_json(GenerationRequest()))
    assert plain.chroma is None and plain.chroma_mask is None and plain.key_harmony == "progression"
    # a take log written before the harmony control still loads, with the key harmony its requests had then
    old = request_to_json(GenerationRequest())
    for name in ("chroma", "chroma_mask", "key_harmony", "beats_per_bar"):
        del old[name]
    assert request_from_json(old).key_harmony == "scale"
    assert request_from_json(old).beats_per_bar == 4  # the key's changes were 4-beat bars then


def test_guided_controls_round_trip_and_old_logs_guide_none() -> None:
    request = GenerationRequest(guided_controls=("clock",), descriptor_guidance=2.5)
    back = request_from_json(json.loads(json.dumps(request_to_json(request))))
    assert back.guided_controls == ("clock",) and back.descriptor_guidance == 2.5
    assert request_to_json(back) == request_to_json(request.validated())
    plain = request_from_json(request_to_json(GenerationRequest()))
    assert plain.guided_controls == GUIDED_CONTROLS_DEFAULT and plain.descriptor_guidance == DESCRIPTOR_GUIDANCE_DEFAULT
    old = request_to_json(GenerationRequest())
    del old["guided_controls"], old["descriptor_guidance"]
    # rendered before the fields: CFG guided no control
    assert request_from_json(old).guided_controls == () and request_from_json(old).descriptor_guidance == 0.0


@pytest.mark.parametrize("change", [{"guided_controls": ("loudness",)}, {"guided_controls": ("clock", "clock")},
                                    {"guided_controls": ("descriptors",)}, {"guided_controls": ("context",)},
                                    {"descriptor_guidance": -1.0}, {"descriptor_guidance": float("nan")},
                                    {"descriptor_guidance": 11.0}])
def test_unknown_guided_controls_and_bad_descriptor_guidance_are_refused(change: dict) -> None:
    with pytest.raises(GenerationError, match="guided_controls|descriptor_guidance"):
        GenerationRequest(**change).validated()
