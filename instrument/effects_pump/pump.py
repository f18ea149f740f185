"""The effects pump's thread: dry ring -> effects chain(s) -> output ring, shadow ring and return ring."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from engine.priority import raise_current_thread_priority
from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump.chain import SPECS, EffectsAutomation, PumpChain
from instrument.effects_pump.config import PumpConfig
from instrument.effects_pump.shared import (BLOCKS, DEVICE_PERIOD_FRAMES, EFFECT_PARAMETERS, FIRST_SOUND,
                                            HEARD_DRY_FRAME, LONG_WAKE_GAPS, MAX_WAKE_GAP_AT_S, MAX_WAKE_GAP_S,
                                            NEAR_MISSES, OUTPUT_RATE, PRIORITY, RETURN_DROPPED_FRAMES,
                                            RING_EXTRA_FRAMES, RING_LOW_WATER, RING_TARGET_FRAMES,
                                            SHADOWED_EFFECT_CHANGES, VERY_LONG_WAKE_GAPS, PumpShared, priority_code)
from instrument.ringbuffer import AudioRingBuffer
from instrument.worker import Worker

logger = logging.getLogger(__name__)


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
        self._chain = PumpChain(values, sequence, self.output_rate)
        # The shadow: the same chain, parameters and resampling, over the same dry frames, further ahead. Equal
        # input and equal parameters give bit-equal output, so playing from it is seamless unless an effect
        # parameter moved in between (the shadow applied the move later in the stream).
        self.shadow = shadow
        self.shadow_span = shadow_span
        self._shadow_chain = PumpChain(values, sequence, self.output_rate) if shadow is not None else None
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
        self.shared.slots[PRIORITY] = priority_code(granted)
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
