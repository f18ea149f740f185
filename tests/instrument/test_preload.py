"""The app's model preload: loads on its own thread, warms the live shape up only after Qt's imports, and hands
a failed load to whoever asks for the model."""

from __future__ import annotations

import pytest

from engine.generate import GenerationRequest, debug_generator
from engine.optimise import LIVE_TOKEN_BUCKET
from engine.realtime import EngineConfig
from instrument.preload import ModelPreload
from tests.helpers import wait_for


def traced_debug_generator():  # noqa: ANN201
    generator = debug_generator(0)
    generator.use_traced_network(background=True, trace_first_inline=True)  # as the app loads the shipped model
    return generator


def test_the_preload_traces_the_live_shape_after_the_imports() -> None:
    window_frames = EngineConfig().geometry.window_frames
    preload = ModelPreload(traced_debug_generator, window_frames)
    assert wait_for(lambda: "loaded" in preload.timings_s, 30.0)
    assert not preload.done(), "the warm-up waits for imports_done()"
    preload.imports_done()
    generator = preload.result(timeout_s=60)
    assert generator.network.traced_signatures == ((2, window_frames, LIVE_TOKEN_BUCKET),)
    # A guided chunk of the live window with a four-prompt blend runs in that trace: no second shape.
    request = GenerationRequest(prompts=("warm pads", "a piano", "dusty drums", "strings"),
                                weights=(1.0, 0.5, 0.25, 0.1), cfg_scale=4.0, steps=2)
    generator.generate_chunk(request, window_frames)
    assert generator.network.traced_signatures == ((2, window_frames, LIVE_TOKEN_BUCKET),)


def test_a_failed_load_reaches_the_caller() -> None:
    def broken() -> None:
        raise FileNotFoundError("no diffusion model at nowhere.safetensors")

    preload = ModelPreload(broken, 64)
    preload.imports_done()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        preload.result(timeout_s=10)


def test_the_announced_first_chunk_is_computed_by_the_warm_up_and_taken_by_the_live_engine() -> None:
    """The app announces its first request after applying the preset: the warm-up computes that chunk, and the
    live engine's first chunk (a fresh start from the same store) takes it instead of computing it again."""
    from instrument.live import LiveSession, request_from_snapshot
    from instrument.parameters import ParameterStore

    store = ParameterStore()
    store.set_prompt_text(0, "dusty drums and a warm bass")
    window_frames = EngineConfig().geometry.window_frames
    preload = ModelPreload(traced_debug_generator, window_frames, first_request_wait_s=30.0)
    preload.imports_done()
    assert not preload.done() and wait_for(lambda: "loaded" in preload.timings_s, 30.0)
    assert not preload.done(), "the warm-up waits for the announcement"
    preload.set_first_request(request_from_snapshot(store.snapshot()))
    generator = preload.result(timeout_s=60)
    assert generator.prepared_chunks_used == 0
    session = LiveSession(generator, store, output="none")
    session.start()
    try:
        assert wait_for(lambda: session.engine.status().chunks >= 1, 30.0)
    finally:
        session.stop()
    assert generator.prepared_chunks_used == 1
