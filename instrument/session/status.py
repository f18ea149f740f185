"""What a running session reports: SessionStatus (one snapshot of engine, output, feeder and take), its
one-line form for a terminal, and its JSON form for `cascade play`'s summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.stream import EngineStatus


@dataclass
class SessionStatus:
    """One snapshot of a running session: engine, output, feeder, effects pump and take."""

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


def status_json(status: SessionStatus) -> dict[str, Any]:
    data = asdict(status)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in data.items()}

