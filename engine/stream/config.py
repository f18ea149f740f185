"""What an engine thread is given: its settings (EngineConfig), the parameter store it reads (ParameterSource)
and the instrument's answers to its questions (EngineHooks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.harmony import HarmonyCurve
from engine.request import GenerationRequest
from engine.stream.geometry import StreamGeometry
from engine.stream.planning import BarGrid
from engine.stream.records import ChunkRecord


class ParameterSource(Protocol):
    """What the engine needs of instrument.parameters.ParameterStore (duck-typed: engine/ imports no
    instrument code)."""

    @property
    def version(self) -> int: ...

    def snapshot(self) -> Any: ...

    def changes_since(self, version: int) -> list[Any]: ...

    def subscribe(self, callback: Callable[[str, Any, str], None]) -> Callable[[], None]: ...


@dataclass(frozen=True)
class EngineConfig:
    """How the engine thread keeps ahead, answers changes and survives errors (times in seconds)."""

    geometry: StreamGeometry = StreamGeometry()
    lead_chunks: float = 1.0  # generate the next chunk when less than this many chunks are firmly queued
    rollback: bool = True  # answer generation changes by regenerating just ahead of the playhead
    rollback_min_gain_s: float = 0.15  # ... only if that makes the change heard at least this much sooner
    guard_factor: float = 1.5  # rollback splice point: playhead + guard_factor x estimated chunk compute
    guard_extra_s: float = 0.05  # + this (pump ring, scheduling)
    latency_target_s: float | None = 0.3  # a rollback chunk may use fewer steps to be heard within this
    rollback_min_steps: int = 2  # ... but not fewer than this (one step of a few-step sampler sounds raw)
    rollback_min_interval_s: float = 0.15  # a knob being turned: at most one rollback per this long (the
    #                                         changes in between go into the next one, not one rollback each)
    refine_after_s: float | None = 0.25  # once the knobs have rested this long, audio generated with fewer
    #                                      steps than requested is regenerated at full steps (None: never)
    change_debounce_s: float = 0.003  # settle after a change: a note trigger writes four weights at once
    min_steps: int = 1
    first_chunk_steps: int | None = 4  # a stream's first chunk uses at most this many steps: the first sound waits
    #                                    for it, and the refine (above) brings what is not yet heard of it to
    #                                    full steps once the knobs rest (None: full steps)
    safety: float = 0.7  # adaptive steps: plan to use at most this fraction of the time left
    error_silence_s: float = 0.25  # silence queued per failed attempt (audio continues, it does not stop)
    error_backoff_s: float = 0.2  # first retry delay after a generation error (doubles up to 2 s)
    queue_seconds: float = 20.0  # dry queue capacity
    idle_wait_s: float = 0.005  # how often the thread looks at the buffer when it has nothing to do
    harmony_settle_s: float = 0.04  # a chord's notes arrive a few ms apart: answer the chord, not each note



@dataclass(frozen=True)
class HarmonyChange:
    """The instrument's harmony timeline changed (EngineHooks.harmony_change): its `version`, when
    (`changed_s`, time.monotonic()) and the first stream sample whose chroma differs (`from_sample`)."""

    version: int
    changed_s: float
    from_sample: int


@dataclass(frozen=True)
class EngineHooks:
    """The instrument's side of an EngineThread: callables it asks (on the engine thread) what to generate.

    `request_for(snapshot)` turns a parameter snapshot into a GenerationRequest (the instrument owns the
    parameter names); `is_generation_change(name)` says which changes need new audio (effects do not).
    `beat_offset_for(start_sample)` (optional) returns GenerationRequest.beat_offset for a chunk starting at
    that stream sample (a MIDI clock's phase).

    `bar_grid_for()` (optional) returns the external clock's BarGrid, or None while there is none. With a grid,
    the chunk's beat offset follows it (unless beat_offset_for is given), joins are planned onto its bar lines
    (`plan_join_sample`; exactly: a crossfade may start inside a frame), and changes for which
    `is_quantised_change(change)` holds are held back until the next bar line that can still be reached: chunks
    before it are generated from `hold_quantised(current snapshot, held snapshot)` (the held one's prompts,
    everything else current, so other knobs keep their latency), and the chunk whose crossfade ends on that bar
    line takes them all.

    `waits_for_next_chunk(change)` (optional) marks changes that ride along with the next chunk instead of
    rolling back: a MIDI clock's tempo, re-estimated from jittery ticks, would otherwise roll back several times
    a second and pull joins off the bar lines it is meant to keep.

    `harmony_for(snapshot, start_frame, frames)` (optional; only for a model with the harmony control) gives
    the chroma target of the chunk window's stream frames (engine.harmony.HarmonyCurve, row 0 = start_frame),
    or None for none; `harmony_change()` says when that timeline last changed, so the engine regenerates the
    queued audio from the change's first sample on (a held chord landing on the next bar line).

    `on_record(record)` (optional) hears every ChunkRecord as it is made; `extra_latency_samples()` is the
    output's latency after the dry queue (the pump's), which a rollback's step budget leaves room for.
    """

    request_for: Callable[[Any], GenerationRequest]
    is_generation_change: Callable[[str], bool] = lambda name: True
    beat_offset_for: Callable[[int], float | None] | None = None
    bar_grid_for: Callable[[], BarGrid | None] | None = None
    is_quantised_change: Callable[[Any], bool] = lambda change: False
    hold_quantised: Callable[[Any, Any], Any] | None = None
    on_record: Callable[[ChunkRecord], None] | None = None
    extra_latency_samples: Callable[[], int] = lambda: 0
    waits_for_next_chunk: Callable[[Any], bool] = lambda change: False
    harmony_for: Callable[[Any, int, int], HarmonyCurve | None] | None = None
    harmony_change: Callable[[], HarmonyChange | None] | None = None
