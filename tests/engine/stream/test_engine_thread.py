"""The engine thread on the tiny random debug model (CPU, one thread): keeping ahead, rollbacks, adaptive steps,
refines, generation errors and NaN."""

from __future__ import annotations

import time

import numpy as np
import torch

from engine.debug_models import debug_generator
from engine.generate import Generator
from engine.request import GenerationRequest
from engine.stream import EngineConfig, StreamGeometry
from tests.engine.stream.support import Consumer, SlowGenerator, _clone, make_engine, playing_store
from tests.helpers import wait_for


def test_engine_keeps_ahead_and_a_change_reaches_the_next_chunk(generator: Generator) -> None:
    store = playing_store()
    engine, queue = make_engine(generator, store)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().chunks >= 2)
            time.sleep(0.8)
            changed_s = time.monotonic()
            store.set("cfg_scale", 9.0)
            store.set("fx_reverb_mix", 0.9)  # an effect: never makes the engine regenerate
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 9.0 for r in engine.records))
            assert wait_for(lambda: consumer.markers, timeout_s=3.0)
            time.sleep(0.5)
            status = engine.status()
    finally:
        engine.stop()
    records = [r for r in engine.records if r.kind == "chunk"]
    first_new = next(r for r in records if r.request["cfg_scale"] == 9.0)
    assert all(r.request["cfg_scale"] == 4.0 for r in records[:records.index(first_new)])
    assert first_new.version == store.version - 1 or first_new.version >= store.version - 1
    # The change was heard from a splice point ahead of the consumer, not after the whole buffer.
    position, change_s = consumer.markers[0]
    assert change_s >= changed_s - 0.01 and position == first_new.sample
    assert status.real_time_factor is not None and 0 < status.real_time_factor < 1
    assert status.lead_seconds > 0.2 and status.errors == 0 and consumer.short_blocks == 0
    audio = consumer.audio
    assert np.isfinite(audio).all() and 0.001 < np.abs(audio).max() < 1.0


def test_rollback_answers_before_the_buffer_has_played(generator: Generator) -> None:
    store = playing_store()
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4), lead_chunks=3.0, rollback_min_gain_s=0.1)
    engine, queue = make_engine(generator, store, config)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().lead_seconds > 1.5)
            lead_s = engine.status().lead_seconds
            store.set("seed", 42)
            assert wait_for(lambda: consumer.markers, timeout_s=3.0)
            heard_s = time.monotonic()
            position, change_s = consumer.markers[0]
    finally:
        engine.stop()
    assert engine.status().rollbacks >= 1
    assert heard_s - change_s < 0.6 * lead_s, f"heard after {heard_s - change_s:.2f} s with {lead_s:.2f} s queued"


def test_adaptive_steps_keep_the_buffer_from_running_dry(generator: Generator) -> None:
    slow = _clone(generator, SlowGenerator)
    store = playing_store(steps=32)  # 32 x 40 ms = 1.3 s per chunk of 0.93 s: cannot keep up at full steps
    engine, queue = make_engine(slow, store)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().chunks >= 3, timeout_s=30.0)
            status = engine.status()
    finally:
        engine.stop()
    assert status.steps_requested == 32 and status.steps_used < 32
    assert consumer.short_blocks == 0, "fewer steps instead of an underrun"


def test_a_knob_being_turned_is_answered_by_coalesced_rollbacks(generator: Generator) -> None:
    store = playing_store()
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4), lead_chunks=2.0, rollback_min_gain_s=0.05,
                          rollback_min_interval_s=0.15, refine_after_s=None)
    engine, queue = make_engine(generator, store, config)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().lead_seconds > 1.0)
            before = engine.status().rollbacks
            turn_s = 1.5
            start_s = time.monotonic()
            value = 1.0
            while time.monotonic() - start_s < turn_s:  # a hand turning the CFG knob: a change every 10 ms
                value = 1.0 + (value + 0.1) % 9.0
                store.set("cfg_scale", value)
                time.sleep(0.01)
            last_value = store.get("cfg_scale")
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == last_value for r in engine.records))
            rollbacks = engine.status().rollbacks - before
    finally:
        engine.stop()
    # ~150 changes: about one rollback per 150 ms of movement, not one per change; the last value is played.
    assert 2 <= rollbacks <= turn_s / 0.15 + 2, rollbacks
    assert consumer.short_blocks == 0


# The live geometry: a rollback's few-step audio lasts ~1.1 s, long enough to be worth refining.
REFINING = EngineConfig(geometry=StreamGeometry(64, 16, 4), refine_after_s=0.2)


def test_the_first_chunk_uses_few_steps_and_is_refined_once_the_knobs_rest(generator: Generator) -> None:
    """The first sound waits for the first chunk, so it uses at most first_chunk_steps; what of it is not yet
    heard is regenerated at the requested steps as soon as the knobs rest, with no gap."""
    store = playing_store(steps=8)
    engine, queue = make_engine(generator, store, REFINING)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().refines >= 1, timeout_s=30.0)
    finally:
        engine.stop()
    records = [r for r in engine.records if r.kind == "chunk"]
    first, refine = records[0], next(r for r in records if r.refine)
    assert first.fresh and first.steps == REFINING.first_chunk_steps == 4 and first.requested_steps == 8
    assert refine.steps == 8 and refine.request == first.request and refine.sample > first.sample
    assert consumer.short_blocks == 0


def test_few_step_audio_is_refined_at_full_steps_once_the_knobs_rest(generator: Generator) -> None:
    slow = _clone(generator, SlowGenerator)
    store = playing_store(steps=8)  # 8 x 40 ms: a rollback within the 0.3 s latency target can afford ~3
    engine, queue = make_engine(slow, store, REFINING)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().lead_seconds > 1.2, timeout_s=30.0)
            store.set("seed", 7)
            assert wait_for(lambda: engine.status().refines >= 1, timeout_s=10.0)
    finally:
        engine.stop()
    records = [r for r in engine.records if r.kind == "chunk"]
    answer = next(r for r in records if r.request["seed"] == 7)
    refine = next(r for r in records if r.refine and r.index > answer.index)  # not the first chunk's refine
    assert answer.rollback and not answer.refine and answer.steps < 8
    # Same performance, more steps: the refine keeps every parameter and lands later in the stream.
    assert refine.steps == 8 and refine.request == answer.request
    assert refine.sample > answer.sample and refine.index > answer.index
    assert consumer.short_blocks == 0


class SlowStepsGenerator(Generator):
    """Each sampler step takes `seconds_per_step` longer (through the step callback), and the step count of
    the chunk being generated shows in `generating_steps` (0 between chunks)."""

    seconds_per_step = 0.06
    generating_steps = 0

    def generate_chunk(self, request: GenerationRequest, window_frames: int, **kwargs: object):  # type: ignore[override]
        callback = kwargs.get("step_callback")

        def slow_step(step: int) -> None:
            time.sleep(self.seconds_per_step)
            if callback is not None:
                callback(step)  # type: ignore[operator]

        kwargs["step_callback"] = slow_step
        self.generating_steps = request.steps
        try:
            return super().generate_chunk(request, window_frames, **kwargs)  # type: ignore[arg-type]
        finally:
            self.generating_steps = 0


def test_a_knob_moved_during_a_refine_abandons_it_and_is_answered_at_once(generator: Generator) -> None:
    slow = _clone(generator, SlowStepsGenerator)
    store = playing_store(steps=8)  # 8 x 60 ms: a refine takes ~0.5 s
    engine, queue = make_engine(slow, store, REFINING)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().lead_seconds > 1.2, timeout_s=30.0)
            # A knob move, then another while the next 8-step chunk runs; tried until that chunk was a refine
            # (it may be a regular chunk instead, and the first move may itself cut a refine short).
            abandoned_by_move = 0
            for seed in range(7, 12):
                store.set("seed", seed)
                assert wait_for(lambda: any(r.request and r.request["seed"] == seed for r in engine.records), 10.0)
                answered = len(engine.records)
                if not wait_for(lambda: slow.generating_steps == 8, 5.0):
                    continue
                time.sleep(0.1)  # two steps into it
                before = engine.status().refines_abandoned
                move = seed + 100
                moved_s = time.monotonic()
                store.set("seed", move)
                assert wait_for(lambda: any(r.request and r.request["seed"] == move
                                            for r in engine.records[answered:]), 10.0)
                answer_s = time.monotonic() - moved_s
                abandoned_by_move = engine.status().refines_abandoned - before
                if abandoned_by_move:
                    break
            status = engine.status()
    finally:
        engine.stop()
    assert status.refines_abandoned >= 1 and abandoned_by_move >= 1, \
        "a refine was running when the knob moved: it was given up"
    answer = next(r for r in engine.records if r.request and r.request["seed"] == move)
    assert answer.rollback and not answer.refine
    assert answer_s < 0.45, f"answered {answer_s:.2f} s after the move: not behind the rest of the refine"
    assert consumer.short_blocks == 0


class FailingGenerator(Generator):
    """Fault injection: chunks with index in `fail` raise, as a CUDA or model error would."""

    fail: set[int] = set()

    def generate_chunk(self, request, window_frames, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if kwargs.get("chunk_index") in self.fail:
            raise RuntimeError("injected failure")
        return super().generate_chunk(request, window_frames, **kwargs)


def test_generation_error_audio_continues_and_error_is_reported(generator: Generator) -> None:
    failing = _clone(generator, FailingGenerator)
    failing.fail = {2, 3}
    store = playing_store()
    engine, queue = make_engine(failing, store)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().errors >= 1)
            assert "injected failure" in engine.status().last_error
            assert wait_for(lambda: engine.status().chunks >= 4, timeout_s=8.0), "it recovers"
            time.sleep(0.3)
    finally:
        engine.stop()
    gaps = [r for r in engine.records if r.kind == "gap"]
    assert gaps and all("injected" in (g.error or "injected") for g in gaps)
    assert consumer.short_blocks == 0, "silence was queued: the stream never ran dry"
    audio = consumer.audio
    assert np.isfinite(audio).all()
    gap = gaps[0].sample
    assert np.abs(audio[:, gap + gaps[0].gap_samples - 2048:gap + gaps[0].gap_samples]).max() == 0.0
    assert np.abs(audio[:, gap - 30000:gap]).max() > 0.001, "the audio before the failure plays out"
    after = next(r for r in engine.records if r.kind == "chunk" and r.sample > gap)
    assert np.abs(audio[:, after.sample + 4096:after.sample + 20000]).max() > 0.001, "and sound comes back"


def test_nan_from_the_model_never_reaches_the_queue(generator: Generator) -> None:
    poisoned = debug_generator(0)
    store = playing_store()
    engine, queue = make_engine(poisoned, store)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: engine.status().chunks >= 1)
            with torch.no_grad():
                saved = poisoned.network.output.weight.clone()
                poisoned.network.output.weight.fill_(float("nan"))
            assert wait_for(lambda: engine.status().errors >= 1, timeout_s=5.0)
            assert "NaN" in engine.status().last_error
            time.sleep(0.5)
            with torch.no_grad():
                poisoned.network.output.weight.copy_(saved)
            chunks = engine.status().chunks
            assert wait_for(lambda: engine.status().chunks > chunks, timeout_s=5.0)
    finally:
        engine.stop()
    assert np.isfinite(consumer.audio).all()
    rest = np.zeros((2, queue.queued_samples), np.float32)
    queue.read_into(rest)
    assert np.isfinite(rest).all()
