"""The live instrument: parameter store -> engine thread -> dry queue -> feeder -> dry ring -> effects pump ->
output ring -> PortAudio, the pump and PortAudio in an output process (or, with no audio device or while a lost
one is away, a software clock and the pump in this process), with takes recorded and re-rendered, and a MIDI
clock's bar lines steering joins and prompt morphs.

Where the effects run, and why: the engine thread works 1-2 chunks (1-3 s) ahead of the playhead, so
effects applied there would answer a knob seconds late. The effects pump (instrument.effects_pump) applies the
pedalboard chain in 128-frame blocks right before an output ring that holds one device period plus 2.9 ms, in
the output process with its own GIL; this process's `OutputPump` feeds it dry audio 35 ms ahead (absorbing
this process's GIL stalls), publishes effect parameters to it the moment the store changes, and takes the wet
audio it returns into the take (post-effects, pre-master-gain: the master gain is the monitor level) and the
monitor tap.

Timelines: the engine's *stream* counts dry samples from the start of the session; the feeder reads it
in order. When the dry queue runs short the feeder feeds silence (a dry underrun) without advancing the
stream, so a take's frames = stream samples + logged underrun gaps. The take's automation log holds
the state at the start, every parameter change at its take frame, every engine chunk (request, seed,
chunk index, where it landed) and every underrun: enough for `rerender_take` to replay the performance.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.generate import GenerationRequest, Generator
from engine.priority import raise_current_thread_priority
from engine.realtime import (BarGrid, ChunkRecord, DryAudioQueue, EngineConfig, EngineStatus, EngineThread,
                             StreamGeometry, render_chunk_log)
from instrument.effects import EffectsChain
from instrument.effects_pump import (BLOCKS, EFFECT_PARAMETERS, FIRST_SOUND, MAX_WAKE_GAP_S, NEAR_MISSES,
                                     RETURN_DROPPED_FRAMES, RING_LOW_WATER, SHADOWED_EFFECT_CHANGES, EffectsAutomation,
                                     EffectsPump, PumpConfig)
from instrument.monitor import MonitorTap
from instrument.output import CEILING, AudioOutput, OutputDevice, choose_output_device
from instrument.output_process import OutputProcess, PreparedOutput, SharedOutputMemory, ring_frames_for
from engine.vocabulary import KEY_TONICS, N_PROMPT_SLOTS, SAMPLER_NAMES, SCALES
from instrument.parameters import CLOCK_SOURCE, PARAMETER_SPECS, ParameterSnapshot, ParameterStore, prompt_text_name
from instrument.reconnect import ReconnectSchedule, back_words, lost_words
from instrument.ringbuffer import AudioRingBuffer
from instrument.takes import AutomationEvent, TakeStatus, TakeWriter, check_room, describe_write_error
from instrument.worker import Worker

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
DEFAULT_PROMPT = "music"  # used only when every prompt slot is empty (the model needs some text)
GENERATION_GROUPS = frozenset({"generation", "prompts", "descriptors"})
DESCRIPTOR_PARAMETERS: dict[str, str] = {"loudness": "loudness_db", "brightness": "brightness_hz",
                                         "noisiness": "noisiness", "density": "density"}


# --- parameters -> request -----------------------------------------------------------------------------


def xy_corner_weights(x: float, y: float) -> tuple[float, float, float, float]:
    """Bilinear weights of the XY pad's corners: (0,0) slot 1, (1,0) slot 2, (0,1) slot 3, (1,1) slot 4."""
    x, y = min(1.0, max(0.0, x)), min(1.0, max(0.0, y))
    return ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y)


def blend_weights(values: Mapping[str, float], prompt_texts: tuple[str, ...]) -> tuple[float, ...]:
    """The four prompt-slot weights the engine uses.

    At the pad's origin (0, 0) the slot weights rule (note triggers and weight knobs set them); moving
    the pad away from the origin morphs towards the pad's corner mix: w = (1 - d) * slot weights +
    d * corner weights, d = max(x, y). So (1, 0) is prompt 2 alone, (1, 1) prompt 4, and the path
    is continuous everywhere. Empty slots get weight 0.
    """
    x, y = float(values.get("xy_x", 0.0)), float(values.get("xy_y", 0.0))
    distance = min(1.0, max(x, y, 0.0))
    slots = [float(values.get(f"prompt_{i + 1}_weight", 0.0)) for i in range(N_PROMPT_SLOTS)]
    total = sum(slots)
    slots = [w / total for w in slots] if total > 0 else slots
    corners = xy_corner_weights(x, y)
    weights = [(1 - distance) * s + distance * c for s, c in zip(slots, corners)]
    return tuple(w if prompt_texts[i].strip() else 0.0 for i, w in enumerate(weights))


def request_from_snapshot(snapshot: ParameterSnapshot) -> GenerationRequest:
    """Parameter values (real units) -> the GenerationRequest for the next chunk."""
    values = snapshot.values
    texts = snapshot.prompt_texts
    weights = blend_weights(values, texts)
    pairs = [(t, w) for t, w in zip(texts, weights) if t.strip() and w > 0]
    if not pairs:  # every weight at 0: fall back to the non-empty prompts equally, then to a neutral one
        pairs = [(t, 1.0) for t in texts if t.strip()] or [(DEFAULT_PROMPT, 1.0)]
    descriptors = {name: float(values[parameter]) for name, parameter in DESCRIPTOR_PARAMETERS.items()
                   if values.get(f"{parameter}_enabled", 0.0) >= 0.5}
    return GenerationRequest(prompts=tuple(t for t, _ in pairs), weights=tuple(w for _, w in pairs),
                             cfg_scale=float(values["cfg_scale"]), steps=int(values["steps"]),
                             sampler=SAMPLER_NAMES[int(values["sampler"])], seed=int(values["seed"]),
                             variation=float(values["variation"]), tempo_bpm=float(values["tempo_bpm"]),
                             key=KEY_TONICS[int(values["key"])], scale=SCALES[int(values["scale"])],
                             descriptors=descriptors)


def make_generation_filter(store: ParameterStore) -> Callable[[str], bool]:
    """name -> whether a change to it needs new audio from the engine (effects and gain do not)."""
    texts = {prompt_text_name(slot) for slot in range(N_PROMPT_SLOTS)}
    generation = {name for name, spec in store.specs.items() if spec.group in GENERATION_GROUPS}
    return lambda name: name in generation or name in texts


# --- the session's side of the effects pump ------------------------------------------------------------------


@dataclass
class PumpStatus:
    dry_underruns: int = 0  # blocks the engine had not delivered in time (silence played, stream paused)
    dry_underrun_frames: int = 0
    silent_frames: int = 0  # all frames fed without stream audio (before the first sound too):
    #                         dry ring frame = stream sample + silent_frames
    blocks: int = 0  # blocks the effects pump processed
    first_sound_time_s: float | None = None  # time.monotonic() when the first engine sample was played
    control_latencies_s: list[float] = field(default_factory=list)  # generation change -> its first sample played
    effect_latencies_s: list[float] = field(default_factory=list)  # effect change -> first processed sample played
    heard_changes: list[tuple[float, float]] = field(default_factory=list)  # (change time, played time)
    priority: str = ""  # what the effects pump thread was granted ("SCHED_FIFO 45", "nice -10", "unchanged")
    # After the first sound: the effects pump's longest absence between two looks at the output ring, the
    # least that ring held when it looked (near misses show here long before an underrun does).
    max_wake_gap_s: float = 0.0
    ring_low_water_frames: int | None = None
    ring_target_frames: int = 0  # the output ring fill the effects pump keeps now
    near_misses: int = 0
    # The feeder (main process): its priority, its longest absence, the least dry audio it found queued in
    # front of the effects pump, its near misses and the dry lead it keeps now (raised after near misses).
    feeder_priority: str = ""
    feeder_max_wake_gap_s: float = 0.0
    dry_low_water_frames: int | None = None
    feeder_near_misses: int = 0
    dry_lead_frames: int = 0
    return_dropped_frames: int = 0  # wet frames the take lost because the feeder fell seconds behind


class OutputPump(Worker):
    """The session's side of the effects pump (instrument.effects_pump), one thread in the main process:

    - feeds the dry queue's audio into the shared dry ring in 256-frame blocks, `dry_lead_frames` ahead of
      the effects pump (silence when the engine is late: a dry underrun, logged for the take);
    - publishes effect parameters and the master gain the moment the store changes them (a store callback,
      on the changing thread), not on its own poll;
    - reads the wet audio the pump returns into the take and the monitor tap, and logs each effect change in
      the take at the dry frame where the pump applied it;
    - turns the pump's playhead (the dry frame heard) into control latencies and the first sound.
    """

    thread_name = "cascade-feeder"

    def __init__(self, queue: DryAudioQueue, memory: SharedOutputMemory, store: ParameterStore,
                 config: PumpConfig = PumpConfig(), *, set_gain_db: Callable[[float], None] | None = None,
                 stream_started: Callable[[], bool] = lambda: True,
                 on_first_sound: Callable[[], None] | None = None, gil_busy: Callable[[], bool] = lambda: False) -> None:
        """gil_busy: whether something in this process holds the GIL for long stretches now (the engine's
        tracer): the feeder then keeps `dry_lead_busy_frames` in the dry ring instead of its usual lead."""
        super().__init__()
        self.queue = queue
        self.dry = memory.dry_ring
        self.returned = memory.return_ring
        self.shared = memory.pump
        self.store = store
        self.config = config
        self.set_gain_db = set_gain_db
        self.stream_started = stream_started
        self.on_first_sound = on_first_sound
        self.gil_busy = gil_busy
        snapshot = store.snapshot()
        self.shared.reset(snapshot.values)
        self._version = snapshot.version
        if set_gain_db is not None:
            set_gain_db(snapshot["master_gain_db"])
        self._unsubscribe = store.subscribe(self._on_change)
        # (dry ring frame, stream sample) at the start of the latest block that was all stream audio: how the
        # stream's timeline maps onto the dry ring's (one tuple store; read whole by the engine thread).
        self.stream_anchor: tuple[int, int] | None = None
        self.status = PumpStatus()  # the effects pump's fields and the leads are filled in by status_copy
        self._status_lock = threading.Lock()
        self._pending: deque[tuple[int, float]] = deque()  # (dry frame, change time) of generation changes
        self._first_sound_frame: int | None = None
        self._seen_audio = False
        self._dry_block = np.zeros((2, config.block_frames), dtype=np.float32)
        self._tap = np.zeros((4096, 2), dtype=np.float32)
        self.priority_ready = threading.Event()  # set once the feeder thread knows its priority
        self.dry_lead_frames = config.dry_lead_frames  # raised by the feeder's near misses (feeder thread)
        self._last_raise_s = -math.inf
        self._latency_count = 0
        self._applied_count = 0
        self._effect_events: deque[tuple[int, AutomationEvent]] = deque()  # (parameter sequence, event)
        self._take: TakeWriter | None = None
        self._take_start_frame = 0  # dry frame of the take's first frame
        self._take_end_frame: int | None = None  # set by detach: the tap writes up to here, then lets go
        self._take_frames = 0
        self._take_request: tuple[TakeWriter, Callable[[int], None]] | None = None
        self._take_lock = threading.Lock()
        self.monitor: MonitorTap | None = None  # the app's live view reads post-effects audio here

    # --- control ---------------------------------------------------------------------------------------------

    def stop(self) -> None:
        super().stop()
        self._unsubscribe()

    def attach_take(self, take: TakeWriter, on_attached: Callable[[int], None]) -> None:
        """Start the take at the next dry block boundary; on_attached(stream sample) runs on the feeder thread
        right before that block is fed (log the take's start state there)."""
        with self._take_lock:
            if self._thread is None:  # not feeding: nothing can race, attach at once
                self._attach(take, on_attached)
                return
            self._take_request = (take, on_attached)

    def _attach(self, take: TakeWriter, on_attached: Callable[[int], None]) -> None:
        self._take_frames = 0
        self._take_start_frame = self.dry.frames_written
        self._take_end_frame = None
        on_attached(self.queue.read_position)
        self._take = take

    def detach_take(self, wait_s: float = 0.5) -> TakeWriter | None:
        """Stop the take at the audio fed so far; waits (at most `wait_s`) until the wet audio of that much has
        come back from the pump and is in the take."""
        with self._take_lock:
            take, self._take_request = self._take, None
            if take is None:
                return None
            self._take_end_frame = self.dry.frames_written
        deadline_s = time.monotonic() + wait_s
        while (self._thread is not None and self.returned.frames_read < self._take_end_frame
               and time.monotonic() < deadline_s):
            time.sleep(0.005)
        with self._take_lock:
            self._take = None
        return take

    @property
    def take_frames(self) -> int:
        return self._take_frames

    @property
    def output_rate(self) -> int:
        return self.shared.output_rate

    def status_copy(self) -> PumpStatus:
        slots = self.shared.slots
        with self._status_lock:
            copy = PumpStatus(**{k: (list(v) if isinstance(v, list) else v) for k, v in asdict(self.status).items()})
        copy.priority = self.shared.priority
        copy.blocks = int(slots[BLOCKS])
        copy.max_wake_gap_s = float(slots[MAX_WAKE_GAP_S])
        copy.ring_low_water_frames = None if slots[RING_LOW_WATER] < 0 else int(slots[RING_LOW_WATER])
        copy.ring_target_frames = self.shared.ring_target_frames
        copy.near_misses = int(slots[NEAR_MISSES])
        copy.dry_lead_frames = self.dry_lead_frames
        copy.return_dropped_frames = int(slots[RETURN_DROPPED_FRAMES])
        return copy

    @property
    def latency_samples(self) -> int:
        """Dry samples between the feeder's read position and the speaker: both leads and a block."""
        rate = self.shared.output_rate
        return self.dry_lead_frames + round(self.shared.ring_target_frames * SAMPLE_RATE / rate) \
            + self.config.block_frames

    # --- the store's callback (any thread) ------------------------------------------------------------------------

    def _on_change(self, name: str, value: object, source: str) -> None:
        if name in EFFECT_PARAMETERS:
            sequence = self.shared.publish(name, float(value), time.monotonic())  # type: ignore[arg-type]
            if self._take is not None:
                self._effect_events.append((sequence, AutomationEvent(0, name, value, source)))
        elif name == "master_gain_db" and self.set_gain_db is not None:
            self.set_gain_db(float(value))  # type: ignore[arg-type]

    # --- the loop --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        granted = raise_current_thread_priority(self.config.feeder_realtime_priority, self.config.feeder_nice)
        with self._status_lock:
            self.status.feeder_priority = granted
        self.priority_ready.set()
        last_look_s: float | None = None
        while not self._stop.is_set():
            try:
                fill = self.dry.fill_frames
                if self.status.first_sound_time_s is not None:
                    self._note_wake(fill, last_look_s)
                    last_look_s = time.monotonic()
                lead = max(self.dry_lead_frames, self.config.dry_lead_busy_frames if self.gil_busy() else 0)
                while fill < lead and self.dry.free_frames >= self.config.block_frames:
                    self._feed_block()
                    fill += self.config.block_frames
                self._drain_returned()
                self._log_changes()
                self._check_played()
            except Exception:  # keep feeding: a broken block must not stop the audio
                logger.exception("feeder block failed")
            self._stop.wait(self.config.feeder_poll_seconds)

    def _note_wake(self, fill_frames: int, last_look_s: float | None) -> None:
        now_s = time.monotonic()
        with self._status_lock:
            status = self.status
            if last_look_s is not None and now_s - last_look_s > status.feeder_max_wake_gap_s:
                status.feeder_max_wake_gap_s = now_s - last_look_s
            if status.dry_low_water_frames is None or fill_frames < status.dry_low_water_frames:
                status.dry_low_water_frames = fill_frames
            if fill_frames < self.config.dry_near_miss_frames:
                status.feeder_near_misses += 1
                if (self.dry_lead_frames < self.config.dry_lead_max_frames
                        and now_s - self._last_raise_s >= self.config.ring_raise_cooldown_s):
                    self._last_raise_s = now_s
                    self.dry_lead_frames = min(self.config.dry_lead_max_frames,
                                               self.dry_lead_frames + self.config.dry_step_frames)

    def _feed_block(self) -> None:
        with self._take_lock:
            if self._take_request is not None:
                take, on_attached = self._take_request
                self._take_request = None
                self._attach(take, on_attached)
        dry_frame = self.dry.frames_written
        block = self._dry_block
        stream_sample = self.queue.read_position
        got, markers = self.queue.read_into(block)
        if got > 0 and not self._seen_audio:
            self._seen_audio = True
            self._first_sound_frame = dry_frame + int(np.argmax(np.any(block[:, :got] != 0, axis=0)))
        if got == block.shape[-1]:
            self.stream_anchor = (dry_frame, stream_sample)
        else:
            with self._status_lock:
                self.status.silent_frames += block.shape[-1] - got
                if self._seen_audio and self.stream_started():  # silence before the first chunk is no underrun
                    self.status.dry_underruns += 1
                    self.status.dry_underrun_frames += block.shape[-1] - got
            take = self._take
            if take is not None and self._take_end_frame is None:  # silence the stream did not have
                take.log(AutomationEvent(dry_frame + got - self._take_start_frame, "underrun",
                                         {"stream_sample": stream_sample + got, "frames": block.shape[-1] - got},
                                         "pump"))
        for position, change_s in markers:
            self._pending.append((dry_frame + max(0, position - stream_sample), change_s))
        self.dry.write(block.T)

    def _drain_returned(self) -> None:
        """The pump's wet audio -> the monitor tap and the take (the return ring's frames are dry frames)."""
        while self.returned.fill_frames > 0:
            first = self.returned.frames_read
            got = self.returned.read_into(self._tap[:min(len(self._tap), self.returned.fill_frames)])
            wet = self._tap[:got]
            if self.monitor is not None:  # a copy into a preallocated ring: never blocks
                self.monitor.write(wet.T)
            with self._take_lock:
                take = self._take
                if take is None:
                    continue
                end = first + got if self._take_end_frame is None else min(first + got, self._take_end_frame)
                start = max(first, self._take_start_frame)
                if end > start:
                    take.write(wet[start - first:end - first])
                    self._take_frames += end - start

    def _log_changes(self) -> None:
        """Log store changes in the take: effect changes at the dry frame where the pump applied them, others
        at the frame being fed now. Collect the effect latencies the pump measured."""
        self._latency_count, latencies = self.shared.latencies_since(self._latency_count)
        if latencies:
            with self._status_lock:
                for seconds in latencies:
                    _append_bounded(self.status.effect_latencies_s, seconds)
        self._applied_count, applied = self.shared.applied_since(self._applied_count)
        take = self._take
        for sequence, dry_frame in applied:
            while self._effect_events and self._effect_events[0][0] <= sequence:
                event = self._effect_events.popleft()[1]
                if take is not None:
                    take.log(AutomationEvent(max(0, dry_frame - self._take_start_frame), event.name, event.value,
                                             event.source))
        version = self.store.version
        if version == self._version:
            return
        changes = self.store.changes_since(self._version)
        self._version = version
        if take is None:
            return
        frame = self.dry.frames_written - self._take_start_frame
        for change in changes:
            if change.name not in EFFECT_PARAMETERS:
                take.log(AutomationEvent(frame, change.name, change.value, change.source))

    def _check_played(self) -> None:
        """Turn markers whose dry frame the output has played into latencies (resolution: one pump block)."""
        heard = self.shared.heard_dry_frame
        now_s = time.monotonic()
        if self._first_sound_frame is not None and heard > self._first_sound_frame:
            with self._status_lock:
                self.status.first_sound_time_s = now_s
            self.shared.slots[FIRST_SOUND] = 1.0
            self._first_sound_frame = None
            if self.on_first_sound is not None:
                self.on_first_sound()
        while self._pending and heard > self._pending[0][0]:
            _, change_s = self._pending.popleft()
            with self._status_lock:
                _append_bounded(self.status.control_latencies_s, now_s - change_s)
                _append_bounded(self.status.heard_changes, (change_s, now_s))


def _append_bounded(values: list, value: object, limit: int = 4096) -> None:
    values.append(value)
    if len(values) > limit:
        del values[:len(values) - limit // 2]


# --- a software clock in place of an audio device ----------------------------------------------------------------


class PacedSink(Worker):
    """Consumes the ring buffer at the real-time rate without a sound card ("no audio device": the
    performance still runs in real time, MIDI still steers it, takes still record). Also what the session
    falls back to while a lost output is away, so the engine and a take keep their timeline."""

    MAX_SLIP_SECONDS = 0.1
    thread_name = "cascade-paced-sink"
    join_timeout_s = 2.0

    def __init__(self, ring: AudioRingBuffer, sample_rate: int = SAMPLE_RATE, block_frames: int = 512) -> None:
        super().__init__()
        self.ring = ring
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self.max_slip_frames = int(self.MAX_SLIP_SECONDS * sample_rate)
        self.underruns = 0
        self.callbacks = 0
        self.peak = 0.0
        self.stream_lost = False
        self.started_s: float | None = None  # time.monotonic() at start
        # (time.monotonic() seconds, ring frame) heard then: this clock's ideal timeline (see AudioOutput)
        self.play_anchor: tuple[float, int] | None = None
        self._out = np.zeros((block_frames, ring.channels), dtype=np.float32)

    def set_gain_db(self, gain_db: float) -> None:  # nothing is heard: the take is recorded pre-gain anyway
        pass

    def start(self) -> None:
        self.started_s = time.monotonic()
        self.play_anchor = (self.started_s, self.ring.frames_read)
        super().start()

    @property
    def active(self) -> bool:
        return self.running

    def _run(self) -> None:
        start_s = self.started_s if self.started_s is not None else time.monotonic()
        consumed = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - start_s) * self.sample_rate)
            while consumed + self.block_frames <= due:
                # A software clock has no hardware deadline: when this thread woke late and owes several
                # blocks at once, the pump (which keeps the ring only ~17 ms full) may not have caught up
                # yet. Slip up to MAX_SLIP_SECONDS instead of reading a short block; only a longer
                # starvation is an underrun.
                if self.ring.fill_frames < self.block_frames and due - consumed < self.max_slip_frames:
                    break
                got = self.ring.read_into(self._out)
                self.callbacks += 1
                if got < self.block_frames:
                    self.underruns += 1
                self.peak = float(np.abs(self._out).max())
                consumed += self.block_frames
            self._stop.wait(self.block_frames / self.sample_rate / 2)


# --- the session ---------------------------------------------------------------------------------------------


@dataclass
class SessionStatus:
    engine: EngineStatus
    output: str  # device name, or "no audio device (software clock)", or "software clock (output lost: ...)"
    output_underruns: int
    dry_underruns: int
    nonfinite_blocks: int
    buffer_fill_seconds: float  # dry lead + ring fill
    control_latency_seconds: float | None  # the latest generation change -> heard
    effect_latency_seconds: float | None
    start_to_first_sound_seconds: float | None
    output_lost: bool  # the audio device/server went away; playing to a software clock until it is back
    recording: bool
    take_frames: int
    output_lost_reason: str | None = None
    output_losses: int = 0  # how often the output was lost this session
    pump_priority: str = ""  # the effects pump thread's scheduling priority ("SCHED_FIFO 45", "nice -10", ...)
    pump_max_wake_gap_seconds: float = 0.0  # after the first sound: the effects pump's longest absence
    ring_low_water_seconds: float | None = None  # after the first sound: the least audio the output ring held
    ring_target_seconds: float = 0.0  # the output ring lead the effects pump keeps now (raised after near misses)
    near_misses: int = 0  # effects pump wakes that found the output ring almost empty
    feeder_max_wake_gap_seconds: float = 0.0  # after the first sound: the feeder's longest absence (main process)
    dry_lead_seconds: float = 0.0  # dry audio the feeder keeps in front of the effects pump now
    feeder_near_misses: int = 0  # feeder wakes that found the dry ring almost empty
    # Output callbacks that found the output ring short and played the effects pump's shadow chain instead
    # (no silence), the frames so played, and effect changes first heard there (their latency not measured).
    shadow_callbacks: int = 0
    shadow_frames: int = 0
    shadowed_effect_changes: int = 0
    take_error: str | None = None  # the take stopped by itself (e.g. "disk full"); it is kept up to there

    def line(self) -> str:
        e = self.engine
        rtf = "-" if e.real_time_factor is None else f"{e.real_time_factor:.2f}"
        lat = "-" if self.control_latency_seconds is None else f"{self.control_latency_seconds * 1000:.0f} ms"
        return (("SOUND PAUSED (" + str(self.output_lost_reason) + "; reconnecting)  " if self.output_lost else "")
                + ("RECORDING STOPPED: " + str(self.take_error) + "  " if self.take_error else "")
                + f"rtf {rtf}  steps {e.steps_used}/{e.steps_requested}  buffer {self.buffer_fill_seconds:.2f} s  "
                f"control latency {lat}  underruns {self.output_underruns}+{self.dry_underruns}  chunks {e.chunks} "
                f"(rollbacks {e.rollbacks})  errors {e.errors}" + (f"  last error: {e.last_error}" if e.last_error else ""))


def make_quantised_filter(store: ParameterStore) -> Callable[[str], bool]:
    """name -> whether a change to it is a prompt morph (texts, weights, XY pad): under a running MIDI clock
    those land on the next bar line; every other knob keeps its rollback latency."""
    texts = {prompt_text_name(slot) for slot in range(N_PROMPT_SLOTS)}
    prompts = {name for name, spec in store.specs.items() if spec.group == "prompts"}
    return lambda name: name in prompts or name in texts


PROMPT_PARAMETERS: tuple[str, ...] = tuple(spec.name for spec in PARAMETER_SPECS if spec.group == "prompts")


def hold_prompts(current: ParameterSnapshot, held: ParameterSnapshot) -> ParameterSnapshot:
    """`current` with the prompt texts, weights and XY pad of `held` (what plays until the morph's bar line)."""
    values = dict(current.values)
    for name in PROMPT_PARAMETERS:
        if name in held.values:
            values[name] = held.values[name]
    return ParameterSnapshot(MappingProxyType(values), held.prompt_texts, current.version)


class LiveSession:
    """Wires one instrument: store -> EngineThread -> DryAudioQueue -> OutputPump (feeder) -> dry ring ->
    EffectsPump -> output ring -> output.

    output: "auto" (the best device: JACK when a server runs; none -> software clock), "none" (software
    clock), or a device index / name substring. The device is played by a child process
    (instrument.output_process) that shares the rings and runs the effects pump: losing the audio server kills
    at most that child. A watch thread notices a lost output (`status().output_lost`), switches to a software clock (the
    engine and a take keep running) and reopens the output once its server or device is back (instrument.reconnect);
    `restart_output()` reopens it at once when asked.

    midi_clock: an instrument.midi.MidiClock. While it runs, each chunk's beat offset follows its phase,
    chunk joins are planned onto its bar lines, and prompt morphs (texts, weights, XY pad) take effect at the
    next bar line (`quantise_morphs`).
    """

    def __init__(self, generator: Generator, store: ParameterStore | None = None, *,
                 engine_config: EngineConfig = EngineConfig(), pump_config: PumpConfig = PumpConfig(),
                 output: str | int | None = "auto", output_block_frames: int = 512, midi_clock: Any = None,
                 client_name: str = "Cascade", isolate_output: bool = os.name == "posix",
                 output_stall_seconds: float = 2.0, quantise_morphs: bool = True,
                 prepared_output: PreparedOutput | None = None,
                 on_output_change: Callable[[str, str], None] | None = None, auto_reconnect: bool = True) -> None:
        """prepared_output: an output process started earlier (PreparedOutput.start); adopted if it matches
        what this session asks for, else discarded. on_output_change(level, words): told when the output is
        lost ("warning") and when it comes back by itself ("info"), in a performer's words (default: logged).
        auto_reconnect: reopen a lost output when its server or device is back (instrument.reconnect)."""
        self.created_s = time.monotonic()
        self.generator = generator
        self.store = store or ParameterStore()
        self.engine_config = engine_config
        self.pump_config = pump_config
        self.midi_clock = midi_clock
        self.client_name = client_name
        self.output_block_frames = output_block_frames
        self.output_stall_seconds = output_stall_seconds
        self.queue = DryAudioQueue(int(engine_config.queue_seconds * generator.sample_rate))
        self._output_spec = output
        self._isolate_output = isolate_output
        # The rings and the effects pump's block, in memory an output process can map (used in-process too).
        adopted = None
        if prepared_output is not None:
            if isolate_output and prepared_output.matches(output, ring_frames_for(output_block_frames), pump_config):
                adopted = prepared_output.process
            else:
                prepared_output.discard()
        self._memory = prepared_output.memory if adopted is not None else SharedOutputMemory(
            ring_frames_for(output_block_frames))
        self.ring = self._memory.ring
        self._local_pump: EffectsPump | None = None  # the effects pump when no output process runs it
        self.device: OutputDevice | None = None
        self.output_error: str | None = None
        self.output_lost_reason: str | None = None
        self.output_losses = 0
        self.output_reconnects = 0  # losses the session recovered from by itself
        self.auto_reconnect = auto_reconnect
        self._reconnect = ReconnectSchedule()
        self._on_output_change = on_output_change
        self._gain_db = float(self.store.get("master_gain_db"))
        self._output_lock = threading.RLock()  # one output change (loss, restart, stop) at a time
        self._abandoned: list[Any] = []  # in-process streams lost under us: never touched again
        self._underruns_before_sound: int | None = None
        self._underruns_retired = 0  # counted by outputs that have been replaced
        self._nonfinite_retired = 0
        self._shadow_retired = (0, 0)  # (callbacks, frames) played from the shadow by outputs since replaced
        self.sink: AudioOutput | OutputProcess | PacedSink = self._open_output(output, adopted)
        quantised = make_quantised_filter(self.store) if quantise_morphs else (lambda name: False)
        self.engine = EngineThread(generator, self.store, self.queue, request_from_snapshot, config=engine_config,
                                   is_generation_change=make_generation_filter(self.store),
                                   bar_grid_for=self.bar_grid if midi_clock is not None else None,
                                   is_quantised_change=quantised, hold_quantised=hold_prompts,
                                   on_record=self._on_record, extra_latency_samples=lambda: self.pump.latency_samples,
                                   waits_for_next_chunk=lambda change: change.source == CLOCK_SOURCE)
        self.pump = OutputPump(self.queue, self._memory, self.store, pump_config, set_gain_db=self._set_gain_db,
                               stream_started=lambda: self.engine.alive, on_first_sound=self._on_first_sound,
                               gil_busy=lambda: bool(getattr(generator.network, "tracing", False)))
        self._take_lock = threading.Lock()
        self._take: TakeWriter | None = None
        self._records_logged = 0
        self._take_start_sample = 0
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None
        self.started_s: float | None = None
        self.engine_nice_fallback = 5  # engine nice value when the feeder got no higher priority

    # --- output ------------------------------------------------------------------------------------------------

    @property
    def output_rate(self) -> int:
        return int(getattr(self.sink, "sample_rate", SAMPLE_RATE))

    @property
    def output_lost(self) -> bool:
        return self.output_lost_reason is not None

    @property
    def output_name(self) -> str:
        if self.output_lost_reason is not None:
            return f"software clock (output lost: {self.output_lost_reason})"
        if self.device is not None and not isinstance(self.sink, PacedSink):
            return f"{self.device.name} ({self.device.host_api})"
        return "no audio device (software clock)" + (f": {self.output_error}" if self.output_error else "")

    def _clock(self) -> PacedSink:
        """A software clock at the rate the local effects pump delivers (so the stream keeps real time)."""
        rate = self._local_pump.output_rate if self._local_pump is not None else SAMPLE_RATE
        return PacedSink(self.ring, rate, self.output_block_frames)

    def _start_local_pump(self, output_rate: int = SAMPLE_RATE) -> None:
        """Run the effects pump in this process (no output process runs it): before a clock or an in-process
        stream starts, after any output process that ran it has gone (one pump on the rings at a time)."""
        if self._local_pump is None:
            sink = getattr(self, "sink", None)
            period = (lambda: sink.callback_frames) if isinstance(sink, AudioOutput) else None  # in-process stream
            self._local_pump = EffectsPump(self._memory.dry_ring, self.ring, self._memory.return_ring,
                                           self._memory.pump, self.pump_config, output_rate=output_rate,
                                           device_period=period)
            self._local_pump.start()

    def _stop_local_pump(self) -> None:
        if self._local_pump is not None:
            self._local_pump.stop()
            self._local_pump = None

    def _new_output_process(self, output: str | int | None) -> OutputProcess:
        return OutputProcess(self._memory, output, block_frames=self.output_block_frames,
                             stall_seconds=self.output_stall_seconds, gain=10 ** (self._gain_db / 20),
                             pump_config=self.pump_config)

    def _open_output(self, output: str | int | None,
                     prepared: OutputProcess | None = None) -> AudioOutput | OutputProcess | PacedSink:
        if output in ("none", None):
            return self._clock()
        if self._isolate_output:
            try:
                sink = prepared if prepared is not None else self._new_output_process(output)
            except Exception as error:  # noqa: BLE001 - PortAudio missing or broken: play to the clock instead
                if output != "auto":
                    self._memory.close()
                    raise
                self.output_error = f"{type(error).__name__}: {error}"
                return self._clock()
            if sink.device is None:
                sink.stop()
                return self._clock()
            self.device = sink.device
            return sink
        try:  # in-process PortAudio (platforms without the output process)
            device = choose_output_device(None if output == "auto" else output)
        except Exception as error:  # noqa: BLE001
            if output != "auto":
                raise
            self.output_error = f"{type(error).__name__}: {error}"
            device = None
        if device is None:
            return self._clock()
        self.device = device
        # JACK runs at the server's rate; elsewhere PortAudio/ALSA converts 44.1 kHz itself.
        rate = int(device.default_sample_rate) if "JACK" in device.host_api else SAMPLE_RATE
        return AudioOutput(self.ring, sample_rate=rate, device=device, block_frames=self.output_block_frames,
                           client_name=self.client_name)

    def _set_gain_db(self, gain_db: float) -> None:
        self._gain_db = float(gain_db)
        self.sink.set_gain_db(gain_db)

    def _swap_sink(self, old: Any, new: Any) -> None:
        """Make `new` the output (not started here); counters of `old` are kept in the session's totals."""
        if self._underruns_before_sound is not None:
            self._underruns_retired += old.underruns - self._underruns_before_sound
            self._underruns_before_sound = 0  # the new output counts from zero, after the first sound
        self._nonfinite_retired += getattr(old, "nonfinite_blocks", 0)
        self._shadow_retired = (self._shadow_retired[0] + getattr(old, "shadow_callbacks", 0),
                                self._shadow_retired[1] + getattr(old, "shadow_frames", 0))
        new.set_gain_db(self._gain_db)
        self.sink = new

    def _on_first_sound(self) -> None:
        # Callbacks before the first chunk arrived played silence on purpose: not underruns.
        self._underruns_before_sound = self.sink.underruns
        gc.freeze()
        release = getattr(self.generator.network, "release_tracer", None)
        if release is not None:  # a network traced in the background waits for the first sound (engine.optimise)
            release()

    @property
    def output_underruns(self) -> int:
        """Output callbacks that found the ring short since the first sound (all outputs this session)."""
        if self._underruns_before_sound is None:
            return 0
        return self._underruns_retired + self.sink.underruns - self._underruns_before_sound

    def _watch_output(self) -> None:
        """Watch thread: a lost output is replaced by a software clock within one poll (20 ms), and reopened
        once its server or device is back (instrument.reconnect: JACK is probed every 1.5 s)."""
        while not self._watch_stop.wait(0.02):
            sink = self.sink
            try:
                reason = sink.check_lost() if isinstance(sink, (OutputProcess, AudioOutput)) else None
                if reason is not None:
                    self._on_output_lost(sink, reason)
                elif (self.output_lost_reason is not None and self.auto_reconnect and self._isolate_output
                      and self._reconnect.due()):  # in-process PortAudio cannot reopen after a loss
                    self._reconnect_output()
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                logger.exception("output watch failed")

    def _tell(self, level: str, words: str) -> None:
        if self._on_output_change is not None:
            self._on_output_change(level, words)
        else:
            logger.log(logging.WARNING if level == "warning" else logging.INFO, "%s", words)

    def _reconnect_output(self) -> None:
        """The watch thread's reopening of a lost output (a failure stays on the clock; the schedule retries)."""
        lost_device = self.device
        with self._output_lock:
            if self.output_lost_reason is None or self._watch_stop.is_set():
                return  # reopened meanwhile (the performer's "Reopen"), or stopping
            if not self.restart_output():
                logger.info("audio output not back yet: %s", self.output_error)
                return
            self.output_reconnects += 1
        self._reconnect.back()
        self._tell("info", back_words(self.device or lost_device))

    def _on_output_lost(self, sink: Any, reason: str) -> None:
        with self._output_lock:
            if self.sink is not sink or self._watch_stop.is_set():
                return
            if isinstance(sink, OutputProcess):
                sink.stop(timeout_s=1.0)  # reaps the child (killed if stuck in PortAudio), and its pump with it
                self._start_local_pump()
            else:
                self._abandoned.append(sink)  # an in-process stream: any PortAudio call on it could hang
            clock = self._clock()
            self._swap_sink(sink, clock)
            clock.start()
            self.output_lost_reason = reason
            self.output_losses += 1
            self._reconnect.lost(self.device)
        self._tell("warning", lost_words(self.device, reason))

    def restart_output(self, output: str | int | None = None) -> bool:
        """Reopen the audio output (after a loss, or to pick up a server started since): a fresh output
        process scans the devices there are now. The engine never stops; while the device opens the software
        clock keeps the stream (and a take) going. Returns whether a device plays now; on failure the session
        stays on the software clock and `output_error` says why. output: as for the constructor (default: the
        constructor's)."""
        spec = self._output_spec if output is None else output
        with self._output_lock:
            if spec in ("none", None):
                return False
            if not self._isolate_output:  # in-process PortAudio cannot be re-initialised safely after a loss
                if self.output_lost_reason is not None:
                    self.output_error = "cannot reopen an in-process output after a loss"
                    return False
                self.sink.stop()
                self.sink.start()
                return True
            if isinstance(self.sink, OutputProcess):  # reopening a working output: clock while it reopens
                old = self.sink
                old.stop()
                self._start_local_pump()
                interim = self._clock()
                self._swap_sink(old, interim)
                interim.start()
            try:
                new = self._new_output_process(spec)
            except Exception as error:  # noqa: BLE001 - stays on the software clock
                self.output_error = f"{type(error).__name__}: {error}"
                logger.warning("cannot reopen the audio output: %s", self.output_error)
                return False
            if new.device is None:
                new.stop()
                self.output_error = "no audio output device"
                return False
            clock = self.sink
            clock.stop()  # the ring has one consumer at a time ...
            old_rate = self._local_pump.output_rate if self._local_pump is not None else SAMPLE_RATE
            self._stop_local_pump()  # ... and one pump: the new output process runs its own
            if new.sample_rate != old_rate:
                self.ring.clear()  # blocks made for the old rate would play at the wrong speed
            try:
                new.start()
            except Exception as error:  # noqa: BLE001
                self.output_error = f"{type(error).__name__}: {error}"
                logger.warning("cannot start the audio output: %s", self.output_error)
                self._start_local_pump()
                fallback = self._clock()
                self._swap_sink(clock, fallback)
                fallback.start()
                return False
            self._swap_sink(clock, new)
            self.device = new.device
            self.output_error = None
            self.output_lost_reason = None
            logger.info("audio output reopened: %s", self.output_name)
            return True

    # --- life cycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_s = time.monotonic()
        # The pump needs the GIL for a moment every block; the default 5 ms switch interval can keep it
        # waiting behind the engine's Python code for most of the ring's ~17 ms lead.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        # A full cyclic-GC pass walks every tracked object with the GIL held: with torch and the models
        # loaded that took ~190 ms (measured in the app), far beyond the pump's ring lead. Frozen objects
        # are never walked; the first sound freezes what the first chunk made too.
        gc.freeze()
        self.pump.start()
        self.pump.priority_ready.wait(1.0)
        if self.pump.status_copy().feeder_priority == "unchanged":
            self.engine.thread_nice = max(self.engine.thread_nice, self.engine_nice_fallback)
        self.engine.start()
        with self._output_lock:
            if not isinstance(self.sink, OutputProcess):
                self._start_local_pump(self.output_rate)
            try:
                self.sink.start()
            except Exception as error:  # noqa: BLE001 - the device refused: keep playing to the software clock
                logger.warning("cannot open %s: %s; playing to a software clock", self.output_name, error)
                self.output_error = f"{type(error).__name__}: {error}"
                self.device = None
                if isinstance(self.sink, OutputProcess):
                    self.sink.stop()
                self._stop_local_pump()  # an in-process stream's rate may not be the clock's
                self._start_local_pump()
                clock = self._clock()
                self._swap_sink(self.sink, clock)
                clock.start()
        self._watch_stop.clear()
        self._watch = threading.Thread(target=self._watch_output, name="cascade-output-watch", daemon=True)
        self._watch.start()

    def stop(self) -> None:
        self._watch_stop.set()
        if self._watch is not None:
            self._watch.join(2.0)
            self._watch = None
        self.stop_recording()
        self.engine.stop()
        settle = getattr(self.generator.network, "settle", None)
        if settle is not None and not settle():  # a trace in torch at exit would abort the process
            logger.warning("the U-Net's background trace did not finish")
        self.pump.stop()
        with self._output_lock:
            if not any(self.sink is lost for lost in self._abandoned):
                self.sink.stop()
            self._stop_local_pump()
        self._memory.close()

    def __enter__(self) -> LiveSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def first_sound_played(self) -> bool:
        """Whether the first engine sample has played (one attribute read: cheap enough to poll)."""
        return self.pump.status.first_sound_time_s is not None

    def status(self) -> SessionStatus:
        engine = self.engine.status()
        pump = self.pump.status_copy()
        take = self._take
        take_stopped = take is not None and take.status.finished  # by itself: the FLAC holds what it says
        first = None
        if pump.first_sound_time_s is not None and self.started_s is not None:
            first = pump.first_sound_time_s - self.started_s
        return SessionStatus(
            engine=engine, output=self.output_name, output_underruns=self.output_underruns,
            dry_underruns=pump.dry_underruns,
            nonfinite_blocks=self._nonfinite_retired + getattr(self.sink, "nonfinite_blocks", 0),
            buffer_fill_seconds=(self.queue.queued_samples + self._memory.dry_ring.fill_frames) / SAMPLE_RATE
            + self.ring.fill_frames / self.output_rate,
            control_latency_seconds=pump.control_latencies_s[-1] if pump.control_latencies_s else None,
            effect_latency_seconds=pump.effect_latencies_s[-1] if pump.effect_latencies_s else None,
            start_to_first_sound_seconds=first, output_lost=self.output_lost,
            recording=take is not None and not take_stopped,
            take_frames=take.status.frames_written if take_stopped else self.pump.take_frames,
            take_error=take.status.error if take is not None else None,
            output_lost_reason=self.output_lost_reason, output_losses=self.output_losses,
            pump_priority=pump.priority, pump_max_wake_gap_seconds=pump.max_wake_gap_s,
            ring_low_water_seconds=(None if pump.ring_low_water_frames is None
                                    else pump.ring_low_water_frames / self.output_rate),
            ring_target_seconds=pump.ring_target_frames / self.output_rate, near_misses=pump.near_misses,
            feeder_max_wake_gap_seconds=pump.feeder_max_wake_gap_s, dry_lead_seconds=pump.dry_lead_frames / SAMPLE_RATE,
            feeder_near_misses=pump.feeder_near_misses,
            shadow_callbacks=self._shadow_retired[0] + getattr(self.sink, "shadow_callbacks", 0),
            shadow_frames=self._shadow_retired[1] + getattr(self.sink, "shadow_frames", 0),
            shadowed_effect_changes=int(self._memory.pump.slots[SHADOWED_EFFECT_CHANGES]))

    # --- MIDI clock ---------------------------------------------------------------------------------------------

    def stream_sample_at(self, time_s: float) -> float:
        """The stream sample heard at `time_s` (time.monotonic()): the output's play anchor (an output ring frame
        and when it reaches the DAC), mapped onto the dry ring through the effects pump's (output frame, dry
        frame) anchor and onto the stream through the feeder's (dry frame, stream sample) anchor. Before the
        output has played anything: the feeder's read position minus what waits in front of the output."""
        sink_anchor = getattr(self.sink, "play_anchor", None)
        pump_anchor = self._memory.pump.anchor()
        feeder_anchor = self.pump.stream_anchor
        if sink_anchor is None or pump_anchor is None or feeder_anchor is None:
            return self.queue.read_position - self.pump.latency_samples + (time_s - time.monotonic()) * SAMPLE_RATE
        anchor_s, anchor_frame = sink_anchor
        out_frame, pump_dry_frame = pump_anchor
        dry_frame, stream_sample = feeder_anchor
        rate = self.pump.output_rate
        heard_out_frame = anchor_frame + (time_s - anchor_s) * rate
        heard_dry_frame = pump_dry_frame + (heard_out_frame - out_frame) * SAMPLE_RATE / rate
        return stream_sample + heard_dry_frame - dry_frame

    def bar_grid(self) -> BarGrid | None:
        """The MIDI clock's beats and bars on the stream's sample axis (None unless the clock runs with a
        known tempo): the engine's beat offset, bar-line joins and quantised morphs all use it."""
        clock = self.midi_clock
        anchor = clock.phase_anchor() if clock is not None else None
        if anchor is None:
            return None
        tick_time_s, tick_beats, beats_per_second = anchor
        now_s = time.monotonic()
        beats_per_sample = beats_per_second / SAMPLE_RATE
        beat_now = tick_beats + (now_s - tick_time_s) * beats_per_second
        return BarGrid(beat_now - self.stream_sample_at(now_s) * beats_per_sample, beats_per_sample,
                       int(clock.beats_per_bar))

    def _beat_offset(self, start_sample: int) -> float | None:
        """beat_offset so that the chunk's beat clock matches the MIDI clock when its first sample plays
        (the model's clock runs from stream time, so this is the external beat at stream sample 0)."""
        grid = self.bar_grid()
        return None if grid is None else grid.beat_at(0)

    # --- takes ----------------------------------------------------------------------------------------------------

    def start_recording(self, directory: Path, name: str | None = None,
                        on_stopped: Callable[[TakeStatus], None] | None = None) -> TakeWriter:
        """Record the output (post-effects, pre-master-gain) with an automation log that can be re-rendered.
        on_stopped(status): the take stopped by itself (a full disk), on the writer thread; it is finalised, the
        session plays on, and recording can start again (elsewhere). Raises OSError when the folder cannot
        hold a take (nothing started then)."""
        if self._take is not None:
            if not self._take.status.finished:
                raise RuntimeError("already recording")
            self.stop_recording()  # the previous take stopped by itself: let it go
        g = self.engine_config.geometry
        snapshot = self.store.snapshot()
        metadata = {"model_id": self.generator.model_id, "seed": int(self.store.get("seed")),
                    "prompts": [text for text in snapshot.prompt_texts if text.strip()],
                    "engine": {"window_frames": g.window_frames, "context_frames": g.context_frames,
                               "crossfade_frames": g.crossfade_frames, "hop_frames": self.generator.hop_frames}}
        take = TakeWriter(Path(directory), name=name, metadata=metadata, on_stopped=on_stopped)
        take.start()
        attached = threading.Event()

        def on_attached(stream_sample: int) -> None:  # on the feeder thread, before the take's first block
            snapshot = self.store.snapshot()
            with self._take_lock:
                self._take_start_sample = stream_sample
                take.metadata["take_start_sample"] = stream_sample
                take.log(AutomationEvent(0, "take_start", {"stream_sample": stream_sample,
                                                           "values": dict(snapshot.values),
                                                           "prompts": list(snapshot.prompt_texts),
                                                           "version": snapshot.version}, "engine"))
                self._records_logged = 0
                self._take = take
                self._log_new_records()
            attached.set()

        self.pump.attach_take(take, on_attached)
        attached.wait(2.0)
        return take

    def stop_recording(self) -> TakeStatus | None:
        with self._take_lock:
            take, self._take = self._take, None
        self.pump.detach_take()
        if take is None:
            return None
        return take.close()

    def _on_record(self, record: ChunkRecord) -> None:
        with self._take_lock:
            if self._take is not None:
                self._log_new_records()

    def _log_new_records(self) -> None:
        """Called under _take_lock: log every engine record not logged yet (exactly once, in order)."""
        take = self._take
        if take is None:
            return
        for record in self.engine.records_since(self._records_logged):
            data = record.to_json()
            take.log(AutomationEvent(record.sample - self._take_start_sample, record.kind, data, "engine"))
            self._records_logged += 1


# --- re-rendering a take -----------------------------------------------------------------------------------------


class TakeError(ValueError):
    """A take that cannot be re-rendered (missing files, not a Cascade take, no engine log)."""


@dataclass
class TakeLog:
    sidecar: dict[str, Any]
    take_start_sample: int
    start_values: dict[str, float]
    records: list[dict[str, Any]]
    parameter_events: list[dict[str, Any]]  # {"frame", "name", "value"} in take frames
    underruns: list[dict[str, Any]]  # {"frame", "stream_sample", "frames"}
    geometry: StreamGeometry
    frames: int


def read_take_log(sidecar_path: Path) -> TakeLog:
    sidecar_path = Path(sidecar_path)
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TakeError(f"{sidecar_path}: cannot read the take sidecar: {error}") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != "cascade-take":
        raise TakeError(f"{sidecar_path}: not a Cascade take sidecar")
    log_path = sidecar_path.parent / str(sidecar.get("automation", ""))
    events: list[dict[str, Any]] = []
    try:
        for number, line in enumerate(log_path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:  # a crash may cut the last line short
                    logger.warning("%s:%d: unreadable automation line skipped", log_path, number + 1)
    except OSError as error:
        raise TakeError(f"{log_path}: cannot read the automation log: {error}") from None
    start = next((e for e in events if e.get("name") == "take_start"), None)
    if start is None:
        raise TakeError(f"{log_path}: no take_start event (not recorded by `cascade play`?)")
    records = [e["value"] for e in events if e.get("name") in ("chunk", "gap") and isinstance(e.get("value"), dict)]
    if not records:
        raise TakeError(f"{log_path}: no engine chunks logged")
    engine = sidecar.get("engine", {})
    geometry = StreamGeometry(int(engine.get("window_frames", 64)), int(engine.get("context_frames", 16)),
                              int(engine.get("crossfade_frames", 4)))
    parameters = [e for e in events if e.get("name") not in ("take_start", "chunk", "gap", "underrun")]
    underruns = [{"frame": int(e["frame"]), **e["value"]} for e in events if e.get("name") == "underrun"]
    frames = int(sidecar.get("frames", 0))
    if sidecar.get("state") == "recording" or frames <= 0:  # crashed take: count what the FLAC holds
        from instrument.takes import read_take_audio

        try:
            frames = read_take_audio(sidecar_path.parent / sidecar["audio"])[0].shape[1]
        except Exception:  # noqa: BLE001
            pass
    return TakeLog(sidecar, int(start["value"]["stream_sample"]), dict(start["value"]["values"]), records,
                   parameters, underruns, geometry, frames)


def rerender_take(sidecar_path: Path, generator: Generator, output_path: Path, *, steps: int | None = 32,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Re-render a recorded take offline (same prompts, seeds, chunk layout, knob moves and effects; more
    steps) into a 24-bit file of the take's length. Returns a summary."""
    from engine.audio_file import AudioFileError, write_audio_file

    log = read_take_log(sidecar_path)
    model_id = log.sidecar.get("model_id")
    if model_id and model_id != generator.model_id:
        logger.warning("take was played with model %s, re-rendering with %s", model_id, generator.model_id)
    output_path = Path(output_path)
    try:  # before the render's minutes of work: a take that filled its disk has no room beside it
        check_room(output_path, log.frames)
    except OSError as error:
        raise TakeError(str(error)) from None
    stream_end = log.take_start_sample + log.frames
    dry_stream = render_chunk_log(generator, log.records, log.geometry, steps=steps, end_sample=stream_end,
                                  progress=progress)
    # The take's timeline: the stream from the take's start, with the logged dry underruns as silence.
    dry = np.zeros((2, log.frames), dtype=np.float32)
    take_frame, stream_sample = 0, log.take_start_sample
    for underrun in sorted(log.underruns, key=lambda u: u["frame"]) + [{"frame": log.frames, "frames": 0}]:
        until = min(int(underrun["frame"]), log.frames)
        n = max(0, until - take_frame)
        piece = dry_stream[:, stream_sample:stream_sample + n]
        dry[:, take_frame:take_frame + piece.shape[-1]] = piece
        take_frame += n
        stream_sample += n
        take_frame = min(log.frames, take_frame + int(underrun["frames"]))
    wet = apply_effects_automation(dry, log.start_values, log.parameter_events)
    try:  # atomic (a temporary file renamed into place): a disk that fills meanwhile leaves no partial file
        write_audio_file(output_path, wet, SAMPLE_RATE)
    except AudioFileError as error:
        cause = error.__cause__ if error.__cause__ is not None else error
        raise TakeError(f"cannot write {output_path}: {describe_write_error(cause, output_path)}") from None
    return {"output": str(output_path), "frames": log.frames, "seconds": log.frames / SAMPLE_RATE,
            "chunks": sum(1 for r in log.records if r.get("kind", "chunk") == "chunk"), "steps": steps,
            "model_id": generator.model_id, "take_model_id": model_id,
            "peak": float(np.abs(wet).max()) if wet.size else 0.0}


def apply_effects_automation(dry: np.ndarray, start_values: Mapping[str, float], events: list[dict[str, Any]],
                             block_frames: int = PumpConfig.block_frames) -> np.ndarray:
    """The effects pump's effects, offline: (2, n) dry -> wet, parameter events applied at their take frames (at the
    block boundary the pump would have seen them), with the same smoothing."""
    store = ParameterStore()
    values = {name: float(start_values.get(name, spec.default)) for name, spec in store.specs.items()}
    effects = EffectsChain(SAMPLE_RATE)
    automation = EffectsAutomation(store.specs, effects, values)
    pending = sorted((e for e in events if e.get("name") in automation.targets), key=lambda e: int(e["frame"]))
    out = np.zeros_like(dry)
    index = 0
    for start in range(0, dry.shape[-1], block_frames):
        while index < len(pending) and int(pending[index]["frame"]) <= start:
            automation.set(pending[index]["name"], float(pending[index]["value"]))
            index += 1
        automation.advance(block_frames / SAMPLE_RATE)
        block = np.ascontiguousarray(dry[:, start:start + block_frames])
        if block.shape[-1] < block_frames:
            padded = np.zeros((2, block_frames), dtype=np.float32)
            padded[:, :block.shape[-1]] = block
            out[:, start:] = effects.process(padded)[:, :block.shape[-1]]
        else:
            out[:, start:start + block_frames] = effects.process(block)
    np.clip(out, -CEILING, CEILING, out=out)
    return out


def status_json(status: SessionStatus) -> dict[str, Any]:
    data = asdict(status)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in data.items()}


def median_p95(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    return float(np.median(ordered)), float(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)])
