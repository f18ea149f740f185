"""Pitch classes -> a chord symbol ("Am", "C/E", "G7"), read with engine/harmony.py's own chord tables, so every
name given here parses back (engine.harmony.parse_chord) to exactly the pitch classes it names.

Why the bass decides: the same pitch classes are often two chords (C6 = Am7, Csus2 = Gsus4); the note the
player holds lowest says which is meant, as a musician reads it. A chord whose root is not the bass is named as a
slash chord ("C/E"). Sets no table chord matches (a cluster, a single note, an interval) get no name: the caller
lists their pitch classes instead (`pitch_class_list`).
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.harmony import CHORD_QUALITIES, PITCH_CLASSES

# How the app spells pitch classes: the spellings a lead sheet uses most (F#, Bb, Eb, Ab, C#).
NOTE_NAMES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _canonical_qualities() -> tuple[tuple[str, frozenset[int]], ...]:
    """One suffix per interval set (the table's first spelling: "m" rather than "min" or "-"), ASCII only."""
    seen: dict[frozenset[int], str] = {}
    for suffix, intervals in CHORD_QUALITIES.items():
        key = frozenset(intervals)
        if key not in seen and suffix.isascii():
            seen[key] = suffix
    return tuple((suffix, key) for key, suffix in seen.items())


QUALITIES: tuple[tuple[str, frozenset[int]], ...] = _canonical_qualities()


def note_name(pitch_class: int) -> str:
    return NOTE_NAMES[pitch_class % PITCH_CLASSES]


def pitch_class_list(pitch_classes: Iterable[int]) -> str:
    """"C E F#": the pitch classes in order from C, for a set that is no named chord."""
    return " ".join(note_name(pc) for pc in sorted(set(pitch_classes)))


def name_chord(pitch_classes: Iterable[int], bass: int | None = None) -> str | None:
    """The chord symbol of exactly these pitch classes (0 = C), the bass's pitch class as its root when that
    reads as a chord, else the first root (from C) that does, as a slash chord over the bass; None when no
    chord of the table has exactly these pitch classes."""
    classes = frozenset(pc % PITCH_CLASSES for pc in pitch_classes)
    if len(classes) < 2:
        return None
    roots = sorted(classes)
    if bass is not None and bass % PITCH_CLASSES in classes:
        roots.remove(bass % PITCH_CLASSES)
        roots.insert(0, bass % PITCH_CLASSES)
    for root in roots:
        intervals = frozenset((pc - root) % PITCH_CLASSES for pc in classes)
        for suffix, quality in QUALITIES:
            if quality == intervals:
                name = note_name(root) + suffix
                if bass is not None and bass % PITCH_CLASSES != root:
                    name += "/" + note_name(bass)
                return name
    return None
