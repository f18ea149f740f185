"""The GenerationRequest helpers of a stream: the first chunk's (fewer steps), a changed step count, and a
request read back from a chunk log's JSON."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np

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


def request_from_json(data: dict[str, Any]) -> GenerationRequest:
    """Inverse of request_to_json (unknown keys ignored: a log from a newer version still loads)."""
    known = {f.name for f in fields(GenerationRequest)}
    values = {k: v for k, v in data.items() if k in known}
    values["prompts"] = tuple(values.get("prompts", ()))
    values["weights"] = tuple(float(w) for w in values.get("weights", ()))
    values["descriptors"] = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else float(v))
                             for k, v in dict(values.get("descriptors", {})).items()}
    return GenerationRequest(**values)
