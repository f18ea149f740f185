"""The TorchScript inference path gives the eager U-Net's outputs."""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.debug_models import debug_generator
from engine.request import GenerationRequest
from engine.optimise import TracedNetwork
from tests.helpers import wait_for


def test_traced_network_matches_eager_generation() -> None:
    torch.set_num_threads(1)
    generator = debug_generator(0)
    request = GenerationRequest(prompts=("lofi piano", "rain noise"), weights=(0.7, 0.3), steps=3, tempo_bpm=80.0,
                                key="C", scale="major", descriptors={"loudness": -22.0})
    eager = generator.generate_chunk(request, 32).latent
    generator.network = TracedNetwork(generator.network)
    generator.denoiser.network = generator.network
    traced = generator.generate_chunk(request, 32).latent
    assert torch.allclose(eager, traced, atol=1e-4)
    other = generator.generate_chunk(replace(request, prompts=("a much longer prompt " * 10, "x")), 32).latent
    assert torch.isfinite(other).all() and len(generator.network._traced) == 2  # a second token bucket


def test_background_tracing_traces_the_first_shape_inline_and_new_shapes_off_the_clock() -> None:
    torch.set_num_threads(1)
    generator = debug_generator(0)
    request = GenerationRequest(prompts=("dub techno",), steps=2, tempo_bpm=120.0)
    eager = generator.generate_chunk(request, 32).latent
    generator.use_traced_network(background=True)
    network = generator.network
    assert isinstance(network, TracedNetwork) and network.background and network.token_bucket == 256
    first = generator.generate_chunk(request, 32).latent  # the first chunk: traced inline (nothing plays yet)
    assert torch.allclose(eager, first, atol=1e-4) and len(network.traced_signatures) == 1
    # A new shape (another window) runs eager at once and is frozen by the tracer thread.
    calls: list[int] = []
    eager_forward = network.network.forward
    network.network.forward = lambda *a, **k: calls.append(1) or eager_forward(*a, **k)  # type: ignore[method-assign]
    longer_eager = generator.generate_chunk(request, 64).latent
    assert calls, "a new shape must not wait for its trace: it runs eager"
    assert network.wait_until_traced(60.0) and len(network.traced_signatures) == 2
    assert wait_for(lambda: network._tracer is None), "the tracer thread ends when it has nothing to do"
    network.network.forward = eager_forward  # type: ignore[method-assign]
    calls.clear()
    frozen = {sig: network._traced[sig] for sig in network.traced_signatures}
    for sig, module in frozen.items():
        network._traced[sig] = lambda *inputs, m=module: calls.append(1) or m(*inputs)
    longer_frozen = generator.generate_chunk(request, 64).latent
    assert calls, "once traced, that shape runs the frozen module"
    assert torch.allclose(longer_eager, longer_frozen, atol=1e-4)


def test_background_mode_runs_a_smaller_batch_inside_the_traced_one() -> None:
    """CFG at exactly 1 has no unconditional pass (batch 1): live, that must not be a new shape to trace."""
    torch.set_num_threads(1)
    generator = debug_generator(0)
    guided = GenerationRequest(prompts=("dub techno",), steps=2, cfg_scale=3.0)
    plain = replace(guided, cfg_scale=1.0)
    eager_plain = generator.generate_chunk(plain, 32).latent
    generator.use_traced_network(background=True)
    network = generator.network
    generator.generate_chunk(guided, 32)  # traces batch 2
    assert [sig[0] for sig in network.traced_signatures] == [2]
    traced_plain = generator.generate_chunk(plain, 32).latent
    assert network.traced_signatures == network.traced_signatures[:1] and not network._queued, "no new trace"
    assert torch.allclose(eager_plain, traced_plain, atol=1e-4)


def test_deferred_first_trace_runs_eager_until_released() -> None:
    """The live instrument's start: the first chunk runs eager (no trace on the way to the first sound), the
    tracer waits for release_tracer() and reports `tracing` only while it may hold the GIL."""
    torch.set_num_threads(1)
    generator = debug_generator(0)
    request = GenerationRequest(prompts=("dub techno",), steps=2, tempo_bpm=120.0)
    eager = generator.generate_chunk(request, 32).latent
    generator.use_traced_network(background=True, trace_first_inline=False)
    network = generator.network
    first = generator.generate_chunk(request, 32).latent
    assert torch.allclose(eager, first, atol=1e-5) and network.traced_signatures == ()
    assert len(network._queued) == 1 and not network.tracing, "queued, held until the first sound"
    assert not network.wait_until_traced(0.3), "the tracer waits for its release"
    network.release_tracer()
    assert network.wait_until_traced(60.0) and len(network.traced_signatures) == 1 and not network.tracing
    assert torch.allclose(eager, generator.generate_chunk(request, 32).latent, atol=1e-4)


def test_settle_drops_waiting_shapes_and_waits_for_the_trace_in_progress() -> None:
    """Before the process may exit the session settles the tracer: shapes not yet started are dropped (queued
    again when next used), the one being traced is waited for, so no thread is inside torch at exit."""
    torch.set_num_threads(1)
    generator = debug_generator(0)
    generator.use_traced_network(background=True, trace_first_inline=False)
    network = generator.network
    for window in (32, 48):  # two shapes queued behind the closed gate
        generator.generate_chunk(GenerationRequest(prompts=("dub techno",), steps=1), window)
    assert len(network._queued) == 2
    assert network.settle(1.0) and network._queued == set(), "parked at the gate: both dropped, nothing waited"
    generator.generate_chunk(GenerationRequest(prompts=("dub techno",), steps=1), 32)
    network.release_tracer()
    assert wait_for(lambda: network._tracer is not None or network.traced_signatures, 10.0)
    assert network.settle(60.0)
    assert network._tracer is None or not network._tracer.is_alive()
    assert network.traced_signatures == ((2, 32, network.token_bucket),) or network._queued == set()
