"""Quantised changes held to a bar line: the state of a prompt morph from the knob move to the bar line where it
is heard. The engine thread drives it (and alone touches it); EngineHooks.hold_quantised mixes the snapshots."""

from __future__ import annotations

from typing import Any


class MorphHold:
    """The pending and the landed prompt morph of a stream.

    Under an external clock a quantised change (a prompt morph) is held: until the bar line `bar_sample` (where
    the crossfade of the chunk that lands it ends), chunks keep the prompts of `held_snapshot`, the snapshot on
    air when the change came. Once a chunk has landed it, the morph is `landed` until the playhead gets there: a
    chunk spliced before that (a rollback for another knob) makes it pending again, so the new prompts are never
    heard before the bar line.
    """

    def __init__(self) -> None:
        self.on_air_snapshot: Any = None  # the effective snapshot of the latest chunk
        self.held_snapshot: Any = None  # its prompts play until the pending morph's bar line (None: no morph)
        self.bar_sample: int | None = None  # the bar line (stream sample) where the pending morph's crossfade ends
        # A morph landed in audio not yet played: (the sample its chunk's own audio starts, the snapshot held
        # before it). Until the playhead gets there, a chunk spliced earlier must not bring the morph forward.
        self.landed: tuple[int, Any] | None = None
        self.seen_version = -1  # the newest quantised change already scheduled

    @property
    def pending(self) -> bool:
        return self.held_snapshot is not None

    def clear(self) -> None:
        """No morph pending (it landed, or there is no clock to hold it to any more)."""
        self.held_snapshot = None
        self.bar_sample = None

    def hold(self, versions: list[int]) -> None:
        """Quantised changes came at these store versions: hold the prompts on air; the bar line is chosen anew."""
        fresh = [v for v in versions if v > self.seen_version]
        if fresh:
            self.seen_version = max(fresh)
            if self.held_snapshot is None:
                self.held_snapshot = self.on_air_snapshot
            self.bar_sample = None  # scheduled next: the next bar line that can be reached

    def forget_if_heard(self, quantise: bool, read_sample: int) -> None:
        """A landed morph the playhead has reached is heard (and without a clock there is nothing to hold it to)."""
        if self.landed is not None and (not quantise or read_sample >= self.landed[0]):
            self.landed = None

    def reopen_before(self, own_start_sample: int, fresh: bool) -> bool:
        """A chunk whose own audio starts before a landed morph's bar line replaces audio before it: the morph
        is pending again (that chunk keeps the old prompts, the morph lands on its bar line anew). Returns
        whether it reopened."""
        if self.landed is None or self.held_snapshot is not None or fresh or own_start_sample >= self.landed[0]:
            return False
        self.bar_sample, self.held_snapshot = self.landed
        self.landed = None
        return True

    def lands_at(self, own_start_sample: int) -> bool:
        """Whether a chunk whose own audio starts here lands the pending morph (on the bar line or, missed, later)."""
        return self.bar_sample is not None and own_start_sample >= self.bar_sample

    def land(self, own_start_sample: int) -> None:
        """The chunk whose own audio starts here took the held changes: landed until heard, none pending."""
        self.landed = (own_start_sample, self.held_snapshot)
        self.clear()
