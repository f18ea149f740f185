"""The live instrument: parameter store -> engine thread -> dry queue -> output pump (effects) -> ring buffer
-> PortAudio in an output process (or a software clock when there is no audio device, or while a lost one is
away), with takes recorded and re-rendered, and a MIDI clock's bar lines steering joins and prompt morphs.

Where the effects run, and why: the engine thread works 1-2 chunks (1-3 s) ahead of the playhead, so
effects applied there would answer a knob seconds late. The `OutputPump` thread reads the engine's dry
audio in small blocks (256 frames, 5.8 ms), applies the pedalboard chain with the current effect
parameters, and keeps the ring buffer in front of the audio callback only `ring_target_frames` full
(768 frames, 17 ms at 44.1 kHz; raised in steps up to 46 ms after near misses on a busy machine): an
effect knob is heard within about one pump poll plus that fill.
The same pump feeds the take writer (post-effects, pre-master-gain: the master gain is the monitor level).

Timelines: the engine's *stream* counts dry samples from the start of the session; the pump reads it
in order. When the dry queue runs short the pump plays silence (a dry underrun) without advancing the
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
from instrument.monitor import MonitorTap
from instrument.output import CEILING, AudioOutput, OutputDevice, choose_output_device
from instrument.output_process import OutputProcess, SharedOutputMemory
from instrument.parameters import (DELAY_BEATS, KEY_TONICS, N_PROMPT_SLOTS, PARAMETER_SPECS, SAMPLERS, SCALES,
                                   ParameterSnapshot, ParameterStore, prompt_text_name)
from instrument.ringbuffer import AudioRingBuffer
from instrument.takes import AutomationEvent, TakeStatus, TakeWriter

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
DEFAULT_PROMPT = "music"  # used only when every prompt slot is empty (the model needs some text)
GENERATION_GROUPS = frozenset({"generation", "prompts", "descriptors"})
EFFECT_PARAMETERS: tuple[str, ...] = ("fx_reverb_mix", "fx_reverb_room", "fx_delay_mix", "fx_delay_beats",
                                      "fx_delay_feedback", "fx_chorus_mix", "fx_filter_cutoff_hz",
                                      "fx_compressor_threshold_db", "fx_limiter_enabled", "tempo_bpm")
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
                             sampler=SAMPLERS[int(values["sampler"])], seed=int(values["seed"]),
                             variation=float(values["variation"]), tempo_bpm=float(values["tempo_bpm"]),
                             key=KEY_TONICS[int(values["key"])], scale=SCALES[int(values["scale"])],
                             descriptors=descriptors)


def make_generation_filter(store: ParameterStore) -> Callable[[str], bool]:
    """name -> whether a change to it needs new audio from the engine (effects and gain do not)."""
    texts = {prompt_text_name(slot) for slot in range(N_PROMPT_SLOTS)}
    generation = {name for name, spec in store.specs.items() if spec.group in GENERATION_GROUPS}
    return lambda name: name in generation or name in texts


# --- effects automation (shared by the pump and the offline re-render) ----------------------------------------


class EffectsAutomation:
    """Effect parameter targets -> the EffectsChain, with the store's smoothing applied per block (a
    one-pole glide with the spec's smoothing_seconds, so a 7-bit MIDI step does not zipper)."""

    def __init__(self, store_specs: Mapping[str, Any], effects: EffectsChain, values: Mapping[str, float]) -> None:
        self.specs = store_specs
        self.effects = effects
        self.targets = {name: float(values[name]) for name in EFFECT_PARAMETERS}
        self.current = dict(self.targets)
        self._dirty = True

    def set(self, name: str, value: float) -> None:
        if name in self.targets:
            self.targets[name] = float(value)
            smoothing = self.specs[name].smoothing_seconds
            if smoothing <= 0:
                self.current[name] = float(value)
            self._dirty = True

    def advance(self, block_seconds: float) -> None:
        """Move smoothed values one block towards their targets and update the plugins if anything moved."""
        if not self._dirty:
            return
        moving = False
        for name, target in self.targets.items():
            current = self.current[name]
            if current == target:
                continue
            smoothing = self.specs[name].smoothing_seconds
            step = 1.0 if smoothing <= 0 else min(1.0, block_seconds / smoothing)
            value = current + (target - current) * step
            if abs(target - value) <= 1e-4 * max(1.0, abs(target)):
                value = target
            self.current[name] = value
            moving = moving or value != target
        label = DELAY_BEATS[int(round(self.current["fx_delay_beats"]))]
        self.effects.update(self.current, label)
        self._dirty = moving


# --- the output pump ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PumpConfig:
    block_frames: int = 256  # effects block: 5.8 ms
    ring_target_frames: int = 768  # what the pump keeps in the ring in front of the callback (17.4 ms) ...
    # ... at first: a near miss (the pump found less than `near_miss_frames` left: it came back late, the
    # machine is busy) raises the target by `ring_step_frames`, at most once per `ring_raise_cooldown_s`,
    # up to `ring_target_max_frames` (46 ms). Effect latency grows with it; it never shrinks back within a
    # session, so the latency a player gets used to stays put. Why: the pump shares the GIL with the
    # engine, and on a loaded 2-core machine a descheduled GIL holder can keep it away 10-60 ms.
    ring_target_max_frames: int = 2048
    ring_step_frames: int = 256
    near_miss_frames: int = 128
    ring_raise_cooldown_s: float = 1.0
    poll_seconds: float = 0.001
    realtime_priority: int = 40  # the pump thread asks for SCHED_FIFO at this priority (0: do not ask) ...
    nice: int = -10  # ... else for this nice value; granted neither, the engine thread lowers its own priority


@dataclass
class PumpStatus:
    dry_underruns: int = 0  # blocks the engine had not delivered in time (silence played, stream paused)
    dry_underrun_frames: int = 0
    silent_frames: int = 0  # all frames written to the ring without stream audio (before the first sound too):
    #                         ring frame = stream sample + silent_frames, while nothing is resampled
    blocks: int = 0
    first_sound_time_s: float | None = None  # time.monotonic() when the first engine sample was played
    control_latencies_s: list[float] = field(default_factory=list)  # generation change -> its first sample played
    effect_latencies_s: list[float] = field(default_factory=list)  # effect change -> first processed sample played
    heard_changes: list[tuple[float, float]] = field(default_factory=list)  # (change time, played time)
    priority: str = ""  # what the pump thread was granted ("SCHED_FIFO 40", "nice -10", "unchanged")
    # After the first sound: the longest the pump was away between two looks at the ring, and the least the
    # ring held when it looked (near misses show here long before an underrun does).
    max_wake_gap_s: float = 0.0
    ring_low_water_frames: int | None = None
    ring_target_frames: int = 0  # the ring fill the pump keeps now (filled in by status_copy from the pump)
    near_misses: int = 0


class OutputPump:
    """Dry queue -> effects (small blocks) -> ring buffer (+ take). Owns the EffectsChain. One thread."""

    def __init__(self, queue: DryAudioQueue, ring: AudioRingBuffer, store: ParameterStore,
                 config: PumpConfig = PumpConfig(), *, set_gain_db: Callable[[float], None] | None = None,
                 output_rate: int = SAMPLE_RATE, stream_started: Callable[[], bool] = lambda: True,
                 on_first_sound: Callable[[], None] | None = None) -> None:
        self.queue = queue
        self.ring = ring
        self.store = store
        self.config = config
        self.set_gain_db = set_gain_db
        self.output_rate = output_rate
        self.stream_started = stream_started
        self.on_first_sound = on_first_sound
        snapshot = store.snapshot()
        self.effects = EffectsChain(SAMPLE_RATE)
        self.automation = EffectsAutomation(store.specs, self.effects, snapshot.values)
        self._version = snapshot.version
        if set_gain_db is not None:
            set_gain_db(snapshot["master_gain_db"])
        self._resampler: Any = None
        self._pending_output_rate: int | None = None
        self._set_resampler(output_rate)
        # (ring frame, stream sample) at the start of the latest block that was all stream audio: how the
        # stream's timeline maps onto the ring's (one tuple store; read whole by the engine thread).
        self.stream_anchor: tuple[int, int] | None = None
        self.status = PumpStatus()
        self._status_lock = threading.Lock()
        self._pending: deque[tuple[int, float, str]] = deque()  # (ring frame index, change time, kind)
        self._first_sound_index: int | None = None
        self._seen_audio = False
        self._dry = np.zeros((2, config.block_frames), dtype=np.float32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.priority_ready = threading.Event()  # set once the pump thread knows its priority
        self.ring_target_frames = config.ring_target_frames  # raised by near misses (pump thread writes)
        self._last_raise_s = -math.inf
        self._take: TakeWriter | None = None
        self._take_frames = 0
        self._take_request: tuple[TakeWriter, Callable[[int], None]] | None = None
        self._take_lock = threading.Lock()
        self.monitor: MonitorTap | None = None  # the app's live view reads post-effects audio here

    def _set_resampler(self, output_rate: int) -> None:
        self.output_rate = output_rate
        self._resampler = None
        if output_rate != SAMPLE_RATE:
            from pedalboard.io import StreamResampler

            self._resampler = StreamResampler(SAMPLE_RATE, output_rate, 2)

    # --- control ---------------------------------------------------------------------------------------------

    def set_output_rate(self, output_rate: int) -> None:
        """A new output device at another rate: resample to it from the next block on (pump thread)."""
        if int(output_rate) != self.output_rate:
            self._pending_output_rate = int(output_rate)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cascade-pump", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def attach_take(self, take: TakeWriter, on_attached: Callable[[int], None]) -> None:
        """Start feeding `take` at the next block boundary; on_attached(stream sample) runs on the pump
        thread right before the first block is written (log the take's start state there)."""
        with self._take_lock:
            if self._thread is None:  # not pumping: nothing can race, attach at once
                self._take_frames = 0
                on_attached(self.queue.read_position)
                self._take = take
                return
            self._take_request = (take, on_attached)

    def detach_take(self) -> TakeWriter | None:
        with self._take_lock:
            take, self._take, self._take_request = self._take, None, None
        return take

    @property
    def take_frames(self) -> int:
        return self._take_frames

    def status_copy(self) -> PumpStatus:
        with self._status_lock:
            copy = PumpStatus(**{k: (list(v) if isinstance(v, list) else v) for k, v in asdict(self.status).items()})
        copy.ring_target_frames = self.ring_target_frames
        return copy

    @property
    def latency_samples(self) -> int:
        """Dry samples between the pump's read position and the speaker: the ring's target fill."""
        return self.ring_target_frames + self.config.block_frames

    # --- the loop --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        granted = raise_current_thread_priority(self.config.realtime_priority, self.config.nice)
        with self._status_lock:
            self.status.priority = granted
        self.priority_ready.set()
        last_look_s: float | None = None
        while not self._stop.is_set():
            try:
                fill = self.ring.fill_frames
                if self.status.first_sound_time_s is not None:
                    self._note_wake(fill, last_look_s)
                    last_look_s = time.monotonic()
                if fill < self.ring_target_frames and self.ring.free_frames >= 2 * self.config.block_frames:
                    self._pump_block()
                    continue
                self._check_played()
            except Exception:  # keep pumping: a broken block must not stop the audio
                logger.exception("output pump block failed")
            self._stop.wait(self.config.poll_seconds)

    def _note_wake(self, fill_frames: int, last_look_s: float | None) -> None:
        now_s = time.monotonic()
        with self._status_lock:
            status = self.status
            if last_look_s is not None and now_s - last_look_s > status.max_wake_gap_s:
                status.max_wake_gap_s = now_s - last_look_s
            if status.ring_low_water_frames is None or fill_frames < status.ring_low_water_frames:
                status.ring_low_water_frames = fill_frames
            if fill_frames < self.config.near_miss_frames:
                status.near_misses += 1
                if (self.ring_target_frames < self.config.ring_target_max_frames
                        and now_s - self._last_raise_s >= self.config.ring_raise_cooldown_s):
                    self._last_raise_s = now_s
                    self.ring_target_frames = min(self.config.ring_target_max_frames,
                                                  self.ring_target_frames + self.config.ring_step_frames)

    def _apply_changes(self, block_index: int) -> None:
        version = self.store.version
        if version == self._version:
            return
        changes = self.store.changes_since(self._version)
        self._version = version
        take = self._take
        for change in changes:
            if change.name in self.automation.targets:
                self.automation.set(change.name, float(change.value))
                if change.name != "tempo_bpm":
                    self._pending.append((block_index, change.time_monotonic_s, "effect"))
            elif change.name == "master_gain_db" and self.set_gain_db is not None:
                self.set_gain_db(float(change.value))
            if take is not None:
                take.log(AutomationEvent(self._take_frames, change.name, change.value, change.source))

    def _pump_block(self) -> None:
        with self._take_lock:
            if self._take_request is not None:
                take, on_attached = self._take_request
                self._take_request = None
                self._take_frames = 0
                on_attached(self.queue.read_position)
                self._take = take
        if self._pending_output_rate is not None:
            rate, self._pending_output_rate = self._pending_output_rate, None
            self._set_resampler(rate)
            self.stream_anchor = None
        ring_index = self.ring.frames_written
        self._apply_changes(ring_index)
        block_seconds = self.config.block_frames / SAMPLE_RATE
        self.automation.advance(block_seconds)
        dry = self._dry
        stream_sample = self.queue.read_position
        got, markers = self.queue.read_into(dry)
        if got > 0 and not self._seen_audio:
            self._seen_audio = True
            self._first_sound_index = ring_index + int(np.argmax(np.any(dry[:, :got] != 0, axis=0)))
        if got == dry.shape[-1]:
            self.stream_anchor = (ring_index, stream_sample)
        else:
            with self._status_lock:
                self.status.silent_frames += dry.shape[-1] - got
                if self._seen_audio and self.stream_started():  # silence before the first chunk is no underrun
                    self.status.dry_underruns += 1
                    self.status.dry_underrun_frames += dry.shape[-1] - got
            if self._take is not None:  # the take's timeline got silence the stream did not have
                self._take.log(AutomationEvent(self._take_frames + got, "underrun",
                                               {"stream_sample": stream_sample + got, "frames": dry.shape[-1] - got},
                                               "pump"))
        for position, change_s in markers:
            self._pending.append((ring_index + max(0, position - stream_sample), change_s, "control"))
        wet = self.effects.process(dry)
        np.clip(wet, -CEILING, CEILING, out=wet)
        if self.monitor is not None:  # a copy into a preallocated ring: never blocks the pump
            self.monitor.write(wet)
        if self._take is not None:
            self._take.write(wet.T)
            self._take_frames += wet.shape[-1]
        out = wet if self._resampler is None else self._resampler.process(wet)
        if out.shape[-1]:
            self.ring.write(np.ascontiguousarray(out.T))
        with self._status_lock:
            self.status.blocks += 1
        self._check_played()

    def _check_played(self) -> None:
        """Turn markers whose sample the consumer has taken into latencies (resolution: one poll)."""
        played = self.ring.frames_read
        now_s = time.monotonic()
        if self._first_sound_index is not None and played > self._first_sound_index:
            with self._status_lock:
                self.status.first_sound_time_s = now_s
            self._first_sound_index = None
            if self.on_first_sound is not None:
                self.on_first_sound()
        while self._pending and played > self._pending[0][0]:
            _, change_s, kind = self._pending.popleft()
            with self._status_lock:
                if kind == "effect":
                    _append_bounded(self.status.effect_latencies_s, now_s - change_s)
                else:
                    _append_bounded(self.status.control_latencies_s, now_s - change_s)
                    _append_bounded(self.status.heard_changes, (change_s, now_s))


def _append_bounded(values: list, value: object, limit: int = 4096) -> None:
    values.append(value)
    if len(values) > limit:
        del values[:len(values) - limit // 2]


# --- a software clock in place of an audio device ----------------------------------------------------------------


class PacedSink:
    """Consumes the ring buffer at the real-time rate without a sound card ("no audio device": the
    performance still runs in real time, MIDI still steers it, takes still record). Also what the session
    falls back to while a lost output is away, so the engine and a take keep their timeline."""

    MAX_SLIP_SECONDS = 0.1

    def __init__(self, ring: AudioRingBuffer, sample_rate: int = SAMPLE_RATE, block_frames: int = 512) -> None:
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_gain_db(self, gain_db: float) -> None:  # nothing is heard: the take is recorded pre-gain anyway
        pass

    def start(self) -> None:
        self._stop.clear()
        self.started_s = time.monotonic()
        self.play_anchor = (self.started_s, self.ring.frames_read)
        self._thread = threading.Thread(target=self._run, name="cascade-paced-sink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
    output_lost: bool  # the audio device/server went away; playing to a software clock until restart_output()
    recording: bool
    take_frames: int
    output_lost_reason: str | None = None
    output_losses: int = 0  # how often the output was lost this session
    pump_priority: str = ""  # the output pump thread's scheduling priority ("SCHED_FIFO 40", "nice -10", ...)
    pump_max_wake_gap_seconds: float = 0.0  # after the first sound: the pump's longest absence
    ring_low_water_seconds: float | None = None  # after the first sound: the least audio the ring held
    ring_target_seconds: float = 0.0  # the ring lead the pump keeps now (raised after near misses)
    near_misses: int = 0  # pump wakes that found the ring almost empty

    def line(self) -> str:
        e = self.engine
        rtf = "-" if e.real_time_factor is None else f"{e.real_time_factor:.2f}"
        lat = "-" if self.control_latency_seconds is None else f"{self.control_latency_seconds * 1000:.0f} ms"
        return (("OUTPUT LOST: " + str(self.output_lost_reason) + "  " if self.output_lost else "")
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
    """Wires one instrument: store -> EngineThread -> DryAudioQueue -> OutputPump -> ring -> output.

    output: "auto" (the best device: JACK when a server runs; none -> software clock), "none" (software
    clock), or a device index / name substring. The device is played by a child process
    (instrument.output_process) that shares the ring buffer: losing the audio server kills at most that
    child. A watch thread notices a lost output (`status().output_lost`), switches to a software clock (the
    engine and a take keep running) and `restart_output()` reopens a device when asked.

    midi_clock: an instrument.midi.MidiClock. While it runs, each chunk's beat offset follows its phase,
    chunk joins are planned onto its bar lines, and prompt morphs (texts, weights, XY pad) take effect at the
    next bar line (`quantise_morphs`).
    """

    def __init__(self, generator: Generator, store: ParameterStore | None = None, *,
                 engine_config: EngineConfig = EngineConfig(), pump_config: PumpConfig = PumpConfig(),
                 output: str | int | None = "auto", output_block_frames: int = 512, midi_clock: Any = None,
                 client_name: str = "Cascade", isolate_output: bool = os.name == "posix",
                 output_stall_seconds: float = 2.0, quantise_morphs: bool = True) -> None:
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
        ring_frames = max(16384, 8 * output_block_frames)
        self._output_spec = output
        self._memory: SharedOutputMemory | None = None
        if output not in ("none", None) and isolate_output:
            self._memory = SharedOutputMemory(ring_frames)
            self.ring = self._memory.ring
        else:
            self.ring = AudioRingBuffer(ring_frames)
        self.device: OutputDevice | None = None
        self.output_error: str | None = None
        self.output_lost_reason: str | None = None
        self.output_losses = 0
        self._gain_db = float(self.store.get("master_gain_db"))
        self._output_lock = threading.RLock()  # one output change (loss, restart, stop) at a time
        self._abandoned: list[Any] = []  # in-process streams lost under us: never touched again
        self._underruns_before_sound: int | None = None
        self._underruns_retired = 0  # counted by outputs that have been replaced
        self._nonfinite_retired = 0
        self.sink: AudioOutput | OutputProcess | PacedSink = self._open_output(output)
        quantised = make_quantised_filter(self.store) if quantise_morphs else (lambda name: False)
        self.engine = EngineThread(generator, self.store, self.queue, request_from_snapshot, config=engine_config,
                                   is_generation_change=make_generation_filter(self.store),
                                   bar_grid_for=self.bar_grid if midi_clock is not None else None,
                                   is_quantised_change=quantised, hold_quantised=hold_prompts,
                                   on_record=self._on_record, extra_latency_samples=lambda: self.pump.latency_samples)
        self.pump = OutputPump(self.queue, self.ring, self.store, pump_config, set_gain_db=self._set_gain_db,
                               output_rate=self.output_rate, stream_started=lambda: self.engine.alive,
                               on_first_sound=self._on_first_sound)
        self._take_lock = threading.Lock()
        self._take: TakeWriter | None = None
        self._records_logged = 0
        self._take_start_sample = 0
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None
        self.started_s: float | None = None
        self.engine_nice_fallback = 5  # engine nice value when the pump got no higher priority

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
        """A software clock at the rate the pump delivers (so the stream keeps real time)."""
        rate = self.pump.output_rate if hasattr(self, "pump") else SAMPLE_RATE
        return PacedSink(self.ring, rate, self.output_block_frames)

    def _open_output(self, output: str | int | None) -> AudioOutput | OutputProcess | PacedSink:
        if output in ("none", None):
            return self._clock()
        if self._memory is not None:
            try:
                sink = OutputProcess(self._memory, output, block_frames=self.output_block_frames,
                                     stall_seconds=self.output_stall_seconds, gain=10 ** (self._gain_db / 20))
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
        new.set_gain_db(self._gain_db)
        self.sink = new

    def _on_first_sound(self) -> None:
        # Callbacks before the first chunk arrived played silence on purpose: not underruns.
        self._underruns_before_sound = self.sink.underruns
        gc.freeze()

    @property
    def output_underruns(self) -> int:
        """Output callbacks that found the ring short since the first sound (all outputs this session)."""
        if self._underruns_before_sound is None:
            return 0
        return self._underruns_retired + self.sink.underruns - self._underruns_before_sound

    def _watch_output(self) -> None:
        """Watch thread: a lost output is replaced by a software clock within one poll (20 ms)."""
        while not self._watch_stop.wait(0.02):
            sink = self.sink
            try:
                reason = sink.check_lost() if isinstance(sink, (OutputProcess, AudioOutput)) else None
                if reason is not None:
                    self._on_output_lost(sink, reason)
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                logger.exception("output watch failed")

    def _on_output_lost(self, sink: Any, reason: str) -> None:
        with self._output_lock:
            if self.sink is not sink or self._watch_stop.is_set():
                return
            logger.warning("audio output lost (%s): the engine keeps running on a software clock; "
                           "restart_output() reopens it", reason)
            if isinstance(sink, OutputProcess):
                sink.stop(timeout_s=1.0)  # reaps the child (killed if stuck in PortAudio)
            else:
                self._abandoned.append(sink)  # an in-process stream: any PortAudio call on it could hang
            clock = self._clock()
            self._swap_sink(sink, clock)
            clock.start()
            self.output_lost_reason = reason
            self.output_losses += 1

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
            if self._memory is None:  # in-process PortAudio cannot be re-initialised safely after a loss
                if self.output_lost_reason is not None:
                    self.output_error = "cannot reopen an in-process output after a loss"
                    return False
                self.sink.stop()
                self.sink.start()
                return True
            if isinstance(self.sink, OutputProcess):  # reopening a working output: clock while it reopens
                old = self.sink
                old.stop()
                interim = self._clock()
                self._swap_sink(old, interim)
                interim.start()
            try:
                new = OutputProcess(self._memory, spec, block_frames=self.output_block_frames,
                                    stall_seconds=self.output_stall_seconds, gain=10 ** (self._gain_db / 20))
            except Exception as error:  # noqa: BLE001 - stays on the software clock
                self.output_error = f"{type(error).__name__}: {error}"
                logger.warning("cannot reopen the audio output: %s", self.output_error)
                return False
            if new.device is None:
                new.stop()
                self.output_error = "no audio output device"
                return False
            clock = self.sink
            clock.stop()  # the ring has one consumer at a time
            if new.sample_rate != self.pump.output_rate:
                self.pump.set_output_rate(new.sample_rate)
                self.ring.clear()  # blocks resampled for the old rate would play at the wrong speed
            try:
                new.start()
            except Exception as error:  # noqa: BLE001
                self.output_error = f"{type(error).__name__}: {error}"
                logger.warning("cannot start the audio output: %s", self.output_error)
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
        if self.pump.status_copy().priority == "unchanged":
            self.engine.thread_nice = max(self.engine.thread_nice, self.engine_nice_fallback)
        self.engine.start()
        with self._output_lock:
            try:
                self.sink.start()
            except Exception as error:  # noqa: BLE001 - the device refused: keep playing to the software clock
                logger.warning("cannot open %s: %s; playing to a software clock", self.output_name, error)
                self.output_error = f"{type(error).__name__}: {error}"
                self.device = None
                if isinstance(self.sink, OutputProcess):
                    self.sink.stop()
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
        self.pump.stop()
        with self._output_lock:
            if not any(self.sink is lost for lost in self._abandoned):
                self.sink.stop()
        if self._memory is not None:
            self._memory.close()

    def __enter__(self) -> LiveSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def status(self) -> SessionStatus:
        engine = self.engine.status()
        pump = self.pump.status_copy()
        first = None
        if pump.first_sound_time_s is not None and self.started_s is not None:
            first = pump.first_sound_time_s - self.started_s
        return SessionStatus(
            engine=engine, output=self.output_name, output_underruns=self.output_underruns,
            dry_underruns=pump.dry_underruns,
            nonfinite_blocks=self._nonfinite_retired + getattr(self.sink, "nonfinite_blocks", 0),
            buffer_fill_seconds=self.queue.queued_samples / SAMPLE_RATE + self.ring.fill_frames / self.output_rate,
            control_latency_seconds=pump.control_latencies_s[-1] if pump.control_latencies_s else None,
            effect_latency_seconds=pump.effect_latencies_s[-1] if pump.effect_latencies_s else None,
            start_to_first_sound_seconds=first, output_lost=self.output_lost,
            recording=self._take is not None, take_frames=self.pump.take_frames,
            output_lost_reason=self.output_lost_reason, output_losses=self.output_losses,
            pump_priority=pump.priority, pump_max_wake_gap_seconds=pump.max_wake_gap_s,
            ring_low_water_seconds=(None if pump.ring_low_water_frames is None
                                    else pump.ring_low_water_frames / self.output_rate),
            ring_target_seconds=pump.ring_target_frames / self.output_rate, near_misses=pump.near_misses)

    # --- MIDI clock ---------------------------------------------------------------------------------------------

    def stream_sample_at(self, time_s: float) -> float:
        """The stream sample heard at `time_s` (time.monotonic()): the output's play anchor (a ring frame and
        when it reaches the DAC) mapped onto the stream through the pump's ring/stream anchor. Before the output
        has played anything: the pump's read position minus what waits in front of the output."""
        sink_anchor = getattr(self.sink, "play_anchor", None)
        pump_anchor = self.pump.stream_anchor
        if sink_anchor is None or pump_anchor is None:
            return self.queue.read_position - self.pump.latency_samples + (time_s - time.monotonic()) * SAMPLE_RATE
        anchor_s, anchor_frame = sink_anchor
        ring_frame, stream_sample = pump_anchor
        rate = self.pump.output_rate
        heard_frame = anchor_frame + (time_s - anchor_s) * rate
        return stream_sample + (heard_frame - ring_frame) * SAMPLE_RATE / rate

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

    def start_recording(self, directory: Path, name: str | None = None) -> TakeWriter:
        """Record the output (post-effects, pre-master-gain) with an automation log that can be re-rendered."""
        if self._take is not None:
            raise RuntimeError("already recording")
        g = self.engine_config.geometry
        metadata = {"model_id": self.generator.model_id, "seed": int(self.store.get("seed")),
                    "engine": {"window_frames": g.window_frames, "context_frames": g.context_frames,
                               "crossfade_frames": g.crossfade_frames, "hop_frames": self.generator.hop_frames}}
        take = TakeWriter(Path(directory), name=name, metadata=metadata)
        take.start()
        attached = threading.Event()

        def on_attached(stream_sample: int) -> None:  # on the pump thread, before the take's first block
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
    import soundfile

    log = read_take_log(sidecar_path)
    model_id = log.sidecar.get("model_id")
    if model_id and model_id != generator.model_id:
        logger.warning("take was played with model %s, re-rendering with %s", model_id, generator.model_id)
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
    output_path = Path(output_path)
    soundfile.write(str(output_path), wet.T, SAMPLE_RATE, subtype="PCM_24")
    return {"output": str(output_path), "frames": log.frames, "seconds": log.frames / SAMPLE_RATE,
            "chunks": sum(1 for r in log.records if r.get("kind", "chunk") == "chunk"), "steps": steps,
            "model_id": generator.model_id, "take_model_id": model_id,
            "peak": float(np.abs(wet).max()) if wet.size else 0.0}


def apply_effects_automation(dry: np.ndarray, start_values: Mapping[str, float], events: list[dict[str, Any]],
                             block_frames: int = PumpConfig.block_frames) -> np.ndarray:
    """The pump's effects, offline: (2, n) dry -> wet, parameter events applied at their take frames (at the
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
