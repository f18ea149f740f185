"""The first chunk's request."""

from __future__ import annotations

from dataclasses import replace

from engine.request import GenerationRequest
from engine.stream import EngineConfig, first_chunk_request


def test_first_chunk_request_caps_the_steps_only() -> None:
    request = GenerationRequest(prompts=("warm pad",), steps=12, seed=3)
    assert first_chunk_request(request, EngineConfig(first_chunk_steps=4)) == replace(request, steps=4)
    assert first_chunk_request(replace(request, steps=2), EngineConfig(first_chunk_steps=4)).steps == 2
    assert first_chunk_request(request, EngineConfig(first_chunk_steps=None)) is request
