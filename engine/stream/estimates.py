"""How fast the generator runs, from the chunks just made: the engine thread's estimate of a chunk's compute
(rollback guards, morph scheduling), the step count that fits a time budget, and the real-time factor."""

from __future__ import annotations

from collections import deque

from engine.stream.planning import choose_steps


class ComputeEstimates:
    """Recent chunk timings (the slowest of the last few, so an estimate errs on the late side). Engine thread only."""

    def __init__(self) -> None:
        self.seconds_per_step: deque[float] = deque(maxlen=6)  # sampling seconds / steps, per chunk
        self.overhead_s: deque[float] = deque(maxlen=6)  # decode seconds per chunk
        self.timing: deque[tuple[float, float]] = deque(maxlen=8)  # (compute s, audio s) per chunk

    def note_chunk(self, generate_s: float, decode_s: float, steps: int, audio_s: float) -> float:
        """One chunk made: sampling `generate_s` at `steps` steps, decoding `decode_s`, adding `audio_s` of
        audio. Returns its compute seconds."""
        compute_s = generate_s + decode_s
        self.seconds_per_step.append(generate_s / max(1, steps))
        self.overhead_s.append(decode_s)
        self.timing.append((compute_s, audio_s))
        return compute_s

    def chunk_seconds(self, steps: int) -> float | None:
        """A chunk's estimated compute at `steps` steps (None: no chunk made yet)."""
        if not self.seconds_per_step:
            return None
        return max(self.overhead_s) + max(self.seconds_per_step) * steps

    def steps_for_budget(self, requested: int, budget_s: float, min_steps: int) -> int:
        """The most steps (<= requested, >= min_steps) whose estimated compute fits `budget_s`."""
        per_step = max(self.seconds_per_step) if self.seconds_per_step else None
        overhead = max(self.overhead_s) if self.overhead_s else 0.0
        return choose_steps(requested, budget_s, per_step, overhead, min_steps)

    @property
    def real_time_factor(self) -> float | None:
        """Compute seconds per audio second over the recent chunks (< 1 keeps up)."""
        compute_total = sum(c for c, _ in self.timing)
        audio_total = sum(a for _, a in self.timing)
        return compute_total / audio_total if audio_total else None
