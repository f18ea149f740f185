"""The engine thread: keeps a stream of continued, crossfaded chunks queued ahead of the playhead and answers
parameter changes (at the next chunk, by a rollback just ahead of the playhead, or on a bar line).

It owns the Generator and the ChunkStitcher (only this thread touches them) and is the dry queue's only
producer. Other threads reach it through `status()`, `records_since()` and `start()`/`stop()` (each under a
short lock) and through the parameter store, whose change callback only wakes it. `_generate` makes one chunk
in named steps: morph bookkeeping, request, step budget, generation, splice, join plan, timing, record, status.

Long because it is one class whose decisions (when to generate, roll back,
refine, land a morph) and chunk steps all read and write the thread's own state; the parts with state of
their own already live beside it (stitcher, dry_queue, morph, estimates).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from engine.generate import Generator
from engine.request import GenerationRequest, request_to_json
from engine.priority import lower_current_thread_priority
from engine.stream.config import EngineConfig, EngineHooks, HarmonyChange, ParameterSource
from engine.stream.dry_queue import DryAudioQueue, SpliceResult
from engine.stream.estimates import ComputeEstimates
from engine.stream.morph import MorphHold
from engine.stream.planning import BarGrid, plan_join_sample
from engine.stream.records import ChunkRecord, EngineStatus
from engine.stream.requests import first_chunk_request
from engine.stream.stitcher import ChunkAudio, ChunkStitcher, RefineAbandoned

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Join:
    """Where a chunk about to be generated joins the stream."""

    fresh: bool  # no history: a fresh start (no crossfade)
    splice_frame: int  # the frame its crossfade starts in
    offset_samples: int  # ... this many samples into that frame (a bar-line join), 0..hop-1
    own_start_sample: int  # where its own (uncrossfaded) audio starts: the crossfade's end


@dataclass(frozen=True)
class _Spliced:
    """A chunk generated and spliced into the queue: what the bookkeeping after the splice reads."""

    chunk: ChunkAudio
    result: SpliceResult | None  # None: nothing of it was left to place (the pump had run past it)
    join: _Join
    request: GenerationRequest  # as generated, at its requested steps (chunk.steps: the steps used)
    version: int  # the parameter snapshot's
    rollback: bool
    refine: bool
    lands_morph: bool

    @property
    def position(self) -> int:
        """Where it landed in the stream (the crossfade start)."""
        return self.result.position if self.result else self.chunk.start_sample


class EngineThread:
    """Owns the Generator (one owner thread). Keeps `lead_chunks`..`lead_chunks + 1` chunks of dry audio
    queued ahead of the consumer, answers parameter changes at the next chunk (or sooner, by rollback),
    lowers the step count when the time left would not fit the requested steps, and survives generation
    errors (the queued tail fades out, silence follows, the error is reported, it retries).

    `hooks` (EngineHooks) are the instrument's answers: the request for a snapshot, which changes need new
    audio, the external clock's bar grid, which changes wait for a bar line, and so on.
    """

    def __init__(self, generator: Generator, store: ParameterSource, queue: DryAudioQueue, hooks: EngineHooks,
                 *, config: EngineConfig = EngineConfig()) -> None:
        self.generator = generator
        self.store = store
        self.queue = queue
        self.hooks = hooks
        self.config = config
        self.stitcher = ChunkStitcher(generator, config.geometry)
        self.hop = generator.hop_frames
        self.sample_rate = generator.sample_rate
        self.chunk_samples = config.geometry.new_frames * self.hop
        self.records: list[ChunkRecord] = []
        self._records_lock = threading.Lock()
        self._status = EngineStatus(device=str(generator.device))
        self._status_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._applied_version = -1
        self._pending_change_s: float | None = None  # earliest generation change not yet in a chunk
        self._estimates = ComputeEstimates()
        self._error_backoff_s = config.error_backoff_s
        self._retry_at_s = 0.0
        self._rollback_checked: tuple[int, int | None] | None = None  # (store version, harmony redo) last tried
        # The instrument's harmony timeline changed from this stream sample on, and audio queued from there
        # still has the old chroma (None: nothing to redo); the change came at _harmony_changed_s.
        self._harmony_redo_from: int | None = None
        self._harmony_changed_s = -math.inf
        self._last_rollback_s = -math.inf  # time.monotonic() of the latest rollback (coalescing)
        self._last_change_s = -math.inf  # time.monotonic() of the latest generation change seen
        # The firmly queued audio by the chunk that made it: [start sample, end sample, steps used, requested]
        # (a refine looks here for few-step audio still ahead of the playhead).
        self._segments: list[tuple[int, int, int, int]] = []
        self._refine_checked_chunk = -1  # the latest chunk a refine was considered for
        self._morph = MorphHold()
        # Set before start(): the engine thread raises its nice value by this much (and so do the torch
        # workers it creates), so that the output pump, when it cannot get a higher priority, still wins.
        self.thread_nice = 0

    # --- control ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._unsubscribe = self.store.subscribe(self._on_change)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cascade-engine", daemon=True)
        with self._status_lock:
            self._status.running = True
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._status_lock:
            self._status.running = False

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> EngineStatus:
        with self._status_lock:
            status = EngineStatus(**asdict(self._status))
        status.lead_seconds = max(0, self.firm_end_sample - self.queue.read_position) / self.sample_rate
        return status

    def records_since(self, index: int) -> list[ChunkRecord]:
        with self._records_lock:
            return list(self.records[index:])

    @property
    def firm_end_sample(self) -> int:
        return self.stitcher.firm_end_sample

    def _on_change(self, name: str, value: object, source: str) -> None:
        # Called on whichever thread changed the store: only wake the engine (no work here).
        if self.hooks.is_generation_change(name):
            self._wake.set()

    # --- estimates ----------------------------------------------------------------------------------------

    def estimated_chunk_seconds(self, steps: int) -> float | None:
        return self._estimates.chunk_seconds(steps)

    def _steps_for_budget(self, requested: int, budget_s: float) -> int:
        return self._estimates.steps_for_budget(requested, budget_s, self.config.min_steps)

    # --- the loop -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        granted = lower_current_thread_priority(self.thread_nice)
        with self._status_lock:
            self._status.priority = granted
        while not self._stop.is_set():
            try:
                worked = self._step()
            except Exception as error:  # a bug here must not end the stream: report, keep going
                logger.exception("engine step failed")
                self._report_error(error)
                worked = False
                self._stop.wait(0.05)
            if not worked:
                self._wake.wait(self.config.idle_wait_s)
                self._wake.clear()

    def _grid(self) -> BarGrid | None:
        if self.hooks.bar_grid_for is None:
            return None
        try:
            return self.hooks.bar_grid_for()
        except Exception:  # noqa: BLE001 - a broken clock must not stop the stream: play unquantised
            logger.exception("bar grid failed")
            return None

    def _step(self) -> bool:
        """Generate one chunk (or queue silence while failing) if one is due; returns whether it worked."""
        if self._applied_version < 0:  # the first chunk: nothing plays yet (first_chunk_steps)
            self._generate(None, self.queue.read_position, self.firm_end_sample, rollback=False)
            return True
        grid = self._grid()
        quantise = grid is not None and self.hooks.hold_quantised is not None
        version = self.store.version
        changed = self._settle_morphs(quantise)
        if version != self._applied_version:
            changed = self._take_changes(version, quantise) or changed
        read = self.queue.read_position
        firm_end = self.firm_end_sample
        if self._morph.pending and grid is not None and self._schedule_morph(grid, read, firm_end):
            return True
        return self._do_due_work(version, changed, read, firm_end, self._harmony_due(firm_end))

    def _harmony_due(self, firm_end: int) -> int | None:
        """The stream sample from which queued audio must be regenerated for a harmony change (a held chord
        landing on a bar line), once the chord's notes have settled; None: nothing to redo."""
        if self.hooks.harmony_change is not None:
            change: HarmonyChange | None = self.hooks.harmony_change()  # consumed: each change is told once
            if change is not None:
                redo = self._harmony_redo_from
                self._harmony_redo_from = change.from_sample if redo is None else min(redo, change.from_sample)
                self._harmony_changed_s = change.changed_s
        redo_from = self._harmony_redo_from
        if redo_from is None:
            return None
        if redo_from >= firm_end - self.config.geometry.crossfade_frames * self.hop:
            self._harmony_redo_from = None  # not queued yet: the next chunks are generated with it anyway
            return None
        if time.monotonic() - self._harmony_changed_s < self.config.harmony_settle_s:
            return None
        return redo_from

    def _settle_morphs(self, quantise: bool) -> bool:
        """Drop a held morph when there is no clock to hold it to (it counts as a change then: returns True), and
        forget a landed morph once heard."""
        changed = False
        if self._morph.pending and not quantise:
            # The clock stopped (or lost its tempo) with a morph pending: it takes effect now, like any change.
            self._clear_morph()
            changed = True
            self._rollback_checked = None
        self._morph.forget_if_heard(quantise, self.queue.read_position)
        return changed

    def _take_changes(self, version: int, quantise: bool) -> bool:
        """Read the store's changes since the applied version: note when the first immediate one came, hold
        quantised ones for a bar line. Returns whether any is to be answered now (rollback or next chunk)."""
        changes = [c for c in self.store.changes_since(self._applied_version)
                   if self.hooks.is_generation_change(c.name)]
        if not changes:
            self._applied_version = version  # effects/output only: nothing to regenerate
            return False
        settle_s = self.config.change_debounce_s - (time.monotonic() - changes[-1].time_monotonic_s)
        if settle_s > 0:
            time.sleep(settle_s)  # the snapshot below then holds the whole gesture
        deferred = [c for c in changes if quantise and self.hooks.is_quantised_change(c)]
        immediate = [c for c in changes if not (quantise and self.hooks.is_quantised_change(c))
                     and not self.hooks.waits_for_next_chunk(c)]
        self._last_change_s = max(self._last_change_s, changes[-1].time_monotonic_s)
        if immediate:
            first_s = min(c.time_monotonic_s for c in immediate)
            self._pending_change_s = (first_s if self._pending_change_s is None
                                      else min(self._pending_change_s, first_s))
        self._morph.hold([c.version for c in deferred])
        return bool(immediate)

    def _do_due_work(self, version: int, changed: bool, read: int, firm_end: int,
                     harmony_redo: int | None = None) -> bool:
        """Silence while failing, a rollback for a change (a knob's, or a harmony change's from its sample on), a
        refine once the knobs rest, or the next chunk when the firmly queued audio runs short; returns whether
        it did any."""
        due = firm_end - read < self.config.lead_chunks * self.chunk_samples
        redo = changed or harmony_redo is not None
        if time.monotonic() < self._retry_at_s and not redo:
            if due:  # failing: keep the stream going with silence rather than let the pump run dry
                self._queue_silence(None)
                return True
            return False
        key = (version, harmony_redo)
        if (redo and self.config.rollback and self.stitcher.history is not None and key != self._rollback_checked
                and time.monotonic() - self._last_rollback_s >= self.config.rollback_min_interval_s):
            self._rollback_checked = key  # the answer only gets worse as the playhead moves on
            # A harmony change alone needs new audio only from its sample on: the crossfade ends there.
            not_before = None if changed else harmony_redo - self.config.geometry.crossfade_frames * self.hop
            if self._try_rollback(read, firm_end, not_before=not_before):
                return True
            if not changed:
                self._harmony_redo_from = None  # too close to the queue's end to redo: it plays from there on
        changed = redo
        if not changed and not due and self._refine_due():
            self._refine_checked_chunk = self.stitcher.chunk_index
            refine_from = self._few_step_start(read)
            if refine_from is not None and self._morph.landed is not None:
                refine_from = max(refine_from, self._morph.landed[0])  # a refine never crosses a landed morph
            if self._try_rollback(read, firm_end, refine=True, not_before=refine_from):
                return True
        if due:
            self._generate(None, read, firm_end, rollback=False)
            return True
        return False

    def _clear_morph(self) -> None:
        self._morph.clear()
        with self._status_lock:
            self._status.pending_morph_sample = None

    def _schedule_morph(self, grid: BarGrid, read: int, firm_end: int) -> bool:
        """Pick the bar line a held morph lands on (the first whose crossfade can still start a guard ahead of
        the playhead); if that bar line lies in audio already firmly queued, regenerate from it now (returns
        True). Otherwise the normal flow plans a join onto it (plan_join_sample's target)."""
        morph = self._morph
        crossfade = self.config.geometry.crossfade_frames * self.hop
        if morph.bar_sample is not None and morph.bar_sample - crossfade < read:
            logger.info("a held morph missed its bar line: moved to the next")
            morph.bar_sample = None
        if morph.bar_sample is None:
            try:
                requested = int(self.hooks.request_for(self.store.snapshot()).steps)
            except Exception:  # noqa: BLE001 - a bad request fails (and is reported) when generated
                requested = 1
            estimate = self.estimated_chunk_seconds(requested)
            compute_s = estimate if estimate is not None else self.chunk_samples / self.sample_rate
            guard = int((self.config.guard_factor * compute_s + self.config.guard_extra_s) * self.sample_rate)
            earliest = read + guard
            if self.stitcher.history is not None:
                earliest = max(earliest, (self.stitcher.earliest_splice_frame() or 0) * self.hop)
            morph.bar_sample = round(grid.next_bar_sample(earliest + crossfade))
            with self._status_lock:
                self._status.pending_morph_sample = morph.bar_sample
        splice_sample = morph.bar_sample - crossfade
        if self.stitcher.history is not None and splice_sample < firm_end:
            frame, offset_samples = divmod(splice_sample, self.hop)
            earliest_splice = self.stitcher.earliest_splice_frame()
            if earliest_splice is not None and earliest_splice <= frame <= self.stitcher.end_frame - \
                    self.config.geometry.crossfade_frames:
                self._generate(int(frame), read, firm_end, rollback=True, offset_samples=int(offset_samples))
                return True
        return False

    def _few_step_start(self, read: int) -> int | None:
        """Where the first firmly queued audio ahead of `read` that used fewer steps than requested starts."""
        return next((max(start, read) for start, end, used, requested in self._segments
                     if end > read and used < requested), None)

    def _refine_due(self) -> bool:
        """Whether queued audio ahead of the playhead used fewer steps than requested (a rollback, or a
        deadline) and the knobs have rested `refine_after_s`: then it is worth regenerating at full steps."""
        if (self.config.refine_after_s is None or self.stitcher.history is None or self._morph.pending
                or self._refine_checked_chunk == self.stitcher.chunk_index):
            return False
        return (time.monotonic() - self._last_change_s >= self.config.refine_after_s
                and self._few_step_start(self.queue.read_position) is not None)

    def _note_segment(self, start: int, end: int, used: int, requested: int) -> None:
        read = self.queue.read_position
        kept = [(a, min(b, start), u, r) for a, b, u, r in self._segments if a < start and min(b, start) > read]
        self._segments = kept + [(start, end, used, requested)]

    def _abandon_on_change(self, version: int) -> Callable[[int], None]:
        """A sampler-step callback that abandons a refine once a generation change has come since `version`:
        a refine is optional work (its few-step audio already plays), and finishing it first would add up
        to its whole compute (~0.5 s at 8 steps) to that change's latency."""
        def check(_step: int) -> None:
            if self.store.version != version and any(
                    self.hooks.is_generation_change(c.name) for c in self.store.changes_since(version)):
                raise RefineAbandoned
        return check

    def _try_rollback(self, read: int, firm_end: int, *, refine: bool = False, not_before: int | None = None) -> bool:
        """Regenerate from just ahead of the playhead (a guard sized by the estimated compute), but not before
        stream sample `not_before`. A rollback answers a generation change and may use fewer steps to be heard
        within latency_target_s; a refine regenerates few-step audio with unchanged parameters at the full
        requested steps."""
        snapshot = self.store.snapshot()
        requested = int(self.hooks.request_for(snapshot).steps)
        steps = requested
        pump_s = self.hooks.extra_latency_samples() / self.sample_rate
        if self.config.latency_target_s is not None and not refine:
            budget = (self.config.latency_target_s - pump_s - self.config.guard_extra_s) / self.config.guard_factor
            steps = max(min(requested, self.config.rollback_min_steps), self._steps_for_budget(requested, budget))
        estimate = self.estimated_chunk_seconds(steps)
        if estimate is None:
            return False
        guard_samples = int((self.config.guard_factor * estimate + self.config.guard_extra_s) * self.sample_rate)
        frame = -(-(read + guard_samples) // self.hop)
        earliest = self.stitcher.earliest_splice_frame()
        latest = self.stitcher.end_frame - self.config.geometry.crossfade_frames
        if earliest is None:
            return False
        frame = max(frame, earliest, max(0, not_before or 0) // self.hop)
        if frame > latest:
            return False
        gain_s = (firm_end - frame * self.hop) / self.sample_rate
        if gain_s < self.config.rollback_min_gain_s:
            return False
        if not refine:
            self._last_rollback_s = time.monotonic()
        self._generate(frame, read, firm_end, rollback=True, snapshot=snapshot, steps=steps, refine=refine)
        return True

    # --- one chunk, step by step --------------------------------------------------------------------------------

    def _generate(self, splice_frame: int | None, read: int, firm_end: int, *, rollback: bool,
                  snapshot: Any = None, steps: int | None = None, offset_samples: int = 0,
                  refine: bool = False) -> None:
        """One chunk spliced at `splice_frame` (+ `offset_samples` into it: where the crossfade starts), or
        at the normal flow's next (planned) join when None."""
        snapshot = snapshot if snapshot is not None else self.store.snapshot()
        pending_change_s = self._pending_change_s
        self._pending_change_s = None
        join = self._join_for(splice_frame, offset_samples)
        effective, lands_morph = self._morph_bookkeeping(snapshot, join)
        grid = self._grid()
        try:
            request = self._chunk_request(effective, join, grid)
            if steps is None:
                steps = self._step_budget(request, join, splice_frame, read, firm_end)
            chunk = self.stitcher.generate(request, None if join.fresh else splice_frame, steps,
                                           step_callback=self._abandon_on_change(snapshot.version) if refine else None)
        except RefineAbandoned:  # a knob moved during a refine: answer it now, the few-step audio stays queued
            if pending_change_s is not None:
                self._pending_change_s = pending_change_s
            with self._status_lock:
                self._status.refines_abandoned += 1
            return
        except Exception as error:  # GenerationError, NaN, a broken prompt, CUDA errors...
            if pending_change_s is not None:
                self._pending_change_s = pending_change_s
            self._applied_version = snapshot.version
            self._handle_generation_error(error)
            return
        spliced = _Spliced(chunk=chunk, result=self._splice(chunk, join, pending_change_s), join=join,
                           request=request, version=snapshot.version, rollback=rollback, refine=refine,
                           lands_morph=lands_morph)
        if self._harmony_redo_from is not None and spliced.position <= self._harmony_redo_from:
            self._harmony_redo_from = None  # everything from the harmony change on is this chunk's (or later)
        self._after_splice(spliced, effective, grid)
        compute_s = self._note_timing(spliced)
        if spliced.result is None or spliced.result.position >= chunk.start_sample + chunk.audio.shape[-1]:
            # The pump ran past the whole chunk (a long stall): restart fresh at the end of the queue.
            self.stitcher.reset(-(-self.queue.end // self.hop))
        self._add_record(self._chunk_record(spliced))
        self._applied_version = snapshot.version
        self._note_segment(spliced.position, self.stitcher.firm_end_sample, chunk.steps, request.steps)
        self._update_status(spliced, compute_s)

    def _join_for(self, splice_frame: int | None, offset_samples: int) -> _Join:
        """Where the chunk joins: a fresh start at the stream's end, the normal flow's (planned) join, or
        `splice_frame` + `offset_samples` (a rollback)."""
        fresh = self.stitcher.history is None
        if fresh:
            splice, offset_samples = self.stitcher.end_frame, 0
        elif splice_frame is None:
            splice, offset_samples = self.stitcher.next_splice_frame, self.stitcher.planned_offset_samples
        else:
            splice = splice_frame
        crossfade_samples = 0 if fresh else self.config.geometry.crossfade_frames * self.hop
        return _Join(fresh=fresh, splice_frame=splice, offset_samples=offset_samples,
                     own_start_sample=splice * self.hop + offset_samples + crossfade_samples)

    def _morph_bookkeeping(self, snapshot: Any, join: _Join) -> tuple[Any, bool]:
        """The snapshot this chunk is generated from, and whether it lands the pending morph (its own audio
        starts on or after the morph's bar line): before that, the held snapshot's prompts still play."""
        if self._morph.reopen_before(join.own_start_sample, join.fresh):  # a rollback before a landed morph
            with self._status_lock:
                self._status.pending_morph_sample = self._morph.bar_sample
        if self._morph.pending and self.hooks.hold_quantised is not None:
            if self._morph.lands_at(join.own_start_sample):
                return snapshot, True  # the held changes take effect here
            return self.hooks.hold_quantised(snapshot, self._morph.held_snapshot), False
        return snapshot, False

    def _chunk_request(self, effective: Any, join: _Join, grid: BarGrid | None) -> GenerationRequest:
        """The request for `effective`, with the beat offset of the chunk's window start (the clock's)."""
        request = self.hooks.request_for(effective)
        start_frame = join.splice_frame if join.fresh else join.splice_frame - self.config.geometry.pin_frames
        offset_beats = None
        if self.hooks.beat_offset_for is not None:
            offset_beats = self.hooks.beat_offset_for(start_frame * self.hop)
        elif grid is not None:
            offset_beats = grid.beat_at(0)  # the model's clock runs from stream time: the beat at sample 0
        if offset_beats is not None:
            request = replace(request, beat_offset=float(offset_beats))
        if self.hooks.harmony_for is not None:
            curve = self.hooks.harmony_for(effective, start_frame, self.config.geometry.window_frames)
            if curve is not None:
                request = replace(request, chroma=curve.chroma, chroma_mask=curve.mask,
                                  chroma_start_frame=int(start_frame))
        return request

    def _step_budget(self, request: GenerationRequest, join: _Join, splice_frame: int | None, read: int,
                     firm_end: int) -> int:
        """The steps that fit before the playhead reaches the splice (the first chunk: first_chunk_steps)."""
        if join.fresh and self._applied_version < 0:  # the first chunk: nothing plays yet, no deadline
            return first_chunk_request(request, self.config).steps
        target = splice_frame * self.hop if splice_frame is not None else firm_end
        budget_s = self.config.safety * max(0, target - read) / self.sample_rate
        return self._steps_for_budget(request.steps, budget_s)

    def _splice(self, chunk: ChunkAudio, join: _Join, pending_change_s: float | None) -> SpliceResult | None:
        """Into the queue from the join on (the change marker rides along), and into the stitcher's history."""
        offset = join.offset_samples
        result = self.queue.splice(chunk.start_sample + offset, chunk.audio[:, offset:],
                                   chunk.crossfade_samples, marker_time_s=pending_change_s)
        self.stitcher.commit(chunk)
        return result

    def _after_splice(self, spliced: _Spliced, effective: Any, grid: BarGrid | None) -> None:
        """A landed morph is remembered until heard; under a clock, the next join is planned onto a bar line."""
        if spliced.lands_morph:
            self._morph.land(spliced.join.own_start_sample)
            with self._status_lock:
                self._status.pending_morph_sample = None
        self._morph.on_air_snapshot = effective
        if grid is not None:
            target = self._morph.bar_sample if self._morph.pending else None
            crossfade_samples = self.config.geometry.crossfade_frames * self.hop
            self.stitcher.plan_join(plan_join_sample(spliced.join.own_start_sample, self.stitcher.end_frame * self.hop,
                                                     grid, min_new_samples=crossfade_samples, target=target,
                                                     bar_slack_samples=self.hop // 2))

    def _note_timing(self, spliced: _Spliced) -> float:
        """Feed the compute estimates (and end an error backoff); returns the chunk's compute seconds."""
        chunk = spliced.chunk
        added_samples = self.stitcher.firm_end_sample - (chunk.start_sample + spliced.join.offset_samples)
        compute_s = self._estimates.note_chunk(chunk.generate_seconds, chunk.decode_seconds, chunk.steps,
                                               max(self.hop, added_samples) / self.sample_rate)
        self._error_backoff_s = self.config.error_backoff_s
        self._retry_at_s = 0.0
        return compute_s

    def _chunk_record(self, spliced: _Spliced) -> ChunkRecord:
        chunk, result = spliced.chunk, spliced.result
        return ChunkRecord(kind="chunk", index=chunk.chunk_index, sample=spliced.position,
                           requested_sample=chunk.start_sample,
                           read_sample=result.read_position if result else self.queue.read_position,
                           window_start_frame=chunk.window_start_frame, crossfade_frame=chunk.crossfade_frame,
                           fresh=spliced.join.fresh, steps=chunk.steps, requested_steps=spliced.request.steps,
                           version=spliced.version, rollback=spliced.rollback,
                           request=request_to_json(spliced.request), morph=spliced.lands_morph,
                           refine=spliced.refine, splice_offset=spliced.join.offset_samples)

    def _update_status(self, spliced: _Spliced, compute_s: float) -> None:
        result = spliced.result
        with self._status_lock:
            s = self._status
            s.chunks += 1
            s.rollbacks += int(spliced.rollback and not spliced.refine)
            s.refines += int(spliced.refine)
            s.late_splices += int(result is not None and result.late_samples > 0)
            s.real_time_factor = self._estimates.real_time_factor
            s.last_chunk_seconds = compute_s
            s.steps_used = spliced.chunk.steps
            s.steps_requested = spliced.request.steps
            s.applied_version = spliced.version
            s.morphs += int(spliced.lands_morph)

    # --- errors and records -------------------------------------------------------------------------------------

    def _handle_generation_error(self, error: BaseException) -> None:
        """Audio continues: the provisional tail fades out, silence follows; the error is reported."""
        self._report_error(error)
        self._queue_silence(error)
        self.stitcher.chunk_index += 1  # fresh noise: a retry must not replay a chunk that produced NaN
        self._retry_at_s = time.monotonic() + self._error_backoff_s
        self._error_backoff_s = min(2.0, self._error_backoff_s * 2)

    def _queue_silence(self, error: BaseException | None) -> None:
        """Fade out what the next chunk would have crossfaded over, append error_silence_s of silence (frame
        aligned), forget the latent history; logged as a "gap" so a re-render does the same."""
        queue = self.queue
        read = queue.read_position
        gap_start = max(read, self.stitcher.firm_end_frame * self.hop)
        if self.stitcher.history is not None:
            queue.fade_out_from(gap_start)
        end_frame = -(-queue.end // self.hop)
        silence_frames = max(1, round(self.config.error_silence_s * self.sample_rate / self.hop))
        queue.append(np.zeros((queue.channels, end_frame * self.hop - queue.end + silence_frames * self.hop),
                              dtype=np.float32))
        self._add_record(ChunkRecord(kind="gap", index=self.stitcher.chunk_index, sample=gap_start,
                                     requested_sample=gap_start, read_sample=read, gap_samples=queue.end - gap_start,
                                     error=None if error is None else _describe(error)))
        self.stitcher.reset(queue.end // self.hop)
        self._segments = []

    def _report_error(self, error: BaseException) -> None:
        with self._status_lock:
            self._status.errors += 1
            self._status.last_error = _describe(error)
            self._status.last_error_time_s = time.monotonic()
        logger.warning("generation failed: %s", _describe(error))

    def _add_record(self, record: ChunkRecord) -> None:
        with self._records_lock:
            self.records.append(record)
        if self.hooks.on_record is not None:
            try:
                self.hooks.on_record(record)
            except Exception:
                logger.exception("chunk record listener failed")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
