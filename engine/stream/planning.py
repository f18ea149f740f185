"""Planning the next chunk: where its join lands under an external clock (the bar grid) and how many sampler
steps fit the time left before the playhead gets there.

Under an external clock (a `BarGrid`: a MIDI clock's beats on the stream's sample axis) the engine plans each
chunk's join so that a crossfade *ends* on a bar line whenever one is within the chunk's reach (and splits the
way to the next bar line evenly otherwise), so every downbeat is played by one chunk, never by a blend; and it
holds "quantised" changes (prompt morphs) back until the next bar line, where they land as a join: the chunks
before it keep the old prompts, the chunk from the bar line on has the new ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BarGrid:
    """External musical time on the stream's sample axis: beat(s) = beat_at_zero + s * beats_per_sample, with
    a bar line every `beats_per_bar` beats from beat 0 (a MIDI clock's song position 0)."""

    beat_at_zero: float  # beats (quarter notes) at stream sample 0
    beats_per_sample: float  # tempo / 60 / sample rate
    beats_per_bar: int = 4

    def beat_at(self, sample: float) -> float:
        return self.beat_at_zero + sample * self.beats_per_sample

    def sample_at(self, beat: float) -> float:
        return (beat - self.beat_at_zero) / self.beats_per_sample

    def bar_samples(self, from_sample: float, to_sample: float) -> list[float]:
        """Bar lines in [from_sample, to_sample] (fractional samples)."""
        if self.beats_per_sample <= 0 or to_sample < from_sample:
            return []
        bar = math.ceil(self.beat_at(from_sample) / self.beats_per_bar - 1e-9)
        samples = []
        while (sample := self.sample_at(bar * self.beats_per_bar)) <= to_sample:
            if sample >= from_sample:
                samples.append(sample)
            bar += 1
        return samples

    def next_bar_sample(self, at_or_after: float) -> float:
        """The first bar line at or after `at_or_after` (fractional samples)."""
        bar = math.ceil(self.beat_at(at_or_after) / self.beats_per_bar - 1e-9)
        return self.sample_at(bar * self.beats_per_bar)


def plan_join_sample(content_start: int, reach_end: int, grid: BarGrid, *, min_new_samples: int,
                     target: int | None = None, bar_slack_samples: int = 0) -> int | None:
    """Where the next join's crossfade should end (a stream sample), for a chunk whose own audio runs
    (uncrossfaded) from `content_start` and may run up to `reach_end` (its window's end); None: the normal
    join at the window's end.

    `target` (a pending quantised morph's bar line) wins when within reach, however close (a short chunk
    rather than a late morph), and so does any bar line within reach (the farthest, when several are);
    otherwise the way to the next bar line (or target) is split into the fewest chunks that can cover it,
    evenly, and this chunk takes the first share, so that a later join can land on it. Such split joins
    closer than `min_new_samples` to the chunk's start are not planned (a chunk adds at least that). A bar
    line within `bar_slack_samples` of the chunk's start counts as met by it (no chunk of a few samples).
    """
    max_new = reach_end - content_start
    if max_new <= 0:
        return None
    if target is not None and content_start < target <= reach_end:
        return int(target)
    bars = [round(b) for b in grid.bar_samples(content_start + 0.5, reach_end + 0.5)]
    bars = [b for b in bars if content_start + bar_slack_samples < b <= reach_end]
    if bars:
        return max(bars)
    goal = round(grid.next_bar_sample(max(reach_end, content_start + bar_slack_samples) + 0.5))
    if target is not None and target > reach_end:
        goal = min(goal, int(target))
    distance = goal - content_start
    join = content_start + round(distance / math.ceil(distance / max_new))
    return join if content_start + min_new_samples <= join < reach_end else None


def choose_steps(requested: int, budget_s: float, seconds_per_step: float | None, overhead_s: float,
                 min_steps: int = 1) -> int:
    """The most steps (<= requested, >= min_steps) whose estimated compute fits `budget_s`.

    The adaptive rule: fewer steps before the buffer may run dry. Unknown speed (first chunk): requested.
    """
    if seconds_per_step is None or seconds_per_step <= 0:
        return requested
    fit = math.floor((budget_s - overhead_s) / seconds_per_step)
    return int(max(min_steps, min(requested, fit)))
