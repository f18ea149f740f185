"""The GenerationRequest helpers of a stream: the first chunk's (fewer steps) and a changed step count."""

from __future__ import annotations

from dataclasses import replace

from engine.request import GenerationRequest
from engine.stream.config import EngineConfig


def first_chunk_request(request: GenerationRequest, config: EngineConfig | None = None) -> GenerationRequest:
    """What a stream's first chunk is generated with: `request` at no more than `config.first_chunk_steps` steps
    (the app's preload computes that chunk ahead: instrument.preload)."""
    cap = (config or EngineConfig()).first_chunk_steps
    return request if cap is None or request.steps <= cap else with_steps(request, max(1, int(cap)))


def with_steps(request: GenerationRequest, steps: int) -> GenerationRequest:
    """`request` at `steps` sampler steps."""
    return replace(request, steps=int(steps))

