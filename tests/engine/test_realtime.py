"""The engine thread and its parts, on the tiny random debug model (CPU, one thread): crossfades, the dry
queue's splices, chunk continuation, adaptive steps, rollbacks, generation errors and NaN."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.debug_models import debug_generator
from engine.generate import GenerationRequest, Generator
from engine.realtime import (BarGrid, ChunkStitcher, DryAudioQueue, EngineConfig, EngineThread, StreamGeometry,
                             choose_steps, equal_power_crossfade, first_chunk_request, plan_join_sample,
                             render_chunk_log)
from instrument.live import make_generation_filter, request_from_snapshot
from instrument.parameters import ParameterStore
from tests.helpers import wait_for

RATE = 44100
HOP = 1024


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine has 2 cores and other work
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def generator() -> Generator:
    return debug_generator(0)


def sine(seconds: float, hz: float = 220.0, phase: float = 0.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = amplitude * np.sin(2 * np.pi * hz * t + phase)
    return np.stack([wave, wave]).astype(np.float32)


def max_jump(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio, axis=-1)).max())


def burst_ratio(audio: np.ndarray, positions: list[int], window: int = 220) -> float:
    """Click detector for noise-like audio: high-frequency energy (second difference) in the 5 ms windows
    at `positions`, over the 99th percentile of that energy in all windows."""
    hf = np.sum(np.diff(audio, n=2, axis=-1) ** 2, axis=0)
    windows = hf[:len(hf) // window * window].reshape(-1, window).sum(axis=1)
    reference = np.percentile(windows, 99)
    at = [hf[max(0, p - window):p + window].sum() / 2 for p in positions]
    return float(max(at) / reference)


# --- pure parts ---------------------------------------------------------------------------------------------


def test_crossfade_keeps_power_for_any_correlation() -> None:
    same = sine(0.1)
    # Identical material: the correlation-compensated law becomes equal gain, so the signal passes unchanged
    # (the textbook sin/cos law would swell it by 3 dB mid-fade).
    np.testing.assert_allclose(equal_power_crossfade(same, same), same, atol=1e-5)
    plain = equal_power_crossfade(same, same, compensate_correlation=False)
    assert np.abs(plain).max() > 1.35 * np.abs(same).max()
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.3, (2, 44100)).astype(np.float32)
    b = rng.normal(0, 0.3, (2, 44100)).astype(np.float32)
    mixed = equal_power_crossfade(a, b)
    rms = np.sqrt((mixed.reshape(2, 10, -1) ** 2).mean(axis=(0, 2)))
    assert np.all(np.abs(rms / 0.3 - 1) < 0.1), "uncorrelated: equal power all through the fade"


def test_splice_crossfades_phase_jumps_away() -> None:
    queue = DryAudioQueue(RATE * 4)
    queue.append(sine(1.0))
    join = RATE // 2
    other = sine(1.0, phase=np.pi / 2)[:, join:]  # a quarter-cycle jump at the join
    result = queue.splice(join, other, crossfade_samples=4096)
    assert result is not None and result.position == join and result.crossfade_samples == 4096
    out = np.zeros((2, queue.end), np.float32)
    queue.read_into(out)
    assert queue.end == RATE
    smooth = max_jump(sine(1.0))
    assert max_jump(out) <= 1.05 * smooth, "crossfaded: no step bigger than the sine's own"
    hard = np.concatenate([sine(1.0)[:, :join], other], axis=1)
    assert max_jump(hard) > 10 * smooth


def test_late_splice_lands_after_the_read_position_and_markers_follow() -> None:
    queue = DryAudioQueue(RATE * 4)
    queue.append(sine(1.0))
    queue.splice(RATE // 2, sine(0.5, phase=1.0), 4096, marker_time_s=10.0)
    block = np.zeros((2, RATE // 2 + 1000), np.float32)
    got, markers = queue.read_into(block)
    assert got == block.shape[1] and markers == [(RATE // 2, 10.0)]
    # A chunk meant for 0.25 s arrives when the consumer is already at 0.52 s: it lands at the read position.
    result = queue.splice(RATE // 4, sine(1.0, phase=2.0), 4096, marker_time_s=11.0)
    assert result is not None and result.position == queue.read_position and result.late_samples > 0
    assert queue.end == RATE // 4 + RATE
    # A rollback over a queued marker keeps the earliest change time (it is heard with the new chunk).
    queue.splice(RATE, sine(0.5), 2048, marker_time_s=12.0)
    queue.splice(RATE - 5000, sine(0.5), 2048, marker_time_s=13.0)
    rest = np.zeros((2, queue.end - queue.read_position), np.float32)
    _, markers = queue.read_into(rest)
    assert [t for _, t in markers] == [11.0, 12.0]
    assert queue.splice(0, sine(0.1), 100) is None, "entirely in the past"


def test_fade_out_and_overflow() -> None:
    queue = DryAudioQueue(RATE)
    queue.append(sine(0.5))
    queue.fade_out_from(RATE // 4)
    out = np.zeros((2, RATE // 2), np.float32)
    queue.read_into(out)
    assert np.abs(out[:, -200:]).max() < 0.01 and max_jump(out) <= 1.05 * max_jump(sine(0.5))
    with pytest.raises(OverflowError):
        queue.append(sine(1.5))


def test_choose_steps() -> None:
    assert choose_steps(8, 1.0, None, 0.0) == 8, "unknown speed: as asked"
    assert choose_steps(8, 1.0, 0.05, 0.1) == 8
    assert choose_steps(16, 0.5, 0.05, 0.1) == 8
    assert choose_steps(16, 0.01, 0.05, 0.1, min_steps=2) == 2


# --- the stitcher on the real (tiny) model ----------------------------------------------------------------


def test_chunks_continue_and_joins_are_click_free(generator: Generator) -> None:
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    queue = DryAudioQueue(RATE * 20)
    request = GenerationRequest(prompts=("warm pad",), steps=3)
    joins = []
    for _ in range(6):
        chunk = stitcher.generate(request)
        if chunk.crossfade_samples:
            # The pinned context lands exactly on the stream's frames: continuation, not a fresh start.
            offset = chunk.window_start_frame - stitcher.history_start
            torch.testing.assert_close(chunk.latent[:, :geometry.pin_frames],
                                       stitcher.history[:, offset:offset + geometry.pin_frames])
            joins.append(chunk.start_sample)
        queue.splice(chunk.start_sample, chunk.audio, chunk.crossfade_samples)
        stitcher.commit(chunk)
    out = np.zeros((2, queue.end), np.float32)
    queue.read_into(out)
    assert queue.end == (5 * geometry.new_frames + geometry.window_frames) * HOP
    assert np.isfinite(out).all() and 0.001 < np.abs(out).max() < 1.0
    ends = [j + geometry.crossfade_frames * HOP for j in joins]
    assert burst_ratio(out, joins + ends) < 1.5, "no high-frequency burst where chunks meet"
    assert np.abs(out[:, :4]).max() < 0.01, "a fresh stream fades in"


def test_chunks_decode_as_one_uninterrupted_stream(generator: Generator) -> None:
    # The decoder integrates its phase along the stream; each chunk resumes from the stream's stored phase
    # state, so after three chunks every chunk's audio is what one decode of the whole latent stream gives
    # (with fresh phases at each chunk, the partials would jump in phase at every join).
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    request = GenerationRequest(prompts=("warm pad",), steps=2)
    chunks = []
    for _ in range(3):
        chunks.append(stitcher.generate(request))
        stitcher.commit(chunks[-1])
    assert stitcher.history_start == 0
    whole = generator.decode(stitcher.history)
    ends = [chunks[2].start_sample - 1024, None]  # the next chunk replaced the frames from its splice on (an
    for chunk, end in zip(chunks[1:], ends):      # overlap-add window, 1024 samples, reaches back before it)
        kept = chunk.audio[:, :None if end is None else end - chunk.start_sample]
        np.testing.assert_allclose(kept, whole[:, chunk.start_sample:chunk.start_sample + kept.shape[1]], atol=1e-5)
    stitcher.phase_states.clear()  # what a chunk without the stream's phase state would give
    last = stitcher.generate(request)
    stitcher.commit(last)
    whole = generator.decode(stitcher.history)
    assert np.abs(last.audio - whole[:, last.start_sample:last.start_sample + last.audio.shape[1]]).max() > 1e-2


def test_rollback_splice_regenerates_from_an_earlier_frame(generator: Generator) -> None:
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    request = GenerationRequest(prompts=("warm pad",), steps=2)
    for _ in range(3):
        stitcher.commit(stitcher.generate(request))
    end = stitcher.end_frame
    frame = stitcher.earliest_splice_frame() + 10
    chunk = stitcher.generate(GenerationRequest(prompts=("noisy drums",), steps=2, cfg_scale=7.0), splice_frame=frame)
    assert chunk.crossfade_frame == frame and chunk.start_sample == frame * HOP
    assert chunk.audio.shape[-1] == (frame - geometry.pin_frames + geometry.window_frames - frame) * HOP
    stitcher.commit(chunk)
    assert stitcher.end_frame == frame - geometry.pin_frames + geometry.window_frames < end
    with pytest.raises(ValueError):
        stitcher.generate(request, splice_frame=stitcher.end_frame)


# --- the engine thread ----------------------------------------------------------------------------------------


class Consumer:
    """Reads the dry queue at the real-time rate, like the output pump (no effects), and keeps the audio."""

    def __init__(self, queue: DryAudioQueue, block: int = 512) -> None:
        self.queue = queue
        self.block = block
        self.parts: list[np.ndarray] = []
        self.short_blocks = 0
        self.markers: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Consumer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start_s, consumed, seen = time.monotonic(), 0, False
        out = np.zeros((2, self.block), np.float32)
        while not self._stop.is_set():
            while consumed + self.block <= (time.monotonic() - start_s) * RATE:
                got, markers = self.queue.read_into(out)
                seen = seen or got > 0
                self.short_blocks += int(seen and got < self.block)
                self.markers += markers
                self.parts.append(out[:, :got].copy())
                consumed += self.block
            time.sleep(0.002)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts, axis=1) if self.parts else np.zeros((2, 0), np.float32)


def make_engine(generator: Generator, store: ParameterStore, config: EngineConfig | None = None,
                **kwargs: object) -> tuple[EngineThread, DryAudioQueue]:
    queue = DryAudioQueue(RATE * 20)
    engine = EngineThread(generator, store, queue, request_from_snapshot,
                          config=config or EngineConfig(geometry=StreamGeometry(32, 12, 4)),
                          is_generation_change=make_generation_filter(store), **kwargs)
    return engine, queue


def playing_store(steps: int = 3) -> ParameterStore:
    store = ParameterStore()
    store.set_prompt_text(0, "warm pad")
    store.set("steps", steps)
    return store




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


class SlowGenerator(Generator):
    """The debug model made as slow per step as a big one (sleep per step), to exercise adaptive steps."""

    seconds_per_step = 0.04

    def generate_chunk(self, request, window_frames, **kwargs):  # noqa: ANN001, ANN003, ANN201
        time.sleep(self.seconds_per_step * request.steps)
        return super().generate_chunk(request, window_frames, **kwargs)


def _clone(generator: Generator, cls: type[Generator]) -> Generator:
    return cls(generator.autoencoder, generator.network, generator.prompt_encoder, model_id=generator.model_id)


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


def test_first_chunk_request_caps_the_steps_only() -> None:
    request = GenerationRequest(prompts=("warm pad",), steps=12, seed=3)
    assert first_chunk_request(request, EngineConfig(first_chunk_steps=4)) == replace(request, steps=4)
    assert first_chunk_request(replace(request, steps=2), EngineConfig(first_chunk_steps=4)).steps == 2
    assert first_chunk_request(request, EngineConfig(first_chunk_steps=None)) is request


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


# --- an external clock: bar-line joins and quantised morphs ---------------------------------------------------


def test_bar_grid_and_join_planning() -> None:
    grid = BarGrid(beat_at_zero=0.0, beats_per_sample=2.0 / RATE, beats_per_bar=4)  # 120 BPM: bars every 2 s
    bar = 2 * RATE
    assert grid.sample_at(grid.beat_at(12345.0)) == pytest.approx(12345.0)
    assert grid.bar_samples(0.5, 3 * bar) == pytest.approx([bar, 2 * bar, 3 * bar])
    assert grid.next_bar_sample(bar) == pytest.approx(bar) and grid.next_bar_sample(bar + 1) == pytest.approx(2 * bar)
    reach = 48 * HOP
    # A bar line within reach: the join's crossfade ends exactly on it (not on a frame boundary).
    assert plan_join_sample(bar - 20000, bar - 20000 + reach, grid, min_new_samples=4 * HOP) == bar
    # None within reach: the way to the next bar line in the fewest equal shares (88200 / 5 chunks of <= 20 frames).
    assert plan_join_sample(0, 20 * HOP, grid, min_new_samples=4 * HOP) == bar // 5
    # Short bars (two within reach): the farthest.
    fast = BarGrid(0.0, 8.0 / RATE, 4)  # 480 BPM: bars every 0.5 s
    assert plan_join_sample(1000, 1000 + reach, fast, min_new_samples=4 * HOP) == RATE
    # A morph's target wins, however close; a bar line a few samples after the start counts as met.
    assert plan_join_sample(bar - 20000, bar - 20000 + reach, grid, min_new_samples=4 * HOP, target=bar - 19000) \
        == bar - 19000
    # (then halfway to the bar line after: two chunks reach it)
    assert plan_join_sample(bar - 100, bar - 100 + reach, grid, min_new_samples=4 * HOP, bar_slack_samples=512) \
        == bar - 100 + (bar + 100) // 2
    # Already at the end of reach: the normal join.
    assert plan_join_sample(bar - reach, bar, grid, min_new_samples=4 * HOP) == bar


def morph_engine(generator: Generator) -> tuple[ParameterStore, BarGrid, EngineConfig, EngineThread, DryAudioQueue]:
    """An engine on a fixed external grid (150 BPM, bars 1.6 s apart, not frame-aligned) that holds prompt
    morphs to bar lines, with "warm pad" playing and "bright bells" in slot 2."""
    from instrument.live import hold_prompts, make_quantised_filter

    store = playing_store()
    store.set_prompt_text(1, "bright bells")
    grid = BarGrid(beat_at_zero=-0.37, beats_per_sample=2.5 / RATE, beats_per_bar=4)
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4))
    engine, queue = make_engine(generator, store, config, bar_grid_for=lambda: grid,
                                is_quantised_change=make_quantised_filter(store), hold_quantised=hold_prompts)
    return store, grid, config, engine, queue


def test_bar_line_joins_and_a_held_morph_replay_exactly(generator: Generator) -> None:
    """A fixed external grid (bars not on frame boundaries): the joins' crossfades end on the bar lines, a
    prompt morph waits for the next reachable bar line while a CFG change does not, and the chunk log (with
    its in-frame splice offsets) still re-renders the live stream exactly."""
    store, grid, config, engine, queue = morph_engine(generator)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: queue.read_position > 2.0 * RATE, 10.0)
            store.set("xy_x", 1.0)  # to prompt 2: a morph, held to a bar line
            assert wait_for(lambda: engine.status().morphs == 1, 10.0)
            store.set("cfg_scale", 8.0)  # not a prompt: answered by a rollback, not held
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 8.0 for r in engine.records), 5.0)
            time.sleep(1.0)
    finally:
        engine.stop()
    live = consumer.audio
    bars = [round(b) for b in grid.bar_samples(1, queue.end)]
    regular = [r for r in engine.records if r.kind == "chunk" and not r.fresh and not r.rollback]
    ends = {r.crossfade_frame * HOP + r.splice_offset + 4 * HOP for r in regular}
    assert {b for b in bars if 32 * HOP < b < max(ends)} <= ends, "each bar line after the first chunk: a join"
    assert any(e % HOP for e in ends), "joins land inside frames (the bar lines are not frame-aligned)"
    morph = next(r for r in engine.records if r.morph)
    assert morph.crossfade_frame * HOP + morph.splice_offset + 4 * HOP in bars
    assert morph.request["prompts"] == ["bright bells"]
    assert all(r.request["prompts"] == ["warm pad"] for r in engine.records[:engine.records.index(morph)]
               if r.kind == "chunk")
    cfg = next(r for r in engine.records if r.request and r.request["cfg_scale"] == 8.0)
    assert cfg.rollback and not cfg.morph
    replay = render_chunk_log(generator, [r.to_json() for r in engine.records], config.geometry,
                              end_sample=live.shape[1])
    np.testing.assert_allclose(replay, live, atol=1e-6)


def test_a_rollback_before_a_landed_morph_does_not_bring_the_morph_forward(generator: Generator) -> None:
    """A morph lands in audio the playhead has not reached; a CFG change right then rolls back to just ahead of
    the playhead, before the bar line: that chunk keeps the old prompt and the morph lands on its bar line anew,
    so the new prompt is never heard before the bar line (it was, when the rollback used the morphed snapshot)."""
    store, grid, config, engine, queue = morph_engine(generator)
    engine.start()
    try:
        with Consumer(queue):
            assert wait_for(lambda: queue.read_position > 2.0 * RATE, 10.0)
            store.set("xy_x", 1.0)  # to prompt 2: a morph, held to a bar line
            assert wait_for(lambda: engine.status().morphs == 1, 10.0)
            first = next(r for r in engine.records if r.morph)
            landing = first.crossfade_frame * HOP + first.splice_offset + 4 * HOP
            ahead_s = (landing - queue.read_position) / RATE
            store.set("cfg_scale", 8.0)  # answered by a rollback a guard ahead of the playhead
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 8.0 for r in engine.records), 5.0)
            time.sleep(1.0)
    finally:
        engine.stop()
    assert ahead_s > 0.1, f"the morph had to be ahead of the playhead when the knob moved ({ahead_s:.2f} s)"
    cfg = next(r for r in engine.records if r.request and r.request["cfg_scale"] == 8.0)
    assert cfg.rollback and cfg.crossfade_frame * HOP + cfg.splice_offset + 4 * HOP < landing, "it rolled back before the bar"
    assert cfg.request["prompts"] == ["warm pad"], "audio before the bar line keeps the old prompt"
    # The stream as finally spliced: the old prompt up to the bar line, the new one from it, the join on it.
    joins: list[tuple[int, list[str]]] = []
    for record in (r for r in engine.records if r.kind == "chunk" and not r.fresh):
        start = record.crossfade_frame * HOP + record.splice_offset
        joins = [j for j in joins if j[0] < start + 4 * HOP] + [(start + 4 * HOP, record.request["prompts"])]
    for end, prompts in joins:
        assert (prompts == ["bright bells"]) == (end >= landing), (end, landing, prompts)
    assert landing in {end for end, prompts in joins if prompts == ["bright bells"]}, "the morph is on its bar line"


def test_a_clocks_tempo_rides_the_next_chunk_while_a_players_tempo_rolls_back(generator: Generator) -> None:
    """A MIDI clock re-estimates its tempo from jittery ticks: those writes must not roll back (they pulled joins
    off bar lines, several rollbacks a second); the next chunk takes the tempo. A player's tempo knob still rolls
    back at once."""
    from instrument.parameters import CLOCK_SOURCE

    store = playing_store()
    store.set("tempo_bpm", 150.0)
    engine, queue = make_engine(generator, store, waits_for_next_chunk=lambda change: change.source == CLOCK_SOURCE)
    engine.start()
    try:
        with Consumer(queue):
            assert wait_for(lambda: queue.read_position > 1.0 * RATE, 10.0)
            clock_from = len(engine.records)
            for bpm in (150.6, 151.3, 150.4, 151.9):  # a wobbling estimate, 0.2 s apart
                store.set("tempo_bpm", bpm, source=CLOCK_SOURCE)
                time.sleep(0.2)
            assert wait_for(lambda: any(r.request and r.request["tempo_bpm"] == 151.9
                                        for r in engine.records[clock_from:]), 5.0)
            clock_records = list(engine.records[clock_from:])
            knob_from = len(engine.records)
            store.set("tempo_bpm", 120.0, source="midi")
            assert wait_for(lambda: any(r.request and r.request["tempo_bpm"] == 120.0
                                        for r in engine.records[knob_from:]), 5.0)
            knob = next(r for r in engine.records[knob_from:] if r.request and r.request["tempo_bpm"] == 120.0)
    finally:
        engine.stop()
    assert not any(r.rollback and not r.refine for r in clock_records), [(r.index, r.rollback, r.refine) for r in clock_records]
    assert knob.rollback
