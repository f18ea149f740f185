"""The effects pump: dry audio -> pedalboard effects in 5.8 ms blocks -> the output ring in front of the callback.

Where it runs, and why. An effect knob must be heard within ~20 ms, so the pump keeps the output ring only
~17 ms full and must run within a few milliseconds of every wake. In the main process it shared the GIL with
the engine (torch), the MIDI thread and (in the app) Qt, and even at SCHED_FIFO it waited 20-100 ms whenever a
GIL holder was descheduled or inside a long call: 2-30 underruns per 10 minutes. So the pump runs in the output
process (instrument.output_process), whose only other Python threads are the PortAudio callback and a 5 ms
bookkeeping loop: its own GIL. The output ring holds one device period plus 128 frames (8.7 ms at JACK's 256),
so an effect knob is heard within about two periods. The main process feeds it dry audio through a second shared ring with a longer
lead (`dry_lead_frames`, 35 ms, grown after near misses): a main-process stall up to that long costs nothing,
and only generation knobs pay that lead (they take ~400 ms anyway). Effect parameters do not wait for the main
process's feeder: the store's change callback writes them into the shared block at once (`PumpShared`), on the
thread that changed them (the MIDI thread for a CC).

The shadow chain. A pump that comes back late (a time-shared thread behind runnable ones, a vCPU the
hypervisor took) used to leave the callback a short ring: silence. So, when the output has a shadow ring, the
pump also runs a second EffectsChain over the same dry frames as far ahead as the dry ring holds (it peeks:
the main chain still consumes them), writing a shadow ring on the output ring's frame axis; the callback plays
from it what the output ring lacks and moves the output ring's reader past those frames (the main chain's
late frames for them are never read). Both chains start equal and see equal input and parameters, so their
samples are bit-equal: the stretch sounds as the stream would have. Only an effect knob moved within the dry
lead (~35 ms) before the stretch is heard late there: the shadow had already processed those frames. Such
changes are counted (SHADOWED_EFFECT_CHANGES), not measured as latencies. The second chain costs ~0.02 ms a
block. With a shadow, near misses no longer grow the output ring (they cost no silence), so the effect
latency stays at its start value.

Where there is no output process (no audio device: a software clock; a lost output; platforms without it) the
session runs the same `EffectsPump` as a thread of its own, over the same shared memory.

The pump also copies every wet block (44.1 kHz, before any resampling to the device rate) into a *return ring*
that the session reads for the take (post-effects, pre-master-gain) and the app's live view: one frame of the
return ring is one frame of the dry ring, so the take's timeline is the dry ring's.

Shared state (`PumpShared`): float64 slots. The session writes the effect parameters under a sequence lock
(odd while writing) and a "first sound" flag; the pump writes everything else: which parameter sequence it
applied at which dry frame (a small log, for the take's automation), the dry frame heard now (for control
latency and first sound), its (output frame, dry frame) anchor, counters and the effect latencies it measured
(a small ring). Each slot has one writer.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.priority import raise_current_thread_priority
from instrument.effects import EffectsChain
from instrument.output import CEILING
from instrument.parameters import DELAY_BEATS, PARAMETER_SPECS, ParameterSpec
from instrument.ringbuffer import AudioRingBuffer
from instrument.worker import Worker

logger = logging.getLogger(__name__)

SAMPLE_RATE = 44100
EFFECT_PARAMETERS: tuple[str, ...] = ("fx_reverb_mix", "fx_reverb_room", "fx_delay_mix", "fx_delay_beats",
                                      "fx_delay_feedback", "fx_chorus_mix", "fx_filter_cutoff_hz",
                                      "fx_compressor_threshold_db", "fx_limiter_enabled", "tempo_bpm")
UNMEASURED_EFFECT_PARAMETERS = frozenset({"tempo_bpm"})  # a generation knob too: its latency is the engine's


# --- configuration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PumpConfig:
    block_frames: int = 128  # effects block: 2.9 ms (the effect latency moves in steps of one block)
    # What the pump keeps in the output ring in front of the callback: one device period (the callback takes
    # that much at once) plus `ring_margin_frames`; `ring_target_frames` until the device's period is known
    # (and for a software clock). A near miss (the pump found less than `near_miss_frames` left although dry
    # audio was waiting: it came back late, or the device called early) adds `ring_step_frames`, at most once
    # per `ring_raise_cooldown_s`, up to `ring_extra_max_frames`. Effect latency grows with it; it never
    # shrinks back within a session, so the latency a player gets used to stays put.
    ring_target_frames: int = 640
    ring_margin_frames: int = 128
    # A pump without SCHED_FIFO (no rtprio for this user) waits behind runnable threads for a scheduler slice,
    # and so does a time-shared audio server, whose late cycles then come back to back: measured on a host that
    # refused real-time scheduling to every process, the 128-frame margin underran at the start (near misses
    # grew it by 256 within the first minute in both runs). 384 frames: 8.7 ms, effect latency ~17 ms at 256.
    timeshared_ring_margin_frames: int = 384
    ring_extra_max_frames: int = 1536
    ring_step_frames: int = 256
    near_miss_frames: int = 128
    ring_raise_cooldown_s: float = 1.0
    # The shadow chain (when the output has a shadow ring): a second EffectsChain over the same dry frames,
    # run as far ahead as the dry ring allows (at most this much beyond the output ring's target), so a pump
    # that comes back late costs no silence. With it, near misses no longer grow the output ring's lead: they
    # cost no silence, and the effect latency a player gets used to stays put.
    shadow_lead_frames: int = 4096
    poll_seconds: float = 0.0005
    realtime_priority: int = 45  # the pump thread asks for SCHED_FIFO at this priority (0: do not ask) ...
    nice: int = -10  # ... else for this nice value
    # The session's feeder (main process): dry audio it keeps queued in front of the pump, raised by
    # `dry_step_frames` after a near miss of its own (less than `dry_near_miss_frames` left when it looked).
    dry_lead_frames: int = 1536  # 35 ms: absorbs main-process stalls; adds to generation-knob latency only
    dry_lead_max_frames: int = 4096
    dry_step_frames: int = 512
    dry_near_miss_frames: int = 512
    dry_lead_busy_frames: int = 8192  # 186 ms, while the engine's network is being traced (the GIL held ~130 ms)
    feeder_poll_seconds: float = 0.002
    feeder_realtime_priority: int = 40
    feeder_nice: int = -10


# --- the shared block ---------------------------------------------------------------------------------------

# Written by the session:
PARAM_SEQUENCE = 0  # sequence lock over PARAM_CHANGE_TIME_S and the values: odd while being written
PARAM_CHANGE_TIME_S = 1  # time.monotonic() of the earliest measured change the pump has not applied (0: none)
FIRST_SOUND = 2  # 1 once the first engine sample was heard: the pump starts its wake statistics
# Written by the pump:
APPLIED_SEQUENCE = 3
HEARD_DRY_FRAME = 4  # dry frames whose audio the output has taken (the playhead, on the dry ring's axis)
ANCHOR_SEQUENCE, ANCHOR_OUT_FRAME, ANCHOR_DRY_FRAME = 5, 6, 7  # (output frame, dry frame) of the latest block
BLOCKS = 8
MAX_WAKE_GAP_S = 9
RING_LOW_WATER = 10  # -1: not measured yet
NEAR_MISSES = 11
RING_TARGET_FRAMES = 12
PRIORITY = 13  # the granted priority, coded by _priority_code
RETURN_DROPPED_FRAMES = 14  # wet frames the return ring had no room for (the session fell seconds behind)
OUTPUT_RATE = 15
EFFECT_LATENCY_COUNT = 16
APPLIED_COUNT = 17
SHADOWED_EFFECT_CHANGES = 18  # effect changes whose first frame was played from the shadow (latency unknown)
RING_EXTRA_FRAMES = 19  # what near misses added to the output ring's target
DEVICE_PERIOD_FRAMES = 20  # frames the device takes per callback (0: not known)
LONG_WAKE_GAPS = 21  # absences over 5 ms
MAX_WAKE_GAP_AT_S = 22  # time.monotonic() when the longest absence ended
VERY_LONG_WAKE_GAPS = 23  # absences over 20 ms
PARAM_VALUES = 24
EFFECT_LATENCIES = PARAM_VALUES + len(EFFECT_PARAMETERS) + 6  # 40
EFFECT_LATENCY_SLOTS = 64
APPLIED_LOG = EFFECT_LATENCIES + EFFECT_LATENCY_SLOTS  # (sequence, dry frame) pairs
APPLIED_LOG_SLOTS = 64
PUMP_SLOTS = 256
PUMP_BYTES = 8 * PUMP_SLOTS  # a multiple of 64: what follows stays cache-line aligned
assert APPLIED_LOG + 2 * APPLIED_LOG_SLOTS <= PUMP_SLOTS


def read_pair_under_sequence(slots: np.ndarray, sequence: int, first: int, second: int) -> tuple[float, float] | None:
    """Two slots written under a sequence counter by one writer (odd while writing; 0: never written)."""
    for _ in range(100):
        before = slots[sequence]
        if before == 0:
            return None
        if int(before) % 2:
            continue
        pair = float(slots[first]), float(slots[second])
        if slots[sequence] == before:
            return pair
    return None


def _priority_code(words: str) -> float:
    if words.startswith("SCHED_FIFO"):
        return 1000.0 + int(words.split()[-1])
    if words.startswith("nice"):
        return 100.0 + int(words.split()[-1])
    return 1.0 if words == "unchanged" else 0.0


def _priority_words(code: float) -> str:
    if code >= 900:
        return f"SCHED_FIFO {int(code) - 1000}"
    if code >= 50:
        return f"nice {int(code) - 100}"
    return "unchanged" if code == 1.0 else ""


class PumpShared:
    """The pump's shared slots (`PUMP_SLOTS` float64 over `buffer`: shared memory, or private for a pump
    thread in the session's own process). Methods say which side calls them."""

    def __init__(self, buffer: Any) -> None:
        self.slots = np.frombuffer(buffer, dtype=np.float64, count=PUMP_SLOTS)
        self._write_lock = threading.Lock()  # the store's callbacks may run on several threads

    def reset(self, values: Mapping[str, float]) -> None:
        """Session, before any pump runs: zero everything and publish the effect values."""
        self.slots[:] = 0.0
        self.slots[RING_LOW_WATER] = -1.0
        for index, name in enumerate(EFFECT_PARAMETERS):
            self.slots[PARAM_VALUES + index] = float(values[name])
        self.slots[PARAM_SEQUENCE] = 2.0

    # --- the session's side ---------------------------------------------------------------------------------

    def publish(self, name: str, value: float, change_time_s: float) -> int:
        """Session (any thread): one effect parameter's new value; the pump applies it at its next block.
        Returns the sequence number that carries it."""
        index = EFFECT_PARAMETERS.index(name)
        slots = self.slots
        with self._write_lock:
            caught_up = slots[APPLIED_SEQUENCE] >= slots[PARAM_SEQUENCE]
            slots[PARAM_SEQUENCE] += 1  # odd: writing
            slots[PARAM_VALUES + index] = float(value)
            if name not in UNMEASURED_EFFECT_PARAMETERS and (caught_up or slots[PARAM_CHANGE_TIME_S] == 0):
                slots[PARAM_CHANGE_TIME_S] = change_time_s
            elif caught_up:
                slots[PARAM_CHANGE_TIME_S] = 0.0
            slots[PARAM_SEQUENCE] += 1
            return int(slots[PARAM_SEQUENCE])

    def applied_since(self, count: int) -> tuple[int, list[tuple[int, int]]]:
        """Session: the (sequence, dry frame) applications logged after the first `count`; returns the new
        count and them (the log holds the latest APPLIED_LOG_SLOTS)."""
        total = int(self.slots[APPLIED_COUNT])
        pairs = []
        for n in range(max(count, total - APPLIED_LOG_SLOTS), total):
            slot = APPLIED_LOG + 2 * (n % APPLIED_LOG_SLOTS)
            pairs.append((int(self.slots[slot]), int(self.slots[slot + 1])))
        return total, pairs

    def latencies_since(self, count: int) -> tuple[int, list[float]]:
        """Session: effect latencies (seconds) measured after the first `count`; returns the new count too."""
        total = int(self.slots[EFFECT_LATENCY_COUNT])
        return total, [float(self.slots[EFFECT_LATENCIES + n % EFFECT_LATENCY_SLOTS])
                       for n in range(max(count, total - EFFECT_LATENCY_SLOTS), total)]

    def anchor(self) -> tuple[int, int] | None:
        """(output ring frame, dry ring frame) at the start of the pump's latest block."""
        pair = read_pair_under_sequence(self.slots, ANCHOR_SEQUENCE, ANCHOR_OUT_FRAME, ANCHOR_DRY_FRAME)
        return None if pair is None else (int(pair[0]), int(pair[1]))

    @property
    def heard_dry_frame(self) -> int:
        return int(self.slots[HEARD_DRY_FRAME])

    @property
    def priority(self) -> str:
        return _priority_words(float(self.slots[PRIORITY]))

    @property
    def ring_target_frames(self) -> int:
        return int(self.slots[RING_TARGET_FRAMES])

    @property
    def output_rate(self) -> int:
        return int(self.slots[OUTPUT_RATE]) or SAMPLE_RATE

    # --- the pump's side --------------------------------------------------------------------------------------

    def read_parameters(self) -> tuple[int, float, list[float]] | None:
        """Pump: (sequence, change time, values) under the sequence lock; None if a writer kept it busy."""
        slots = self.slots
        for _ in range(1000):
            before = slots[PARAM_SEQUENCE]
            if int(before) % 2:
                continue
            change_time_s = float(slots[PARAM_CHANGE_TIME_S])
            values = slots[PARAM_VALUES:PARAM_VALUES + len(EFFECT_PARAMETERS)].tolist()
            if slots[PARAM_SEQUENCE] == before:
                return int(before), change_time_s, values
        return None

    def log_applied(self, sequence: int, dry_frame: int) -> None:
        n = int(self.slots[APPLIED_COUNT])
        slot = APPLIED_LOG + 2 * (n % APPLIED_LOG_SLOTS)
        self.slots[slot], self.slots[slot + 1] = sequence, dry_frame
        self.slots[APPLIED_COUNT] = n + 1  # publish after the pair
        self.slots[APPLIED_SEQUENCE] = sequence

    def log_latency(self, seconds: float) -> None:
        n = int(self.slots[EFFECT_LATENCY_COUNT])
        self.slots[EFFECT_LATENCIES + n % EFFECT_LATENCY_SLOTS] = seconds
        self.slots[EFFECT_LATENCY_COUNT] = n + 1

    def set_anchor(self, out_frame: int, dry_frame: int) -> None:
        self.slots[ANCHOR_SEQUENCE] += 1  # odd: writing
        self.slots[ANCHOR_OUT_FRAME], self.slots[ANCHOR_DRY_FRAME] = out_frame, dry_frame
        self.slots[ANCHOR_SEQUENCE] += 1


# --- effects automation (shared by the pump and the offline re-render) ----------------------------------------


class EffectsAutomation:
    """Effect parameter targets -> the EffectsChain, with the store's smoothing applied per block (a
    one-pole glide with the spec's smoothing_seconds, so a 7-bit MIDI step does not zipper)."""

    def __init__(self, store_specs: Mapping[str, ParameterSpec], effects: EffectsChain,
                 values: Mapping[str, float]) -> None:
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


SPECS: Mapping[str, ParameterSpec] = {spec.name: spec for spec in PARAMETER_SPECS}


# --- the pump ---------------------------------------------------------------------------------------------------


class _Chain:
    """One EffectsChain with its automation and (when the device rate differs) its resampler, following the
    parameters published in the shared block. The pump runs one, or two over the same dry frames (the shadow):
    equal blocks and equal parameters give bit-equal output."""

    def __init__(self, values: Mapping[str, float], sequence: int, output_rate: int) -> None:
        self.effects = EffectsChain(SAMPLE_RATE)
        self.automation = EffectsAutomation(SPECS, self.effects, values)
        self.sequence = sequence  # the parameter sequence applied last
        self.resampler: Any = None
        if output_rate != SAMPLE_RATE:
            from pedalboard.io import StreamResampler

            self.resampler = StreamResampler(SAMPLE_RATE, output_rate, 2)

    def follow(self, shared: PumpShared) -> tuple[int, float] | None:
        """Take the parameters published since the last call; (their sequence, change time) if there were any."""
        if shared.slots[PARAM_SEQUENCE] == self.sequence:
            return None
        parameters = shared.read_parameters()
        if parameters is None:
            return None
        sequence, change_time_s, values = parameters
        for name, value in zip(EFFECT_PARAMETERS, values):
            if value != self.automation.targets[name]:
                self.automation.set(name, value)
        self.sequence = sequence
        return sequence, change_time_s

    def render(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frames, 2) dry -> (wet (2, frames) at 44.1 kHz, clipped; the same at the device rate)."""
        self.automation.advance(len(block) / SAMPLE_RATE)
        wet = self.effects.process(block.T)
        np.clip(wet, -CEILING, CEILING, out=wet)
        return wet, (wet if self.resampler is None else self.resampler.process(wet))


class EffectsPump(Worker):
    """Dry ring -> EffectsAutomation/EffectsChain -> clip -> return ring (take, monitor) and, resampled to the
    device rate when it differs, the output ring. One thread; the only producer of the output ring and the
    return ring and the only consumer of the dry ring while it runs."""

    thread_name = "cascade-effects-pump"

    def __init__(self, dry: AudioRingBuffer, out: AudioRingBuffer, returned: AudioRingBuffer, shared: PumpShared,
                 config: PumpConfig = PumpConfig(), *, output_rate: int = SAMPLE_RATE,
                 device_period: Callable[[], int] | None = None, shadow: AudioRingBuffer | None = None,
                 shadow_span: Callable[[], tuple[int, int]] | None = None) -> None:
        """device_period: () -> frames the device takes per callback (AudioOutput's `callback_frames`; 0 until
        its first callback): the ring's target follows it; None for a software clock.

        shadow: the output's shadow ring (AudioOutput's `shadow`), on the output ring's frame axis: a second
        effects chain fills it from the same dry frames, ahead of the output ring; the callback plays from it
        what the output ring lacks. Only while neither side runs: it is aligned to the output ring here.
        shadow_span: () -> output frames [from, until) of the latest stretch played from the shadow (the
        callback's `shadow_span`): an effect change that first sounded there is counted, not measured."""
        super().__init__()
        self.dry = dry
        self.out = out
        self.returned = returned
        self.shared = shared
        self.config = config
        self.output_rate = int(output_rate)
        self.device_period = device_period
        parameters = shared.read_parameters()
        values = dict(zip(EFFECT_PARAMETERS, parameters[2])) if parameters else \
            {name: float(SPECS[name].default) for name in EFFECT_PARAMETERS}
        sequence = parameters[0] if parameters else 0
        self._chain = _Chain(values, sequence, self.output_rate)
        # The shadow: the same chain, parameters and resampling, over the same dry frames, further ahead. Equal
        # input and equal parameters give bit-equal output, so playing from it is seamless unless an effect
        # parameter moved in between (the shadow applied the move later in the stream).
        self.shadow = shadow
        self.shadow_span = shadow_span
        self._shadow_chain = _Chain(values, sequence, self.output_rate) if shadow is not None else None
        self._shadow_dry_frame = dry.frames_read  # the next dry frame the shadow chain processes
        self._shadow_block = np.zeros((config.block_frames, 2), dtype=np.float32)
        if shadow is not None:
            shadow.align(out.frames_written)
        self._block = np.zeros((config.block_frames, 2), dtype=np.float32)
        self._blocks: deque[tuple[int, int]] = deque()  # (output frame end, dry frame end) not yet heard
        self._pending_latency: deque[tuple[int, float]] = deque()  # (output frame, change time)
        # A restarted output keeps what near misses added before: the lead players got used to.
        self.ring_extra_frames = int(shared.slots[RING_EXTRA_FRAMES])
        self.period_frames = 0
        self.ring_target_frames = 0
        self.ring_margin_frames = config.ring_margin_frames  # until the thread knows its scheduling
        self._set_target()
        shared.slots[OUTPUT_RATE] = self.output_rate
        self._last_raise_s = -math.inf
        self._last_look_s: float | None = None
        self.started = threading.Event()  # set once the thread knows its priority

    def _run(self) -> None:
        granted = raise_current_thread_priority(self.config.realtime_priority, self.config.nice)
        self.shared.slots[PRIORITY] = _priority_code(granted)
        if not granted.startswith("SCHED_FIFO"):
            self.ring_margin_frames = self.config.timeshared_ring_margin_frames
            self._set_target()
        self.started.set()
        while not self._stop.is_set():
            try:
                self._note_heard()
                fill = self.out.fill_frames
                dry_waiting = self.dry.fill_frames >= self.config.block_frames
                if self.shared.slots[FIRST_SOUND]:
                    self._note_wake(fill, dry_waiting)
                if self.device_period is not None and not self.period_frames:
                    self._learn_period(self.device_period())
                if self._shadow_wants_block():
                    self.pump_shadow_block()
                    continue
                if (dry_waiting and fill < self.ring_target_frames
                        and self.out.free_frames >= 2 * self.config.block_frames
                        and (self.shadow is None
                             or self._shadow_dry_frame >= self.dry.frames_read + self.config.block_frames)):
                    self.pump_block()
                    continue
            except Exception:  # keep pumping: a broken block must not stop the audio
                logger.exception("effects pump block failed")
            self._stop.wait(self.config.poll_seconds)

    @property
    def automation(self) -> EffectsAutomation:
        """The main chain's parameter automation."""
        return self._chain.automation

    def _set_target(self) -> None:
        base = (self.period_frames + self.ring_margin_frames if self.period_frames
                else self.config.ring_target_frames)
        self.ring_target_frames = base + self.ring_extra_frames
        self.shared.slots[RING_TARGET_FRAMES] = self.ring_target_frames
        self.shared.slots[RING_EXTRA_FRAMES] = self.ring_extra_frames
        self.shared.slots[DEVICE_PERIOD_FRAMES] = self.period_frames

    def _learn_period(self, period_frames: int) -> None:
        if period_frames > 0:
            self.period_frames = int(period_frames)
            self._set_target()

    def _note_wake(self, fill_frames: int, dry_waiting: bool) -> None:
        now_s = time.monotonic()
        slots = self.shared.slots
        if self._last_look_s is not None:
            gap_s = now_s - self._last_look_s
            if gap_s > 0.005:
                slots[LONG_WAKE_GAPS] += 1
                if gap_s > 0.02:
                    slots[VERY_LONG_WAKE_GAPS] += 1
            if gap_s > slots[MAX_WAKE_GAP_S]:
                slots[MAX_WAKE_GAP_S] = gap_s
                slots[MAX_WAKE_GAP_AT_S] = now_s
        self._last_look_s = now_s
        if slots[RING_LOW_WATER] < 0 or fill_frames < slots[RING_LOW_WATER]:
            slots[RING_LOW_WATER] = fill_frames
        # A near miss is the pump's own lateness: dry audio was there to write, the output ring nearly empty.
        # (An empty dry ring is the feeder's miss; a longer output lead would not help it.)
        if fill_frames < self.config.near_miss_frames and dry_waiting:
            slots[NEAR_MISSES] += 1
            if (self.shadow is None and self.ring_extra_frames < self.config.ring_extra_max_frames
                    and now_s - self._last_raise_s >= self.config.ring_raise_cooldown_s):
                self._last_raise_s = now_s
                self.ring_extra_frames = min(self.config.ring_extra_max_frames,
                                             self.ring_extra_frames + self.config.ring_step_frames)
                self._set_target()

    def _apply_parameters(self) -> None:
        applied = self._chain.follow(self.shared)
        if applied is None:
            return
        sequence, change_time_s = applied
        self.shared.log_applied(sequence, self.dry.frames_read)
        if change_time_s > 0:
            self._pending_latency.append((self.out.frames_written, change_time_s))

    def _shadow_wants_block(self) -> bool:
        shadow = self.shadow
        return (shadow is not None
                and self.dry.frames_written - self._shadow_dry_frame >= self.config.block_frames
                and shadow.fill_frames < self.ring_target_frames + self.config.shadow_lead_frames
                and shadow.free_frames >= 2 * self.config.block_frames)

    def pump_shadow_block(self) -> bool:
        """The shadow chain's next block: peek at the dry frames (the main chain reads them later), process,
        write the shadow ring. False when the dry ring does not hold a whole block there yet."""
        shadow, chain = self.shadow, self._shadow_chain
        if shadow is None or chain is None:
            return False
        block = self._shadow_block
        if self.dry.peek_into(self._shadow_dry_frame, block) < len(block):
            return False
        chain.follow(self.shared)
        _, out = chain.render(block)
        if out.shape[-1]:
            shadow.write(np.ascontiguousarray(out.T))
        self._shadow_dry_frame += len(block)
        return True

    def pump_block(self) -> None:
        """One block: read, process, write both rings (the pump thread; tests may call it directly). With a
        shadow, the shadow chain goes over these dry frames first."""
        while self.shadow is not None and self._shadow_dry_frame < self.dry.frames_read + self.config.block_frames:
            if not self.pump_shadow_block():
                break
        self._apply_parameters()
        dry_frame = self.dry.frames_read
        out_frame = self.out.frames_written
        got = self.dry.read_into(self._block)  # a short read (only when called directly) is zero-filled
        wet, resampled = self._chain.render(self._block)
        frames = np.ascontiguousarray(wet.T)
        kept = self.returned.write(frames)
        if kept < len(frames):
            self.shared.slots[RETURN_DROPPED_FRAMES] += len(frames) - kept
        out = frames if resampled is wet else np.ascontiguousarray(resampled.T)
        if len(out):
            self.out.write(out)
        self.shared.set_anchor(out_frame, dry_frame)
        self._blocks.append((self.out.frames_written, dry_frame + got))
        self.shared.slots[BLOCKS] += 1
        self._note_heard()

    def _note_heard(self) -> None:
        """Publish how far the output has played, on the dry axis, and turn effect changes heard into
        latencies (resolution: one poll)."""
        played = self.out.frames_read
        heard = None
        while self._blocks and played >= self._blocks[0][0]:
            heard = self._blocks.popleft()[1]
        if heard is not None:
            self.shared.slots[HEARD_DRY_FRAME] = heard
        while self._pending_latency and played > self._pending_latency[0][0]:
            frame, change_s = self._pending_latency.popleft()
            if self.shadow_span is not None:
                span_from, span_until = self.shadow_span()
                if span_from <= frame < span_until:  # the shadow played it, the change not yet in it
                    self.shared.slots[SHADOWED_EFFECT_CHANGES] += 1
                    continue
            self.shared.log_latency(time.monotonic() - change_s)
