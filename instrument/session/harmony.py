"""The held chord as the live harmony target: `HarmonyFollower` turns what the player holds (instrument.midi.
HeldNotes) into a timeline of harmony targets on the stream's sample axis, each landing on the next bar line (or
beat) after it was played as heard, and gives the engine each chunk window's chroma curve from it.

Only a session whose model has the harmony control makes one (LiveSession): with any other model nothing is
sent to the engine. The follower is the one owner of the timeline; the MIDI thread writes it (`on_held`, one
short lock, no waiting), the engine thread reads a window of it (`harmony_for`) and the change to redo
(`harmony_change`), the GUI thread reads `display`.

Musical time: the external MIDI clock's bar grid while one runs (LiveSession.bar_grid), else the model's own beat
clock, which runs from stream sample 0 at the tempo knob's tempo (engine.diffusion.controls.beat_clock with the
request's beat offset 0), in bars of DEFAULT_BEATS_PER_BAR beats. "Next bar" is the first bar line after the
sample heard when the chord's last key went down, so a chord played on a downbeat waits a bar: the audio of that
downbeat has already been heard.

Targets: a chord (its held chroma, mask 1); "key" (what the key gives by the key_harmony setting: its chords a
bar at a time, its scale profile or its tonic chord, engine.harmony.key_chroma, on the bars of the beat clock the
engine gives the model; "none": mask 0); "free" (mask 0: the model chooses). Before the first chord no chroma is
sent at all: the engine gives what the key gives itself, from the same request fields and beat offset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.harmony import DEFAULT_BEATS_PER_BAR, KEY_HARMONY_SOURCES, PITCH_CLASSES, HarmonyCurve, key_chroma, \
    key_progression, tonic_chord
from engine.stream import BarGrid
from engine.stream.config import HarmonyChange
from engine.vocabulary import KEY_TONICS, SCALES
from instrument.midi.held_notes import HeldChange, HeldChord, HeldNotes
from instrument.parameters import HARMONY_QUANTISE, HARMONY_RELEASE, ParameterStore

KEEP_PAST_SECONDS = 10.0  # targets superseded longer ago than this are forgotten (the engine never goes back)


@dataclass(frozen=True)
class HarmonyTarget:
    """One harmony target: `kind` "chord" (with its 12 weights), "key" or "free"; `name` as shown."""

    kind: str
    name: str
    chroma: tuple[float, ...] | None = None


@dataclass(frozen=True)
class HarmonyDisplay:
    """What the window shows: the target heard now (None: no chord yet), the one waiting for its bar line (None:
    none) and how many beats away it is, what the hands hold, and what the key gives now (None: "none")."""

    current: HarmonyTarget | None
    pending: HarmonyTarget | None
    pending_beats: float | None
    held: HeldChord
    key: HarmonyTarget | None = None


class HarmonyFollower:
    """Held chords -> harmony targets landing on the next bar line or beat -> each chunk's chroma curve."""

    def __init__(self, store: ParameterStore, held_notes: HeldNotes, stream_sample_at: Callable[[float], float],
                 bar_grid: Callable[[], BarGrid | None], *, sample_rate: int, hop_frames: int,
                 beats_per_bar: int = DEFAULT_BEATS_PER_BAR) -> None:
        self.store = store
        self.held_notes = held_notes
        self._stream_sample_at = stream_sample_at
        self._bar_grid = bar_grid
        self.sample_rate = sample_rate
        self.hop_frames = hop_frames
        self.beats_per_bar = beats_per_bar
        self._lock = threading.Lock()
        self._segments: list[tuple[int, HarmonyTarget]] = []  # (first stream sample, target), ascending
        self._unsent: HarmonyChange | None = None  # the change the engine has not been told yet
        self.version = 0
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.held_notes.add_listener(self.on_held)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- musical time -------------------------------------------------------------------------------------------

    def grid(self) -> BarGrid:
        """The bar grid chords land on: the MIDI clock's while it runs, else the model's beat clock's."""
        external = self._bar_grid()
        if external is not None:
            return external
        tempo_bpm = float(self.store.get("tempo_bpm"))
        return BarGrid(0.0, tempo_bpm / 60.0 / self.sample_rate, self.beats_per_bar)

    def landing_sample(self, heard_sample: float) -> int:
        """The first bar line (or beat, by the harmony_quantise setting) after `heard_sample`."""
        grid = self.grid()
        unit_beats = grid.beats_per_bar if self._setting("harmony_quantise", HARMONY_QUANTISE) == "bar" else 1
        beats = grid.beat_at(heard_sample)
        boundary = (np.floor(beats / unit_beats + 1e-9) + 1) * unit_beats
        return int(round(grid.sample_at(boundary)))

    def _setting(self, name: str, choices: tuple[str, ...]) -> str:
        return choices[int(self.store.get(name))]

    # --- the MIDI thread ----------------------------------------------------------------------------------------

    def on_held(self, change: HeldChange) -> None:
        """A key went down (the held chord is the next target) or everything was let go (per harmony_release)."""
        if self.store.get("harmony_follow") < 0.5:
            return
        if change.pressed and not change.chord.empty:
            target = HarmonyTarget("chord", change.chord.name, change.chord.chroma)
        elif change.chord.empty:
            release = self._setting("harmony_release", HARMONY_RELEASE)
            if release == "latch":
                return
            target = HarmonyTarget(release, release)
        else:
            return  # some keys let go, others still held: the chord played stays
        heard = self._stream_sample_at(change.arrival_s)
        self.schedule(target, self.landing_sample(heard), heard)

    def schedule(self, target: HarmonyTarget, from_sample: int, heard_sample: float) -> None:
        """`target` from stream sample `from_sample` on, replacing whatever was waiting (not yet heard)."""
        with self._lock:
            unheard = [start for start, _ in self._segments if start > heard_sample]
            kept = [(start, t) for start, t in self._segments if start <= heard_sample]
            changed_from = min(unheard, default=from_sample)
            if not kept or kept[-1][1] != target:
                kept.append((from_sample, target))
            elif not unheard:
                return  # the chord already in force, played again: nothing changes
            forget = heard_sample - KEEP_PAST_SECONDS * self.sample_rate
            while len(kept) > 1 and kept[1][0] <= forget:
                kept.pop(0)
            self._segments = kept
            self.version += 1
            changed_from = min(changed_from, from_sample)
            if self._unsent is not None:
                changed_from = min(changed_from, self._unsent.from_sample)
            self._unsent = HarmonyChange(self.version, time.monotonic(), int(changed_from))

    # --- the engine thread --------------------------------------------------------------------------------------

    def harmony_change(self) -> HarmonyChange | None:
        """The change since the last call (its earliest sample), once; None: none."""
        with self._lock:
            change, self._unsent = self._unsent, None
        return change

    def harmony_for(self, snapshot: Any, start_frame: int, frames: int) -> HarmonyCurve | None:
        """The chroma curve of stream frames start_frame .. start_frame + frames (frame i centred on sample
        i * hop_frames); None when following is off or no target reaches the window."""
        if snapshot["harmony_follow"] < 0.5:
            return None
        with self._lock:
            segments = list(self._segments)
        samples = (start_frame + np.arange(frames, dtype=np.int64)) * self.hop_frames
        if not segments or samples[-1] < segments[0][0]:
            return None
        key = self.key_curve(snapshot, start_frame, frames)
        chroma, mask = key.chroma.copy(), key.mask.copy()  # before the first chord: what the engine gives itself
        for start, target in segments:
            rows = samples >= start
            if target.kind == "chord":
                chroma[rows], mask[rows] = np.asarray(target.chroma, np.float32), 1.0
            elif target.kind == "free":
                chroma[rows], mask[rows] = 0.0, 0.0
            else:
                chroma[rows], mask[rows] = key.chroma[rows], key.mask[rows]
        return HarmonyCurve(chroma=chroma.astype(np.float32), mask=mask)

    def key_curve(self, values: Any, start_frame: int, frames: int) -> HarmonyCurve:
        """What the key gives (the key_harmony setting) over stream frames start_frame .. + frames, on the bars of
        the model's beat clock as the engine sets it (tempo knob, the grid's beat at sample 0; bars of
        DEFAULT_BEATS_PER_BAR beats, as the engine's own key harmony): mask 0 everywhere for "none"."""
        source = KEY_HARMONY_SOURCES[int(values["key_harmony"])]
        if source == "none":
            return HarmonyCurve(chroma=np.zeros((frames, PITCH_CLASSES), np.float32), mask=np.zeros(frames, np.float32))
        return key_chroma(KEY_TONICS[int(values["key"])], SCALES[int(values["scale"])], frames, source,
                          tempo_bpm=float(values["tempo_bpm"]), start_frame=start_frame,
                          beat_offset=self.grid().beat_at(0))

    def key_target(self, values: Any, sample: float) -> HarmonyTarget | None:
        """What the key gives at stream `sample`, named as the window shows it ("Bb", "D minor", "Dm"); None for
        key_harmony "none"."""
        source = KEY_HARMONY_SOURCES[int(values["key_harmony"])]
        if source == "none":
            return None
        key, scale = KEY_TONICS[int(values["key"])], SCALES[int(values["scale"])]
        frame = max(0, int(sample // self.hop_frames))
        row = self.key_curve(values, frame, 1).chroma[0]
        if source == "progression":
            name = next((chord.symbol for chord in key_progression(key, scale)
                         if np.array_equal(chord.chroma() > 0, row == row.max())), f"{key} {scale}")
        else:
            name = f"{key} {scale}" if source == "scale" else tonic_chord(key, scale).symbol
        return HarmonyTarget("key", name, tuple(float(x) for x in row))

    # --- the GUI thread -----------------------------------------------------------------------------------------

    def display(self, now_s: float | None = None) -> HarmonyDisplay:
        heard = self._stream_sample_at(time.monotonic() if now_s is None else now_s)
        with self._lock:
            segments = list(self._segments)
        current = next((t for start, t in reversed(segments) if start <= heard), None)
        upcoming = next(((start, t) for start, t in segments if start > heard), None)
        beats = None
        if upcoming is not None:
            beats = (upcoming[0] - heard) * self.grid().beats_per_sample
        values = {name: self.store.get(name) for name in ("key", "scale", "key_harmony", "tempo_bpm")}
        return HarmonyDisplay(current=current, pending=None if upcoming is None else upcoming[1],
                              pending_beats=beats, held=self.held_notes.chord(), key=self.key_target(values, heard))
