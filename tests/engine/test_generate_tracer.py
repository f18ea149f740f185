"""The Generator's view of its background tracer (engine.optimise.TracedNetwork), as the live session uses it:
whether it traces now, releasing it at the first sound, settling it before exit; harmless without one."""

from __future__ import annotations

import torch

from engine.debug_models import debug_generator
from engine.request import GenerationRequest


def test_an_eager_network_has_no_tracer_to_release_or_settle() -> None:
    generator = debug_generator(0)
    assert not generator.tracing
    generator.release_tracer()
    assert generator.settle_tracer(0.1)


def test_the_generator_releases_and_settles_its_background_tracer() -> None:
    torch.set_num_threads(1)
    generator = debug_generator(0)
    generator.use_traced_network(background=True, trace_first_inline=False)
    network = generator.network
    generator.generate_chunk(GenerationRequest(prompts=("dub techno",), steps=1), 32)
    assert len(network._queued) == 1 and not generator.tracing, "queued behind the closed gate: no GIL held"
    assert generator.settle_tracer(1.0) and network._queued == set(), "parked at the gate: dropped, nothing waited"
    assert not network._tracer_gate.is_set()
    generator.release_tracer()
    assert network._tracer_gate.is_set() and not generator.tracing, "released, with nothing left to trace"
