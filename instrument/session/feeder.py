"""The feeder: the session's side of the effects pump, one thread in the main process.

It moves the dry queue's audio into the shared dry ring ahead of the effects pump (instrument.effects_pump),
publishes effect changes to the pump, takes the wet audio the pump returns into the take and the monitor tap,
and turns the pump's playhead into control latencies and the first sound.

Timelines: the engine's *stream* counts dry samples from the start of the session; the feeder reads it in
order. When the dry queue runs short the feeder feeds silence (a dry underrun) without advancing the stream,
so a take's frames = stream samples + logged underrun gaps.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.priority import raise_current_thread_priority
from engine.stream import DryAudioQueue
from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump import (BLOCKS, EFFECT_PARAMETERS, FIRST_SOUND, MAX_WAKE_GAP_S, NEAR_MISSES,
                                     RETURN_DROPPED_FRAMES, RING_LOW_WATER, PumpConfig)
from instrument.monitor import MonitorTap
from instrument.output_process import SharedOutputMemory
from instrument.parameters import ParameterStore
from instrument.takes import AutomationEvent, TakeWriter
from instrument.worker import Worker

logger = logging.getLogger(__name__)


@dataclass
class PumpStatus:
    """The feeder's and the effects pump's counters and latencies: OutputPump.status, which status_copy() copies
    with the effects pump's own fields filled in."""

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

