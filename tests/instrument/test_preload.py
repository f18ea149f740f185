"""The app's model preload: loads on its own thread, warms the live shape up, computes the announced first chunk,
retries a step whose import failed beside Qt's, and hands a failed load to whoever asks for the model."""

from __future__ import annotations


import pytest

from engine.debug_models import debug_generator
from engine.request import GenerationRequest
from engine.optimise import LIVE_TOKEN_BUCKET
from engine.stream import EngineConfig, first_chunk_request
from instrument.preload import ModelPreload
from tests.helpers import wait_for


def traced_debug_generator():  # noqa: ANN201
    generator = debug_generator(0)
    generator.use_traced_network(background=True, trace_first_inline=True)  # as the app loads the shipped model
    return generator


def test_the_preload_traces_the_live_shape_without_waiting_for_qt() -> None:
    window_frames = EngineConfig().geometry.window_frames
    preload = ModelPreload(traced_debug_generator, window_frames)
    assert preload.wait_warmed_up(60.0), "the warm-up runs before Qt's imports (the app waits for it)"
    generator = preload.result(timeout_s=60)
    assert generator.network.traced_signatures == ((2, window_frames, LIVE_TOKEN_BUCKET),)
    assert generator.prepared_chunks_used == 0 and generator._prepared is None, "no request announced: no chunk"
    # A guided chunk of the live window with a four-prompt blend runs in that trace: no second shape.
    request = GenerationRequest(prompts=("warm pads", "a piano", "dusty drums", "strings"),
                                weights=(1.0, 0.5, 0.25, 0.1), cfg_scale=4.0, steps=2)
    generator.generate_chunk(request, window_frames)
    assert generator.network.traced_signatures == ((2, window_frames, LIVE_TOKEN_BUCKET),)


def test_a_warm_up_whose_import_failed_runs_again_after_qts_imports() -> None:
    """PySide6's import hook once failed an import on another thread while Qt was being imported: the step is
    tried again once the caller says Qt's imports are done, and the model is not lost."""
    generator = traced_debug_generator()
    calls: list[int] = []
    real_warm_up = generator.warm_up

    def flaky_warm_up(window_frames: int) -> None:
        calls.append(window_frames)
        if len(calls) == 1:
            raise ModuleNotFoundError("No module named 'socket'")
        real_warm_up(window_frames)

    generator.warm_up = flaky_warm_up
    preload = ModelPreload(lambda: generator, 64)
    assert wait_for(lambda: len(calls) == 1, 30.0)
    assert not preload.wait_warmed_up(0.3), "the retry waits for imports_done()"
    preload.imports_done()
    assert preload.result(timeout_s=60) is generator and len(calls) == 2
    assert preload.wait_warmed_up(0.0)


def test_a_failed_load_reaches_the_caller() -> None:
    def broken() -> None:
        raise FileNotFoundError("no diffusion model at nowhere.safetensors")

    preload = ModelPreload(broken, 64)
    assert preload.wait_warmed_up(10.0), "a failed load does not keep the app's window waiting"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        preload.result(timeout_s=10)


def test_the_announced_first_chunk_is_computed_by_the_warm_up_and_taken_by_the_live_engine() -> None:
    """The app announces its first request after applying the preset: the warm-up computes that chunk, and the
    live engine's first chunk (a fresh start from the same store) takes it instead of computing it again."""
    from instrument.session import LiveSession, request_from_snapshot
    from instrument.parameters import ParameterStore

    store = ParameterStore()
    store.set_prompt_text(0, "dusty drums and a warm bass")
    window_frames = EngineConfig().geometry.window_frames
    preload = ModelPreload(traced_debug_generator, window_frames, first_request_wait_s=30.0)
    assert preload.wait_warmed_up(60.0)
    assert not preload.done(), "once warmed up, the preload waits for the announcement"
    preload.set_first_request(first_chunk_request(request_from_snapshot(store.snapshot())))
    generator = preload.result(timeout_s=60)
    assert generator.prepared_chunks_used == 0
    session = LiveSession(generator, store, output="none")
    session.start()
    try:
        assert wait_for(lambda: session.engine.status().chunks >= 1, 30.0)
    finally:
        session.stop()
    assert generator.prepared_chunks_used == 1
