"""The chunk log re-renders the live stream exactly (offline, from the engine's records)."""

from __future__ import annotations

import time

import numpy as np

from engine.generate import Generator
from engine.stream import EngineConfig, StreamGeometry, render_chunk_log
from tests.engine.stream.support import Consumer, make_engine, playing_store
from tests.helpers import wait_for


def test_chunk_log_replays_the_live_stream_exactly(generator: Generator) -> None:
    store = playing_store()
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4), lead_chunks=2.0, rollback_min_gain_s=0.1)
    engine, queue = make_engine(generator, store, config)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().lead_seconds > 1.0)
            store.set("cfg_scale", 8.0)
            time.sleep(1.0)
            store.set_prompt_text(1, "bright bells")
            store.set("xy_x", 1.0)
            time.sleep(1.0)
    finally:
        engine.stop()
    live = consumer.audio
    assert any(r.rollback for r in engine.records)
    replay = render_chunk_log(generator, [r.to_json() for r in engine.records], config.geometry,
                              end_sample=live.shape[1])
    np.testing.assert_allclose(replay, live, atol=1e-6)
