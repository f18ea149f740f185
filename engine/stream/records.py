"""What an engine thread reports: one ChunkRecord per chunk or gap (the take's automation log, replayed by
render_chunk_log) and EngineStatus snapshots for meters and logs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ChunkRecord:
    """What the engine did, for the take's automation log and `cascade rerender` (JSON via to_json)."""

    kind: str  # "chunk" or "gap" (error: queued audio faded out, silence appended, history reset)
    index: int
    sample: int  # where it landed in the stream (crossfade start / gap start), absolute samples
    requested_sample: int
    read_sample: int = 0  # the pump's stream position when it was spliced in (a replay reads up to here first)
    window_start_frame: int = 0
    crossfade_frame: int = 0
    fresh: bool = False
    steps: int = 0
    requested_steps: int = 0
    version: int = 0
    rollback: bool = False
    gap_samples: int = 0
    error: str | None = None
    request: dict[str, Any] | None = None
    morph: bool = False  # this chunk landed a quantised (bar-line) prompt morph
    refine: bool = False  # a full-step regeneration of few-step audio (same parameters) after the knobs rested
    splice_offset: int = 0  # samples after the crossfade frame where the crossfade started (a bar-line join)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class EngineStatus:
    """A snapshot for meters and logs; counters since start."""

    running: bool = False
    device: str = "cpu"
    chunks: int = 0
    rollbacks: int = 0
    late_splices: int = 0
    real_time_factor: float | None = None  # compute seconds per audio second over recent chunks (< 1 keeps up)
    last_chunk_seconds: float | None = None
    steps_used: int | None = None
    steps_requested: int | None = None
    lead_seconds: float = 0.0  # firmly queued dry audio ahead of the pump
    errors: int = 0
    last_error: str | None = None
    last_error_time_s: float | None = None
    applied_version: int = -1
    morphs: int = 0  # quantised prompt morphs landed on a bar line
    refines: int = 0  # few-step audio regenerated at full steps once the knobs rested
    refines_abandoned: int = 0  # refines given up half-way because a knob moved (its change answered at once)
    pending_morph_sample: int | None = None  # the bar line (stream sample) a held prompt morph will land on
    priority: str = ""  # the engine thread's scheduling priority, in words

