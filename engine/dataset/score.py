"""The symbolic piece every MIDI source produces and the renderer consumes.

All times are in seconds at a constant tempo (the dataset re-tempos every source), so the renderer
never needs a tempo map. Bar lines are explicit, because clips are cut at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.vocabulary import KEY_TONICS, SCALE_INTERVALS  # noqa: F401 (the composer reads it from here)

# Pitch classes 0-11 by name: the shared tonic spelling (sharps), so a piece's key_tonic is a caption tonic.
PITCH_CLASS_NAMES: tuple[str, ...] = KEY_TONICS

# Scales (engine.vocabulary.SCALE_INTERVALS): major/minor are what the key estimators know; the modes are
# labelled as such and excluded from the key-agreement check.
TONAL_SCALES: frozenset[str] = frozenset({"major", "minor"})

DRUM_CHANNEL: int = 9  # GM channel 10, zero-based


@dataclass
class Note:
    """One note: MIDI pitch 0-127, onset and release in seconds, MIDI velocity 1-127."""

    pitch: int
    start_seconds: float
    end_seconds: float
    velocity: int


@dataclass
class Track:
    """One instrument part. `program` is the GM program 0-127 (ignored for drums, which use bank 128).

    role: one of "drums", "bass", "chords", "pad", "lead", "arp", "melody", "counter" — used for captions
    and for choosing render settings. pan: 0.0 = hard left, 0.5 = centre, 1.0 = hard right.
    """

    name: str
    program: int
    is_drum: bool
    role: str
    notes: list[Note] = field(default_factory=list)
    pan: float = 0.5
    # The kit program for drums (GM kits in bank 128: 0 standard, 8 room, 16 power, 24 electronic,
    # 25 TR-808, 32 jazz, 40 brush); ignored for pitched tracks.
    drum_kit: int = 0


@dataclass
class Piece:
    """A whole piece in seconds at a constant tempo, with its bar lines and exact metadata.

    bar_starts_seconds: the onset of every bar, strictly increasing; the piece ends at end_seconds
    (the end of the last bar). bar_energy: one value per bar in [0, 1], the arrangement density the
    composer used (how many layers play and how busy they are), so clips can state their energy.
    """

    piece_id: str
    source: str  # "composer" or "corpus"
    source_name: str  # e.g. "composer/house/000123" or "corpus/bach/bwv66.6"
    style: str
    tempo_bpm: float
    key_tonic: str  # one of PITCH_CLASS_NAMES
    scale: str  # a key of SCALE_INTERVALS
    beats_per_bar: int
    bar_starts_seconds: list[float]
    end_seconds: float
    tracks: list[Track]
    bar_energy: list[float]
    mood: str = ""
    time_signature: str = ""  # "6/8"; "" = beats_per_bar quarters ("3/4")

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    def validate(self) -> None:
        """Raise ValueError if the piece is inconsistent (catches composer bugs before rendering)."""
        if not 20.0 <= self.tempo_bpm <= 300.0:
            raise ValueError(f"{self.piece_id}: tempo {self.tempo_bpm} BPM out of range")
        if self.key_tonic not in PITCH_CLASS_NAMES:
            raise ValueError(f"{self.piece_id}: unknown tonic {self.key_tonic!r}")
        if self.scale not in SCALE_INTERVALS:
            raise ValueError(f"{self.piece_id}: unknown scale {self.scale!r}")
        bars = self.bar_starts_seconds
        if not bars or any(b >= a for a, b in zip(bars[1:], bars[:-1])) or bars[-1] >= self.end_seconds:
            raise ValueError(f"{self.piece_id}: bar lines must increase and end before end_seconds")
        if len(self.bar_energy) != len(bars):
            raise ValueError(f"{self.piece_id}: bar_energy needs one value per bar")
        if not self.tracks or len(self.tracks) > 15:
            raise ValueError(f"{self.piece_id}: needs 1-15 tracks, has {len(self.tracks)}")
        for track in self.tracks:
            for note in track.notes:
                if not (0 <= note.pitch <= 127 and 1 <= note.velocity <= 127):
                    raise ValueError(f"{self.piece_id}/{track.name}: bad note {note}")
                if not (0.0 <= note.start_seconds < note.end_seconds):
                    raise ValueError(f"{self.piece_id}/{track.name}: bad note timing {note}")

    def bar_seconds(self, index: int) -> float:
        """Duration of bar `index` in seconds."""
        nxt = self.bar_starts_seconds[index + 1] if index + 1 < len(self.bar_starts_seconds) else self.end_seconds
        return nxt - self.bar_starts_seconds[index]


# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(tracks: list[Track], start_seconds: float, end_seconds: float) -> tuple[str, str]:
    """Krumhansl-Schmuckler key of the pitched notes sounding in [start, end): (tonic, "major"|"minor").

    Used to label excerpts of corpus works, whose local key can differ from the whole work's (a chorale
    phrase that cadences in the dominant is in the dominant). Drums are ignored; no notes -> ("C", "major").
    """
    weights = np.zeros(12)
    for track in tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            overlap = min(note.end_seconds, end_seconds) - max(note.start_seconds, start_seconds)
            if overlap > 0:
                weights[note.pitch % 12] += overlap
    if not weights.any():
        return "C", "major"
    best = (-2.0, "C", "major")
    for tonic in range(12):
        rotated = np.roll(weights, -tonic)
        for scale, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            correlation = float(np.corrcoef(rotated, profile)[0, 1])
            if correlation > best[0]:
                best = (correlation, PITCH_CLASS_NAMES[tonic], scale)
    return best[1], best[2]
