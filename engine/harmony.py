"""Chords and scales -> chroma curves: the play-time sources of the harmony control (torch-free).

A chroma curve is (frames, 12) pitch-class weights at the latent frame rate (SAMPLE_RATE / LATENT_HOP_FRAMES,
~43.07 frames/s; frame i is centred on sample i * LATENT_HOP_FRAMES, as in engine/dataset/chroma.py) plus a
presence mask (frames,): 1 where harmony is given, 0 where the model is left free ("N.C.", no chord). The
weights here are 0/1 chord templates or a weighted scale profile; the control normalises every frame by its
loudest pitch class (engine/diffusion/controls.chroma_profile), so only their ratios matter.

- Chord symbols (`parse_chord`): a root A-G with an optional # or b, a quality from CHORD_QUALITIES ("" = major,
  "m", "7", "maj7", "m7", "m7b5", "dim", "aug", "sus4", ...), an optional slash bass ("C/E": the bass's pitch
  class is added). "N.C." (or "NC") is no chord. Anything else is a ValueError naming the token.
- A progression (`progression_chroma`): "Am F C G", one chord a bar at `tempo_bpm` and `beats_per_bar`, looped
  over the frames asked for; bar 0 starts at frame 0.
- A key and scale (`key_chroma`, KEY_HARMONY_SOURCES, the first the default): "progression", the key's diatonic
  chords a bar at a time (I vi IV V; i VI iv v in minor; the chord's tones 1 over the other scale tones at 0.4);
  "scale", a constant scale profile (tonic 1, the tonic triad's third and fifth 0.75, the other scale degrees 0.5,
  the rest 0); "tonic_chord", the tonic triad held. Why the progression by default (measured, docs/diffusion.md
  "Key harmony"): a constant target is read like a held chord, so renders given a key circled the tonic triad;
  moving a bar at a time they keep the key as well (0.87 of 30 prompts either way; 0.88 of 100) and move nearer
  to how real music moves. Training smooths the score's chroma over up to 43 frames (1 s), so spread profiles are
  inside what the model has seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.vocabulary import (KEY_HARMONY_SOURCES, KEY_TONICS, LATENT_HOP_FRAMES, SAMPLE_RATE, SCALE_INTERVALS,
                               SCALES, scale_index, tonic_index)

PITCH_CLASSES = 12
LATENT_FRAME_RATE_HZ: float = SAMPLE_RATE / LATENT_HOP_FRAMES  # ~43.07 latent frames per second
DEFAULT_BEATS_PER_BAR = 4
NO_CHORD_SYMBOLS: frozenset[str] = frozenset({"N.C.", "N.C", "NC"})

# What a request logged without a key_harmony meant (take logs written before "progression" became the default).
KEY_HARMONY_OF_OLD_LOGS = "scale"
# Tempo of the bars when a bar-varying source is asked for without one (as `cascade render --chords` does).
DEFAULT_BAR_TEMPO_BPM = 120.0

# Chord quality suffix -> intervals in semitones above the root.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "maj": (0, 4, 7), "M": (0, 4, 7),
    "m": (0, 3, 7), "min": (0, 3, 7), "-": (0, 3, 7),
    "5": (0, 7),
    "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "M7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10), "min7": (0, 3, 7, 10), "-7": (0, 3, 7, 10), "mMaj7": (0, 3, 7, 11),
    "m7b5": (0, 3, 6, 10), "ø": (0, 3, 6, 10),
    "dim": (0, 3, 6), "°": (0, 3, 6), "dim7": (0, 3, 6, 9), "°7": (0, 3, 6, 9),
    "aug": (0, 4, 8), "+": (0, 4, 8), "aug7": (0, 4, 8, 10), "7#5": (0, 4, 8, 10),
    "sus2": (0, 2, 7), "sus4": (0, 5, 7), "sus": (0, 5, 7), "7sus4": (0, 5, 7, 10),
    "add9": (0, 2, 4, 7), "madd9": (0, 2, 3, 7),
    "9": (0, 2, 4, 7, 10), "maj9": (0, 2, 4, 7, 11), "m9": (0, 2, 3, 7, 10),
}

# The scale profile's weights: tonic, the tonic triad's third and fifth, the other scale degrees (others 0).
SCALE_PROFILE_WEIGHTS: tuple[float, float, float] = (1.0, 0.75, 0.5)

# key_harmony "progression": the scale degrees (0 = tonic) whose diatonic triads fill the bars, one a bar, looped.
# Each starts on the tonic and returns to it through the chords that define the mode (the dorian major IV, the
# mixolydian flat VII), so the key stays readable while the harmony moves every bar.
KEY_PROGRESSION_DEGREES: dict[str, tuple[int, ...]] = {
    "major": (0, 5, 3, 4),  # I vi IV V
    "minor": (0, 5, 3, 4),  # i VI iv v
    "dorian": (0, 3, 0, 6),  # i IV i bVII
    "mixolydian": (0, 6, 3, 0),  # I bVII IV I
}
# In a "progression" bar: the chord's tones 1, the key's other scale tones this much (the melody's notes), others 0.
PROGRESSION_SCALE_WEIGHT = 0.4

_NATURALS: dict[str, int] = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_ROOT = re.compile(r"([A-G])([#b♯♭]?)")


@dataclass(frozen=True)
class Chord:
    """One parsed chord symbol: its pitch classes (0 = C) with the slash bass's included; empty for "N.C."."""

    symbol: str
    pitch_classes: frozenset[int]
    root: int | None = None  # None for no chord
    bass: int | None = None  # the slash bass's pitch class, None without one

    @property
    def is_no_chord(self) -> bool:
        return self.root is None

    def chroma(self) -> np.ndarray:
        """(12,) float32: 1 on the chord's pitch classes, 0 elsewhere (all 0 for no chord)."""
        out = np.zeros(PITCH_CLASSES, np.float32)
        out[list(self.pitch_classes)] = 1.0
        return out


@dataclass(frozen=True)
class HarmonyCurve:
    """chroma (frames, 12) float32 pitch-class weights >= 0, mask (frames,) float32: 1 = harmony given."""

    chroma: np.ndarray
    mask: np.ndarray


def _pitch_class(letter: str, accidental: str) -> int:
    shift = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}[accidental]
    return (_NATURALS[letter] + shift) % PITCH_CLASSES


def parse_chord(token: str) -> Chord:
    """A chord symbol ("Am", "F#m7", "Bb", "Dm7b5", "C/E", "N.C.") -> Chord; ValueError naming the token."""
    symbol = token.strip()
    if symbol.upper() in NO_CHORD_SYMBOLS:
        return Chord(symbol=symbol, pitch_classes=frozenset())
    head, slash, bass_text = symbol.partition("/")
    match = _ROOT.match(head)
    if match is None:
        raise ValueError(f"chord {token!r}: a chord starts with its root, A to G (then # or b), or is N.C.")
    root = _pitch_class(*match.groups())
    quality = head[match.end():]
    if quality not in CHORD_QUALITIES:
        raise ValueError(f"chord {token!r}: unknown chord quality {quality!r}; known: "
                         f"{', '.join(repr(q) if not q else q for q in CHORD_QUALITIES)}")
    pitch_classes = {(root + interval) % PITCH_CLASSES for interval in CHORD_QUALITIES[quality]}
    bass = None
    if slash:
        bass_match = _ROOT.fullmatch(bass_text)
        if bass_match is None:
            raise ValueError(f"chord {token!r}: the bass after '/' must be a note, A to G (then # or b)")
        bass = _pitch_class(*bass_match.groups())
        pitch_classes.add(bass)
    return Chord(symbol=symbol, pitch_classes=frozenset(pitch_classes), root=root, bass=bass)


def parse_progression(text: str) -> tuple[Chord, ...]:
    """"Am F C G" (chords separated by spaces, commas or bar lines "|") -> one Chord a bar, in order;
    ValueError for an empty progression or naming the first bad token."""
    tokens = [token for token in re.split(r"[\s,|]+", text) if token]
    if not tokens:
        raise ValueError("the chord progression is empty: give chord symbols, one a bar, e.g. \"Am F C G\"")
    return tuple(parse_chord(token) for token in tokens)


def bar_of_frames(frames: int, tempo_bpm: float, beats_per_bar: int = DEFAULT_BEATS_PER_BAR,
                  frame_rate_hz: float = LATENT_FRAME_RATE_HZ, start_frame: int = 0,
                  beat_offset: float = 0.0) -> np.ndarray:
    """(frames,) int64: the bar (0 = the first) each latent frame's centre falls in, for the frames from
    `start_frame` on; beat_offset (beats) shifts the bar lines as it shifts the beat clock (controls.beat_clock)."""
    if not (np.isfinite(tempo_bpm) and tempo_bpm > 0):
        raise ValueError(f"tempo_bpm must be a positive number, got {tempo_bpm}")
    if beats_per_bar < 1:
        raise ValueError(f"beats_per_bar must be at least 1, got {beats_per_bar}")
    bar_seconds = beats_per_bar * 60.0 / tempo_bpm
    seconds = (start_frame + np.arange(frames, dtype=np.float64)) / frame_rate_hz
    bars = seconds / bar_seconds + beat_offset / beats_per_bar
    # a hair of slack so a frame centred exactly on a bar line is in the new bar despite rounding
    return np.floor(bars + 1e-9).astype(np.int64)


def progression_chroma(chords: Sequence[Chord] | str, tempo_bpm: float, frames: int,
                       beats_per_bar: int = DEFAULT_BEATS_PER_BAR,
                       frame_rate_hz: float = LATENT_FRAME_RATE_HZ) -> HarmonyCurve:
    """One chord a bar, the progression looped over `frames` latent frames -> HarmonyCurve (frames, 12) + (frames,).

    chords: parsed chords or the progression's text. A bar of "N.C." has chroma 0 and mask 0."""
    progression = parse_progression(chords) if isinstance(chords, str) else tuple(chords)
    if not progression:
        raise ValueError("the chord progression is empty")
    templates = np.stack([chord.chroma() for chord in progression])  # (chords, 12)
    given = np.array([0.0 if chord.is_no_chord else 1.0 for chord in progression], np.float32)
    index = bar_of_frames(frames, tempo_bpm, beats_per_bar, frame_rate_hz) % len(progression)
    return HarmonyCurve(chroma=templates[index].astype(np.float32), mask=given[index])


def scale_profile(key: str, scale: str) -> np.ndarray:
    """(12,) float32 weights of the key's scale: SCALE_PROFILE_WEIGHTS on tonic / triad third and fifth / other
    degrees, 0 off the scale. ValueError for an unknown key or scale."""
    tonic, intervals = tonic_index(key), SCALE_INTERVALS[SCALES[scale_index(scale)]]
    tonic_weight, triad_weight, other_weight = SCALE_PROFILE_WEIGHTS
    profile = np.zeros(PITCH_CLASSES, np.float32)
    for degree, interval in enumerate(intervals):
        weight = tonic_weight if degree == 0 else triad_weight if degree in (2, 4) else other_weight
        profile[(tonic + interval) % PITCH_CLASSES] = weight
    return profile


def tonic_chord(key: str, scale: str) -> Chord:
    """The key's tonic triad: major for major and mixolydian, minor for minor and dorian."""
    intervals = SCALE_INTERVALS[SCALES[scale_index(scale)]]
    tonic = tonic_index(key)
    triad = frozenset((tonic + intervals[degree]) % PITCH_CLASSES for degree in (0, 2, 4))
    minor = intervals[2] == 3
    return Chord(symbol=f"{key}{'m' if minor else ''}", pitch_classes=triad, root=tonic)


def diatonic_triad(key: str, scale: str, degree: int) -> Chord:
    """The triad the key's scale builds on `degree` (0 = tonic): its 1st, 3rd and 5th scale steps from there."""
    intervals = SCALE_INTERVALS[SCALES[scale_index(scale)]]
    tonic = tonic_index(key)
    steps = [intervals[(degree + step) % len(intervals)] for step in (0, 2, 4)]
    triad = frozenset((tonic + step) % PITCH_CLASSES for step in steps)
    root = (tonic + steps[0]) % PITCH_CLASSES
    intervals_above_root = (0, *((step - steps[0]) % PITCH_CLASSES for step in steps[1:]))
    quality = next(suffix for suffix, chord in CHORD_QUALITIES.items() if chord == intervals_above_root)
    names = _FLAT_NAMES if _flat_side(key, scale) else KEY_TONICS
    return Chord(symbol=f"{names[root]}{quality}", pitch_classes=triad, root=root)


def _flat_side(key: str, scale: str) -> bool:
    """Whether the key's signature has flats: a flat in its name, or (naturals) a relative major of F Bb Eb Ab Db."""
    if "#" in key or "♯" in key:
        return False
    if "b" in key[1:] or "♭" in key:
        return True
    relative_major = (tonic_index(key) + {"major": 0, "minor": 3, "dorian": 10, "mixolydian": 5}[
        SCALES[scale_index(scale)]]) % PITCH_CLASSES
    return relative_major in (5, 10, 3, 8, 1)


def key_progression(key: str, scale: str) -> tuple[Chord, ...]:
    """The diatonic chords key_harmony "progression" plays, one a bar (KEY_PROGRESSION_DEGREES)."""
    return tuple(diatonic_triad(key, scale, degree) for degree in KEY_PROGRESSION_DEGREES[SCALES[scale_index(scale)]])


def key_chroma(key: str, scale: str, frames: int, source: str = KEY_HARMONY_SOURCES[0], *,
               tempo_bpm: float | None = None, start_frame: int = 0, beat_offset: float = 0.0,
               beats_per_bar: int = DEFAULT_BEATS_PER_BAR) -> HarmonyCurve:
    """A key and scale over `frames` latent frames from `start_frame` -> HarmonyCurve (frames, 12) + (frames,),
    mask 1. source "scale" (the scale profile) or "tonic_chord" (the tonic triad) hold one row; "progression"
    (the default) moves a bar at a time through the key's diatonic chords (key_progression), each chord's tones
    1 over the other scale tones at PROGRESSION_SCALE_WEIGHT, its bars at tempo_bpm (DEFAULT_BAR_TEMPO_BPM when
    None) and beat_offset as the beat clock has them, so chunk after chunk continues the same bars."""
    if source == "scale":
        row = scale_profile(key, scale)
    elif source == "tonic_chord":
        row = tonic_chord(key, scale).chroma()
    elif source == "progression":
        backdrop = (scale_profile(key, scale) > 0).astype(np.float32) * PROGRESSION_SCALE_WEIGHT
        rows = np.stack([np.maximum(backdrop, chord.chroma()) for chord in key_progression(key, scale)])
        bars = bar_of_frames(frames, DEFAULT_BAR_TEMPO_BPM if tempo_bpm is None else tempo_bpm, beats_per_bar,
                             start_frame=start_frame, beat_offset=beat_offset)
        return HarmonyCurve(chroma=rows[bars % len(rows)], mask=np.ones(frames, np.float32))
    else:
        known = ", ".join(name for name in KEY_HARMONY_SOURCES if name != "none")
        raise ValueError(f"unknown key harmony source {source!r}; known: {known}")
    return HarmonyCurve(chroma=np.tile(row, (frames, 1)), mask=np.ones(frames, np.float32))
