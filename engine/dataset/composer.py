"""Procedural MIDI composer: style-typical multi-track pieces with exact tempo/key/bar metadata.

Every piece is generated from a `numpy.random.Generator` only (same seed -> identical piece). The
pieces feed the audio dataset, where independent tempo and key estimators must agree with the
metadata, so the composer deliberately keeps (a) an audible pulse in every bar (drum timekeeping
layer or an on-the-beat pitched part) and (b) a clear tonal centre (progressions start on the
tonic and return to it every 4 bars, the bass states chord roots, melodies land on chord tones).

Public API: STYLES, StyleSpec, compose, piece_to_pretty_midi, instrument_name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pretty_midi

from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS, Note, Piece, Track

__all__ = ["STYLES", "StyleSpec", "compose", "piece_to_pretty_midi", "instrument_name"]

# ---------------------------------------------------------------------------------------------
# Drum patterns: one string per GM percussion pitch, one character per 16th (12 for 3/4 bars).
# Characters give the velocity: X accent, x normal, o soft, g ghost, "." rest.
# ---------------------------------------------------------------------------------------------
KICK, RIM, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
CRASH, RIDE, TAMBOURINE, COWBELL, SHAKER, LOW_TOM, MID_TOM, HIGH_TOM = 49, 51, 54, 56, 70, 45, 47, 50

_VELOCITY_OF_CHAR: dict[str, int] = {"X": 112, "x": 92, "o": 68, "g": 38}

# Timekeeping pitches stay in every bar (even breakdowns) so the beat is always audible.
_PULSE_PITCHES: frozenset[int] = frozenset({CLOSED_HAT, PEDAL_HAT, RIDE, SHAKER, TAMBOURINE})
# Kick/snare family: present once the arrangement is past its sparsest point.
_CORE_PITCHES: frozenset[int] = frozenset({KICK, SNARE, CLAP, RIM})

DrumPattern = dict[int, str]

DRUM_PATTERNS: dict[str, tuple[DrumPattern, ...]] = {
    "four_on_floor": (
        {KICK: "X...X...X...X...", CLAP: "....X.......X...", CLOSED_HAT: "x.o.x.o.x.o.x.o.",
         OPEN_HAT: "..x...x...x...x."},
        {KICK: "X...X...X...X...", CLAP: "....X.......X...", CLOSED_HAT: "xoxoxoxoxoxoxoxo",
         SHAKER: "..o...o...o...o."},
    ),
    "techno": (
        {KICK: "X...X...X...X...", CLOSED_HAT: "xoxoxoxoxoxoxoxo", OPEN_HAT: "..x...x...x...x.",
         CLAP: "....x.......x..."},
        {KICK: "X...X...X...X...", RIDE: "x.o.x.o.x.o.x.o.", OPEN_HAT: "..x...x...x...x.",
         RIM: "...o..o....o..o."},
    ),
    "breakbeat": (
        {KICK: "X.........X.....", SNARE: "....X.......X...", CLOSED_HAT: "x.o.x.o.x.o.x.o.",
         OPEN_HAT: "..............x."},
        {KICK: "X.X.......XX....", SNARE: "....X..g.g..X..g", CLOSED_HAT: "x.o.x.o.x.o.x.o.",
         RIDE: "o...o...o...o..."},
    ),
    "boom_bap": (
        {KICK: "X......x..X.....", SNARE: "....X.......X...", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
        {KICK: "X.........Xx....", SNARE: "....X.......X..g", CLOSED_HAT: "x.o.x.o.x.o.x.o.",
         OPEN_HAT: "..............x."},
    ),
    "backbeat": (
        {KICK: "X.......X.x.....", SNARE: "....X.......X...", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
        {KICK: "X.x.....X.x.....", SNARE: "....X.......X...", CLOSED_HAT: "x.x.x.x.x.x.x.x.",
         OPEN_HAT: "..............x."},
        {KICK: "X.......X.x.....", SNARE: "....X.......X...", RIDE: "x.o.x.o.x.o.x.o."},
    ),
    "funk": (
        {KICK: "X..x......X..x..", SNARE: "....X..g.g..X..g", CLOSED_HAT: "xoxoxoxoxoxoxoxo"},
        {KICK: "X.x....x..X.....", SNARE: "....X.g..g..X.g.", CLOSED_HAT: "xoxoxoxoxoxoxoxo",
         OPEN_HAT: "......x........."},
    ),
    "jazz_swing": (
        {RIDE: "x...X.o.x...X.o.", PEDAL_HAT: "....x.......x...", KICK: "g...g...g...g...",
         SNARE: "......g.......g."},
        {RIDE: "x...X.o.x...X.o.", PEDAL_HAT: "....x.......x...", KICK: "g.......g.......",
         SNARE: "..g.......g....."},
    ),
    "one_drop": (
        {KICK: "........X.......", RIM: "........X.......", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
        {KICK: "........X.......", SNARE: "........X.......", CLOSED_HAT: "x.o.x.o.x.o.x.o.",
         OPEN_HAT: "......o.......o."},
        # "steppers" variation: kick on every beat.
        {KICK: "X...X...X...X...", RIM: "........X.......", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
    ),
    "ambient_pulse": (
        {KICK: "X.......o.......", SHAKER: "x.o.x.o.x.o.x.o."},
        {KICK: "X.......X.......", RIM: "....o.......o...", SHAKER: "x...x...x...x..."},
    ),
    "folk": (
        {KICK: "X.......X.......", SNARE: "....x.......x...", TAMBOURINE: "x.o.x.o.x.o.x.o."},
        {KICK: "X.......X.......", SNARE: "....x.......x...", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
    ),
    "disco": (
        {KICK: "X...X...X...X...", SNARE: "....X.......X...", CLOSED_HAT: "xoxoxoxoxoxoxoxo",
         OPEN_HAT: "..x...x...x...x."},
    ),
    "synthwave": (
        {KICK: "X.......X.......", SNARE: "....X.......X...", CLOSED_HAT: "x.x.x.x.x.x.x.x."},
        {KICK: "X...X...X...X...", SNARE: "....X.......X...", CLOSED_HAT: "xoxoxoxoxoxoxoxo"},
    ),
    "bossa": (
        {KICK: "X..xX..xX..xX..x", RIM: "X..X..X...X..X..", CLOSED_HAT: "xoxoxoxoxoxoxoxo"},
        {KICK: "X..xX..xX..xX..x", RIM: "X..X...X..X..X..", SHAKER: "xoxoxoxoxoxoxoxo"},
    ),
    # 3/4 bars (12 sixteenths).
    "waltz": (
        {KICK: "X...........", SNARE: "....o...o...", CLOSED_HAT: "x.o.x.o.x.o."},
        {KICK: "X...........", RIM: "....o...o...", TAMBOURINE: "x...x...x..."},
    ),
    "jazz_waltz": (
        {RIDE: "x...x.o.x.o.", PEDAL_HAT: "....x...x...", KICK: "g...........", SNARE: "......g....."},
    ),
}

# ---------------------------------------------------------------------------------------------
# Bass and chord rhythms (positions and durations in beats, 4/4 unless noted).
# Bass note kinds: R root, O octave above root, 5 fifth, 3 third, 7 seventh (fifth if triad),
# A approach (scale step next to the next bar's root).
# ---------------------------------------------------------------------------------------------
BassPattern = tuple[tuple[float, float, str], ...]

BASS_PATTERNS: dict[str, tuple[BassPattern, ...]] = {
    "sustain": (((0.0, 4.0, "R"),), ((0.0, 2.0, "R"), (2.0, 2.0, "5"))),
    "root8": (tuple((i * 0.5, 0.42, "R") for i in range(8)),
              tuple((i * 0.5, 0.42, "O" if i in (3, 7) else "R") for i in range(8))),
    "offbeat": (tuple((i + 0.5, 0.4, "R") for i in range(4)),
                ((0.0, 0.3, "R"),) + tuple((i + 0.5, 0.4, "R") for i in range(4))),
    "octave8": (tuple((i * 0.5, 0.4, "R" if i % 2 == 0 else "O") for i in range(8)),),
    "house": (((0.0, 0.4, "R"), (0.75, 0.25, "R"), (1.5, 0.4, "O"), (2.5, 0.4, "R"), (3.0, 0.4, "5"),
               (3.5, 0.4, "R")),
              ((0.0, 0.9, "R"), (1.5, 0.4, "R"), (2.0, 0.4, "5"), (2.75, 0.5, "R"), (3.5, 0.4, "O"))),
    "boom_bap": (((0.0, 1.5, "R"), (1.75, 0.6, "R"), (2.5, 1.4, "5")),
                 ((0.0, 2.2, "R"), (2.5, 0.5, "R"), (2.75, 1.0, "3"))),
    "dnb": (((0.0, 2.3, "R"), (2.5, 1.4, "R")), ((0.0, 1.4, "R"), (1.5, 0.9, "5"), (2.5, 1.4, "R"))),
    "funk": (((0.0, 0.3, "R"), (0.75, 0.2, "O"), (1.0, 0.2, "R"), (1.75, 0.2, "5"), (2.5, 0.3, "R"),
              (3.0, 0.2, "O"), (3.5, 0.25, "7")),
             ((0.0, 0.4, "R"), (0.5, 0.2, "R"), (1.25, 0.2, "O"), (2.0, 0.3, "R"), (2.75, 0.2, "5"),
              (3.25, 0.2, "3"), (3.5, 0.3, "R"))),
    "reggae": (((0.0, 0.9, "R"), (1.5, 0.4, "3"), (2.0, 0.9, "5"), (3.5, 0.4, "R")),
               ((0.0, 1.4, "R"), (2.0, 0.4, "R"), (2.5, 0.4, "3"), (3.0, 0.9, "5"))),
    "root_fifth": (((0.0, 1.8, "R"), (2.0, 1.8, "5")), ((0.0, 0.9, "R"), (1.0, 0.9, "5"), (2.0, 0.9, "R"),
                                                        (3.0, 0.9, "5"))),
    "rock": (tuple((i * 0.5, 0.42, "R") for i in range(8)),
             ((0.0, 0.9, "R"), (1.0, 0.4, "R"), (1.5, 0.4, "R"), (2.0, 0.9, "R"), (3.0, 0.4, "5"),
              (3.5, 0.4, "A"))),
    "bossa": (((0.0, 1.4, "R"), (1.5, 0.5, "5"), (2.0, 1.4, "5"), (3.5, 0.5, "R")),),
    "walking": (),  # generated note by note
}
# 3/4 bass: root on the downbeat, chords answer on 2 and 3 ("oom-pah-pah").
_WALTZ_BASS: tuple[BassPattern, ...] = (((0.0, 1.8, "R"), (2.0, 0.9, "5")), ((0.0, 2.8, "R"),))

ChordRhythm = tuple[tuple[float, float], ...]

CHORD_RHYTHMS: dict[str, tuple[ChordRhythm, ...]] = {
    "sustain": (((0.0, 4.0),), ((0.0, 2.0), (2.0, 2.0))),
    "pulse": (((0.0, 0.8), (1.0, 0.8), (2.0, 0.8), (3.0, 0.8)),
              ((0.0, 0.45), (1.0, 0.45), (2.0, 0.45), (3.0, 0.45))),
    "stabs": (((0.0, 0.3), (0.75, 0.3), (1.5, 0.3), (2.5, 0.3), (3.25, 0.3)),
              ((0.5, 0.3), (1.5, 0.3), (2.5, 0.3), (3.5, 0.3)),
              ((0.0, 0.4), (1.0, 0.3), (1.75, 0.3), (3.0, 0.4))),
    "skank": (((1.0, 0.35), (3.0, 0.35)), ((1.0, 0.3), (1.5, 0.2), (3.0, 0.3), (3.5, 0.2))),
    "strum8": (tuple((i * 0.5, 0.45) for i in range(8)),
               ((0.0, 0.9), (1.0, 0.45), (1.5, 0.45), (2.0, 0.9), (3.0, 0.45), (3.5, 0.45))),
    "strum": (((0.0, 0.9), (1.0, 0.45), (1.5, 0.45), (2.0, 0.9), (3.0, 0.45), (3.5, 0.45)),
              ((0.0, 0.9), (1.0, 0.9), (2.0, 0.45), (2.5, 0.45), (3.0, 0.9))),
    "comp": (((0.0, 0.6), (1.5, 0.5)), ((1.0, 0.5), (2.5, 0.5), (3.0, 0.6)), ((0.0, 0.9), (2.0, 0.5), (3.5, 0.4))),
    "funk_chops": (((0.0, 0.2), (0.75, 0.15), (1.5, 0.2), (2.25, 0.15), (3.0, 0.2), (3.5, 0.15)),
                   ((0.5, 0.2), (1.0, 0.15), (1.75, 0.2), (2.5, 0.2), (3.25, 0.15))),
    "bossa": (((0.0, 0.6), (1.5, 0.5), (3.0, 0.5)), ((0.5, 0.5), (2.0, 0.6), (3.5, 0.4))),
}
_WALTZ_CHORDS: tuple[ChordRhythm, ...] = (((1.0, 0.8), (2.0, 0.8)), ((0.0, 0.8), (1.0, 0.8), (2.0, 0.8)))

# Progressions: scale degrees (0 = tonic), one chord per bar, always starting on the tonic so the
# tonal centre is restated at every 4-bar phrase.
_MAJOR_POP: tuple[tuple[int, ...], ...] = ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (0, 1, 4, 0))
_MINOR_POP: tuple[tuple[int, ...], ...] = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 0, 4), (0, 5, 6, 4))
# IV (degree 3) appears often: ii-V alone also fits the dominant key and pulls key estimates there.
_MAJOR_JAZZ: tuple[tuple[int, ...], ...] = ((0, 5, 1, 4), (0, 3, 1, 4), (0, 3, 4, 0), (0, 3, 0, 4), (0, 1, 4, 0))
_MINOR_JAZZ: tuple[tuple[int, ...], ...] = ((0, 3, 1, 4), (0, 1, 4, 0), (0, 5, 1, 4), (0, 3, 4, 0))
_MAJOR_SIMPLE: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0), (0, 4, 0, 3), (0, 3, 0, 4), (0, 0, 3, 4))
_MINOR_SIMPLE: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0), (0, 0, 3, 4), (0, 5, 0, 4), (0, 3, 0, 4))
_MINOR_LOOP: tuple[tuple[int, ...], ...] = ((0, 0, 5, 4), (0, 3, 0, 4), (0, 5, 3, 4), (0, 0, 3, 4))
_MODE_PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "dorian": ((0, 3, 0, 3), (0, 3, 6, 0), (0, 1, 3, 0)),  # i - IV: the raised 6th is the dorian colour
    "mixolydian": ((0, 6, 3, 0), (0, 6, 0, 3), (0, 3, 6, 0)),  # I - bVII - IV
}


# Above this, four bars overflow a 12 s dataset clip, so clips are two bars long (see builder.plan_clips).
MAX_FOUR_BAR_SECONDS: float = 12.0


@dataclass(frozen=True)
class StyleSpec:
    """Everything style-specific the composer needs. Tuples are choices drawn per piece by rng."""

    tempo_range_bpm: tuple[float, float]
    minor_probability: float
    modes: tuple[str, ...]  # modal scales that fit the style (see SCALE_INTERVALS)
    mode_probability: float
    programs: dict[str, tuple[int, ...]]  # role -> plausible GM programs
    drum_patterns: tuple[str, ...]  # keys of DRUM_PATTERNS; empty = never drums
    drum_probability: float
    drum_kits: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    chord_rhythms: tuple[str, ...]
    progressions_major: tuple[tuple[int, ...], ...]
    progressions_minor: tuple[tuple[int, ...], ...]
    moods_major: tuple[str, ...]
    moods_minor: tuple[str, ...]
    optional_roles: dict[str, float] = field(default_factory=dict)  # role -> probability it appears
    swing_fraction: float = 0.0  # off-beat 8th delayed by this many beats (1/6 = triplet swing)
    swing16_fraction: float = 0.0  # off-beat 16ths delayed by this many beats
    seventh_probability: float = 0.0  # chance the piece uses 7th chords
    triple_meter_probability: float = 0.0
    melody_density: float = 0.55  # 0..1, how many 8th slots the lead fills
    bass_low_pitch: int = 36  # lowest root of the bass register (MIDI)
    lead_register: tuple[int, int] = (64, 86)
    fills: bool = True


_ELECTRONIC_MOODS_MAJOR = ("uplifting", "euphoric", "bright", "energetic", "warm", "groovy")
_ELECTRONIC_MOODS_MINOR = ("dark", "hypnotic", "moody", "driving", "brooding", "tense")

STYLES: dict[str, StyleSpec] = {
    "house": StyleSpec(
        tempo_range_bpm=(118.0, 128.0), minor_probability=0.5, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (0, 4, 5, 89, 90), "bass": (38, 39, 33), "lead": (81, 80, 4, 11),
                  "pad": (88, 89, 91, 94), "arp": (81, 87, 98)},
        drum_patterns=("four_on_floor",), drum_probability=1.0, drum_kits=(24, 25, 0),
        bass_patterns=("house", "offbeat"), chord_rhythms=("stabs", "sustain"),
        progressions_major=_MAJOR_POP, progressions_minor=_MINOR_LOOP,
        moods_major=_ELECTRONIC_MOODS_MAJOR, moods_minor=_ELECTRONIC_MOODS_MINOR,
        optional_roles={"pad": 0.5, "arp": 0.4, "lead": 0.7}, seventh_probability=0.5),
    "techno": StyleSpec(
        tempo_range_bpm=(125.0, 140.0), minor_probability=0.8, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (89, 90, 95, 81), "bass": (38, 39, 87), "lead": (81, 80, 84),
                  "pad": (89, 90, 94, 95), "arp": (81, 80, 87)},
        drum_patterns=("techno",), drum_probability=1.0, drum_kits=(24, 25),
        bass_patterns=("offbeat", "root8"), chord_rhythms=("stabs", "sustain"),
        progressions_major=_MAJOR_SIMPLE, progressions_minor=_MINOR_LOOP,
        moods_major=("hypnotic", "driving", "euphoric", "energetic"),
        moods_minor=("dark", "hypnotic", "driving", "industrial", "tense", "menacing"),
        optional_roles={"pad": 0.5, "arp": 0.7, "lead": 0.4}, melody_density=0.4),
    "drum and bass": StyleSpec(
        tempo_range_bpm=(160.0, 178.0), minor_probability=0.75, modes=(), mode_probability=0.0,
        programs={"chords": (4, 89, 90, 0), "bass": (38, 39, 87, 33), "lead": (81, 80, 82, 11),
                  "pad": (88, 89, 91, 94), "arp": (81, 87)},
        drum_patterns=("breakbeat",), drum_probability=1.0, drum_kits=(0, 8, 16, 24),
        bass_patterns=("dnb",), chord_rhythms=("sustain", "stabs"),
        progressions_major=_MAJOR_POP, progressions_minor=_MINOR_POP,
        moods_major=("energetic", "uplifting", "euphoric", "bright"),
        moods_minor=("dark", "intense", "driving", "moody", "tense"),
        optional_roles={"pad": 0.6, "arp": 0.3, "lead": 0.6}, melody_density=0.35,
        bass_low_pitch=28, seventh_probability=0.3),
    "hip hop": StyleSpec(
        tempo_range_bpm=(80.0, 98.0), minor_probability=0.65, modes=("dorian",), mode_probability=0.1,
        programs={"chords": (0, 4, 5, 89), "bass": (38, 33, 32, 39), "lead": (4, 11, 81, 73),
                  "pad": (89, 88, 49), "arp": (11, 8, 4)},
        drum_patterns=("boom_bap",), drum_probability=1.0, drum_kits=(25, 0, 8),
        bass_patterns=("boom_bap",), chord_rhythms=("sustain", "comp"),
        progressions_major=_MAJOR_JAZZ + _MAJOR_POP, progressions_minor=_MINOR_LOOP,
        moods_major=("laid-back", "confident", "warm", "groovy", "smooth"),
        moods_minor=("moody", "gritty", "dark", "melancholic", "tense"),
        optional_roles={"pad": 0.3, "arp": 0.2, "lead": 0.7}, swing16_fraction=0.06,
        seventh_probability=0.6, bass_low_pitch=30, melody_density=0.4),
    "lo-fi": StyleSpec(
        tempo_range_bpm=(70.0, 90.0), minor_probability=0.5, modes=("dorian",), mode_probability=0.15,
        programs={"chords": (4, 0, 5, 26), "bass": (33, 32, 38), "lead": (11, 4, 73, 26),
                  "pad": (89, 88, 52), "arp": (11, 8, 46)},
        drum_patterns=("boom_bap",), drum_probability=1.0, drum_kits=(0, 8, 40),
        bass_patterns=("boom_bap", "sustain"), chord_rhythms=("sustain", "comp"),
        progressions_major=_MAJOR_JAZZ, progressions_minor=_MINOR_JAZZ + _MINOR_LOOP,
        moods_major=("nostalgic", "relaxed", "dreamy", "warm", "cozy", "mellow"),
        moods_minor=("melancholic", "wistful", "nostalgic", "rainy", "mellow", "introspective"),
        optional_roles={"pad": 0.3, "arp": 0.3, "lead": 0.7}, swing_fraction=0.12,
        seventh_probability=0.9, melody_density=0.4),
    "ambient": StyleSpec(
        tempo_range_bpm=(60.0, 90.0), minor_probability=0.5, modes=(), mode_probability=0.0,
        programs={"chords": (46, 8, 11, 0, 88), "bass": (89, 32, 38), "lead": (73, 88, 11, 79),
                  "pad": (88, 89, 91, 92, 94, 95), "arp": (11, 8, 46, 98)},
        drum_patterns=("ambient_pulse",), drum_probability=0.5, drum_kits=(24, 0, 40),
        bass_patterns=("sustain",), chord_rhythms=("pulse",),
        progressions_major=_MAJOR_SIMPLE, progressions_minor=_MINOR_SIMPLE,
        moods_major=("serene", "peaceful", "dreamy", "calm", "hopeful", "airy"),
        moods_minor=("melancholic", "ethereal", "mysterious", "somber", "dark", "contemplative"),
        optional_roles={"pad": 0.9, "arp": 0.6, "lead": 0.5}, melody_density=0.25, fills=False),
    "rock": StyleSpec(
        tempo_range_bpm=(100.0, 150.0), minor_probability=0.45, modes=("mixolydian",), mode_probability=0.12,
        programs={"chords": (29, 30, 27), "bass": (33, 34), "lead": (30, 29, 27, 16),
                  "pad": (16, 17, 18), "arp": (27, 28)},
        drum_patterns=("backbeat",), drum_probability=1.0, drum_kits=(0, 16, 8),
        bass_patterns=("rock", "root8"), chord_rhythms=("strum8", "sustain"),
        progressions_major=_MAJOR_POP + _MAJOR_SIMPLE, progressions_minor=_MINOR_POP,
        moods_major=("energetic", "triumphant", "upbeat", "anthemic", "bright"),
        moods_minor=("aggressive", "dark", "brooding", "angsty", "intense"),
        optional_roles={"pad": 0.35, "arp": 0.2, "lead": 0.7}),
    "funk": StyleSpec(
        tempo_range_bpm=(95.0, 120.0), minor_probability=0.5, modes=("dorian", "mixolydian"),
        mode_probability=0.15,
        programs={"chords": (27, 4, 16, 28), "bass": (33, 36, 37, 38), "lead": (61, 56, 65, 66, 80),
                  "pad": (16, 17, 61), "arp": (27, 4)},
        drum_patterns=("funk",), drum_probability=1.0, drum_kits=(0, 8),
        bass_patterns=("funk",), chord_rhythms=("funk_chops", "stabs"),
        progressions_major=((0, 3, 4, 0), (0, 1, 4, 0), (0, 3, 0, 4)),
        progressions_minor=((0, 3, 0, 4), (0, 0, 3, 4), (0, 5, 3, 4)),
        moods_major=("groovy", "funky", "playful", "upbeat", "confident"),
        moods_minor=("gritty", "groovy", "sly", "moody", "streetwise"),
        optional_roles={"pad": 0.3, "arp": 0.2, "lead": 0.7}, swing16_fraction=0.03,
        seventh_probability=0.8),
    "jazz": StyleSpec(
        tempo_range_bpm=(100.0, 180.0), minor_probability=0.35, modes=("dorian",), mode_probability=0.12,
        programs={"chords": (0, 4, 26, 11), "bass": (32,), "lead": (66, 65, 56, 11, 73, 26),
                  "pad": (0, 4), "arp": (11, 26)},
        drum_patterns=("jazz_swing",), drum_probability=1.0, drum_kits=(32, 40),
        bass_patterns=("walking",), chord_rhythms=("comp",),
        progressions_major=_MAJOR_JAZZ, progressions_minor=_MINOR_JAZZ,
        moods_major=("swinging", "sophisticated", "relaxed", "playful", "warm"),
        moods_minor=("smoky", "moody", "melancholic", "noir", "bluesy"),
        optional_roles={"lead": 0.85, "pad": 0.0, "arp": 0.0}, swing_fraction=1.0 / 6.0,
        seventh_probability=1.0, triple_meter_probability=0.12, melody_density=0.6,
        lead_register=(58, 82)),
    "reggae": StyleSpec(
        tempo_range_bpm=(65.0, 85.0), minor_probability=0.4, modes=(), mode_probability=0.0,
        programs={"chords": (27, 16, 4, 0), "bass": (33, 34, 38), "lead": (16, 56, 65, 11, 4),
                  "pad": (16, 17), "arp": (27,)},
        drum_patterns=("one_drop",), drum_probability=1.0, drum_kits=(0, 8),
        bass_patterns=("reggae",), chord_rhythms=("skank",),
        progressions_major=((0, 3, 0, 4), (0, 3, 4, 0), (0, 5, 3, 4)),
        progressions_minor=((0, 3, 0, 3), (0, 3, 0, 4), (0, 3, 4, 0), (0, 5, 3, 4)),
        moods_major=("laid-back", "sunny", "relaxed", "joyful", "easygoing"),
        moods_minor=("conscious", "moody", "dubby", "hazy", "melancholic"),
        optional_roles={"pad": 0.5, "arp": 0.0, "lead": 0.6}, swing_fraction=0.05, melody_density=0.4),
    "chamber": StyleSpec(
        tempo_range_bpm=(60.0, 120.0), minor_probability=0.45, modes=(), mode_probability=0.0,
        programs={"chords": (45, 46, 6, 0), "bass": (42, 43, 32), "lead": (40, 73, 68, 71, 41),
                  "pad": (48, 49, 42), "arp": (46, 6, 45), "counter": (41, 42, 71, 70)},
        drum_patterns=(), drum_probability=0.0, drum_kits=(0,),
        bass_patterns=("root_fifth",), chord_rhythms=("pulse",),
        progressions_major=_MAJOR_SIMPLE + ((0, 5, 1, 4),), progressions_minor=_MINOR_SIMPLE,
        moods_major=("graceful", "elegant", "joyful", "pastoral", "tender", "serene"),
        moods_minor=("melancholic", "somber", "yearning", "dramatic", "wistful", "solemn"),
        optional_roles={"pad": 0.5, "arp": 0.4, "lead": 1.0, "counter": 0.5},
        triple_meter_probability=0.25, melody_density=0.55, lead_register=(67, 91), fills=False),
    "folk": StyleSpec(
        tempo_range_bpm=(90.0, 130.0), minor_probability=0.35, modes=("mixolydian",), mode_probability=0.12,
        programs={"chords": (25, 24, 21, 105), "bass": (32, 33, 43), "lead": (110, 73, 21, 105, 22, 41),
                  "pad": (21, 48), "arp": (25, 105, 46)},
        drum_patterns=("folk",), drum_probability=0.5, drum_kits=(40, 0, 8),
        bass_patterns=("root_fifth",), chord_rhythms=("strum",),
        progressions_major=_MAJOR_SIMPLE, progressions_minor=_MINOR_SIMPLE,
        moods_major=("cheerful", "rustic", "warm", "carefree", "pastoral", "hopeful"),
        moods_minor=("wistful", "melancholic", "haunting", "somber", "earthy"),
        optional_roles={"pad": 0.2, "arp": 0.3, "lead": 0.9}, triple_meter_probability=0.2,
        lead_register=(64, 88)),
    "disco": StyleSpec(
        tempo_range_bpm=(110.0, 128.0), minor_probability=0.4, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (27, 4, 48, 0), "bass": (33, 38, 34), "lead": (48, 61, 62, 81),
                  "pad": (48, 49, 50), "arp": (27, 81)},
        drum_patterns=("disco",), drum_probability=1.0, drum_kits=(0, 24),
        bass_patterns=("octave8",), chord_rhythms=("stabs", "funk_chops"),
        progressions_major=_MAJOR_POP, progressions_minor=_MINOR_POP,
        moods_major=("euphoric", "glamorous", "joyful", "upbeat", "danceable"),
        moods_minor=("sultry", "moody", "driving", "nocturnal"),
        optional_roles={"pad": 0.6, "arp": 0.3, "lead": 0.7}, seventh_probability=0.5),
    "synthwave": StyleSpec(
        tempo_range_bpm=(80.0, 118.0), minor_probability=0.7, modes=(), mode_probability=0.0,
        programs={"chords": (89, 90, 81, 62), "bass": (38, 39, 81), "lead": (81, 80, 82, 62),
                  "pad": (89, 90, 91, 95), "arp": (81, 80, 98)},
        drum_patterns=("synthwave",), drum_probability=1.0, drum_kits=(24, 25, 16),
        bass_patterns=("root8",), chord_rhythms=("sustain",),
        progressions_major=_MAJOR_POP, progressions_minor=_MINOR_POP,
        moods_major=("nostalgic", "retro", "bright", "euphoric", "cinematic"),
        moods_minor=("nocturnal", "nostalgic", "moody", "cinematic", "dark"),
        optional_roles={"pad": 0.7, "arp": 0.8, "lead": 0.7}),
    "bossa nova": StyleSpec(
        tempo_range_bpm=(120.0, 145.0), minor_probability=0.4, modes=(), mode_probability=0.0,
        programs={"chords": (24, 0, 4), "bass": (32, 33), "lead": (73, 65, 66, 11, 22),
                  "pad": (48, 89), "arp": (24, 11)},
        drum_patterns=("bossa",), drum_probability=1.0, drum_kits=(32, 40, 0),
        bass_patterns=("bossa",), chord_rhythms=("bossa",),
        progressions_major=_MAJOR_JAZZ, progressions_minor=_MINOR_JAZZ,
        moods_major=("breezy", "relaxed", "romantic", "sunny", "gentle"),
        moods_minor=("wistful", "saudade", "melancholic", "sultry", "tender"),
        optional_roles={"pad": 0.3, "arp": 0.0, "lead": 0.8}, seventh_probability=1.0),
    "trance": StyleSpec(
        tempo_range_bpm=(132.0, 142.0), minor_probability=0.75, modes=(), mode_probability=0.0,
        programs={"chords": (81, 90, 89), "bass": (38, 39, 81), "lead": (81, 80, 84),
                  "pad": (89, 90, 91, 94), "arp": (81, 80, 87)},
        drum_patterns=("four_on_floor",), drum_probability=1.0, drum_kits=(24, 25),
        bass_patterns=("offbeat",), chord_rhythms=("sustain", "stabs"),
        progressions_major=_MAJOR_POP, progressions_minor=_MINOR_POP,
        moods_major=("euphoric", "uplifting", "soaring", "energetic"),
        moods_minor=("emotional", "dark", "driving", "epic", "hypnotic"),
        optional_roles={"pad": 0.8, "arp": 0.9, "lead": 0.7}, melody_density=0.45),
}

# GM registers (MIDI pitch) for the roles.
_CHORD_REGISTER: tuple[int, int] = (53, 76)
_PAD_REGISTER: tuple[int, int] = (55, 79)
_ARP_REGISTER: tuple[int, int] = (60, 88)
_COUNTER_REGISTER: tuple[int, int] = (50, 72)
_TIMING_JITTER_SECONDS: float = 0.004  # a few ms of human looseness


@dataclass(frozen=True)
class _Chord:
    root_pc: int  # pitch class (0-11) of the chord root
    pcs: tuple[int, ...]  # root, third, fifth[, seventh] pitch classes


@dataclass
class _Ctx:
    """Per-piece state shared by the part generators."""

    rng: np.random.Generator
    spec: StyleSpec
    seconds_per_beat: float
    beats_per_bar: int
    bar_starts_seconds: list[float]
    end_seconds: float
    tonic_pc: int
    scale_pcs: frozenset[int]
    scale_intervals: tuple[int, ...]
    chords: list[_Chord]  # one per bar
    energy: list[float]  # one per bar
    swing_fraction: float
    swing16_fraction: float

    def time(self, bar: int, position_beats: float, jitter: bool = True) -> float:
        """Seconds of a position inside a bar, with swing and a little human timing jitter."""
        frac = position_beats % 1.0
        pos = position_beats
        if abs(frac - 0.5) < 1e-6:
            pos += self.swing_fraction
        elif abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6:
            pos += self.swing16_fraction + (self.swing_fraction if frac > 0.5 else 0.0)
        t = self.bar_starts_seconds[bar] + pos * self.seconds_per_beat
        if jitter:
            t += float(self.rng.normal(0.0, _TIMING_JITTER_SECONDS))
        return max(0.0, t)


def _pick(rng: np.random.Generator, options: tuple | list):  # type: ignore[type-arg]
    """One element chosen by rng (keeps the Python type, unlike rng.choice)."""
    return options[int(rng.integers(len(options)))]


def _velocity(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return min(127, max(1, int(round(base + rng.normal(0.0, spread)))))  # builtins: np.clip is slow on scalars


# ---------------------------------------------------------------------------------------------
# Harmony
# ---------------------------------------------------------------------------------------------

def _build_chord(degree: int, ctx_scale: tuple[int, ...], tonic_pc: int, seventh: bool,
                 major_dominant: bool) -> _Chord:
    """Diatonic triad/7th on `degree`; optionally a major V (harmonic minor leading tone)."""
    offsets = [ctx_scale[(degree + 2 * k) % 7] for k in range(4 if seventh else 3)]
    if seventh and degree == 0 and ctx_scale[2] == 4:
        # major tonic as a 6th chord (I6) rather than maj7: the maj7 tone pulls key estimates to V
        offsets[3] = ctx_scale[5]
    if seventh and degree == 0 and ctx_scale[2] == 3:
        offsets = offsets[:3]  # plain minor tonic triad: the b7 on i pulls key estimates to the minor v
    if major_dominant and degree == 4:
        offsets[1] = (ctx_scale[4] + 4) % 12  # raise the third of v -> V (the leading tone)
    pcs = tuple((tonic_pc + o) % 12 for o in offsets)
    return _Chord(root_pc=pcs[0], pcs=pcs)


def _voice(chord: _Chord, register: tuple[int, int], target_center: float, rng: np.random.Generator,
           n_voices: int | None = None) -> list[int]:
    """Close voicing inside `register` whose mean is nearest `target_center` (smooth voice leading)."""
    pcs = list(chord.pcs) if n_voices is None else list(chord.pcs[:n_voices])
    lo, hi = register
    best: list[int] = []
    best_cost = 1e9
    for inversion in range(len(pcs)):
        order = pcs[inversion:] + pcs[:inversion]
        for base_octave in range(lo // 12 - 1, hi // 12 + 1):
            pitches: list[int] = []
            p = base_octave * 12 + order[0]
            for pc in order:
                while p % 12 != pc or (pitches and p <= pitches[-1]):
                    p += 1
                pitches.append(p)
            if pitches[0] < lo or pitches[-1] > hi:
                continue
            cost = abs(sum(pitches) / len(pitches) - target_center) + float(rng.random()) * 0.5
            if cost < best_cost:
                best, best_cost = pitches, cost
    if not best:  # register too narrow: fall back to a stacked voicing from the root
        best = [lo + ((pcs[0] - lo) % 12)]
        for pc in pcs[1:]:
            best.append(best[-1] + ((pc - best[-1]) % 12 or 12))
    return best


# ---------------------------------------------------------------------------------------------
# Arrangement
# ---------------------------------------------------------------------------------------------

def _plan_energy(n_bars: int, rng: np.random.Generator) -> list[float]:
    """Sections of 4 (sometimes 8) bars: intro / groove / full / breakdown / build / outro."""
    sections: list[tuple[str, int]] = []
    bars_left = n_bars
    while bars_left > 0:
        length = min(bars_left, 8 if (rng.random() < 0.25 and bars_left >= 8) else 4)
        sections.append(("", length))
        bars_left -= length
    names: list[str] = []
    for i in range(len(sections)):
        if i == 0:
            name = "intro" if rng.random() < 0.7 else "groove"
        elif i == len(sections) - 1 and len(sections) >= 4 and rng.random() < 0.5:
            name = "outro"
        else:
            prev = names[-1]
            if prev == "breakdown":
                name = "build" if rng.random() < 0.6 else "full"
            elif prev == "build":
                name = "full"
            elif prev == "intro":
                name = _pick(rng, ("groove", "groove", "build", "full"))
            elif prev == "full":
                name = _pick(rng, ("breakdown", "groove", "full"))
            else:
                name = _pick(rng, ("full", "full", "build", "breakdown"))
        names.append(name)
    base = {"intro": (0.25, 0.4), "groove": (0.5, 0.68), "full": (0.82, 1.0),
            "breakdown": (0.15, 0.32), "outro": (0.3, 0.45)}
    energy: list[float] = []
    for name, (_, length) in zip(names, sections):
        if name == "build":
            start, stop = 0.42 + 0.1 * float(rng.random()), 0.75 + 0.1 * float(rng.random())
            energy += [start + (stop - start) * k / max(1, length - 1) for k in range(length)]
        else:
            lo, hi = base[name]
            level = lo + (hi - lo) * float(rng.random())
            energy += [level] * length
    return [round(float(np.clip(e, 0.0, 1.0)), 3) for e in energy]


# ---------------------------------------------------------------------------------------------
# Parts
# ---------------------------------------------------------------------------------------------

def _drums(ctx: _Ctx, pattern_name: str) -> list[Note]:
    """Style pattern per bar; timekeeping layer always on, kick/snare and extras by energy."""
    rng = ctx.rng
    patterns = DRUM_PATTERNS[pattern_name]
    main = _pick(rng, patterns)
    alt = _pick(rng, patterns)  # used now and then for variety at high energy
    core_threshold = 0.22 + 0.08 * float(rng.random())
    extra_threshold = 0.55 + 0.1 * float(rng.random())
    steps_per_beat = 4
    notes: list[Note] = []
    n_bars = len(ctx.bar_starts_seconds)
    for bar in range(n_bars):
        e = ctx.energy[bar]
        pattern = alt if (e > 0.7 and bar % 4 == 3 and rng.random() < 0.5) else main
        section_end = bar + 1 < n_bars and ctx.energy[bar + 1] > e + 0.15
        fill = ctx.spec.fills and section_end and e >= 0.3 and rng.random() < 0.75
        fill_from_step = (ctx.beats_per_bar - 1) * steps_per_beat if fill else 10 ** 6
        for pitch, steps in pattern.items():
            if pitch in _PULSE_PITCHES:
                pass
            elif pitch in _CORE_PITCHES:
                if e < core_threshold:
                    continue
            elif e < extra_threshold:
                continue
            for step, char in enumerate(steps[: ctx.beats_per_bar * steps_per_beat]):
                if char == "." or (step >= fill_from_step and pitch not in (KICK,) and pitch not in _PULSE_PITCHES):
                    continue
                if char == "g" and e < 0.45:
                    continue  # ghost notes only once the groove is busy
                vel = _VELOCITY_OF_CHAR[char] * (0.8 + 0.25 * e)
                t = ctx.time(bar, step / steps_per_beat)
                notes.append(Note(pitch, t, t + 0.09, _velocity(rng, vel, 6.0)))
        if fill:
            # snare/tom run over the last beat, rising in velocity
            fill_pitches = (SNARE, SNARE, MID_TOM, LOW_TOM) if rng.random() < 0.5 else (SNARE,) * 4
            for k in range(4):
                pos = ctx.beats_per_bar - 1 + k * 0.25
                t = ctx.time(bar, pos)
                notes.append(Note(fill_pitches[k], t, t + 0.08, _velocity(rng, 70 + 12 * k, 5.0)))
        # crash on the downbeat when a loud section starts
        if bar > 0 and e >= 0.8 and ctx.energy[bar - 1] < e - 0.1 and pattern_name not in ("ambient_pulse",):
            t = ctx.time(bar, 0.0)
            notes.append(Note(CRASH, t, t + 0.5, _velocity(rng, 100, 6.0)))
    return notes


def _bass_pitch(kind: str, chord: _Chord, next_chord: _Chord, ctx: _Ctx, root_pitch: int) -> int:
    if kind == "R":
        return root_pitch
    if kind == "O":
        return root_pitch + 12
    if kind == "5":
        return root_pitch + ((chord.pcs[2] - chord.root_pc) % 12)
    if kind == "3":
        return root_pitch + ((chord.pcs[1] - chord.root_pc) % 12)
    if kind == "7":
        pc = chord.pcs[3] if len(chord.pcs) > 3 else chord.pcs[2]
        return root_pitch + ((pc - chord.root_pc) % 12)
    # "A": diatonic step above or below the next root, approaching it
    target = root_pitch + ((next_chord.root_pc - root_pitch) % 12)
    if target - root_pitch > 6:
        target -= 12
    for delta in (1, 2, -1, -2):
        if (target + delta) % 12 in ctx.scale_pcs:
            return target + delta
    return target


def _bass(ctx: _Ctx, pattern_style: str, threshold: float) -> list[Note]:
    rng = ctx.rng
    spec = ctx.spec
    notes: list[Note] = []
    if ctx.beats_per_bar == 3 and pattern_style != "walking":
        patterns: tuple[BassPattern, ...] = _WALTZ_BASS
    else:
        patterns = BASS_PATTERNS[pattern_style] if pattern_style != "walking" else ()
    main: BassPattern = _pick(rng, patterns) if patterns else ()
    alt: BassPattern = _pick(rng, patterns) if patterns else ()
    base_velocity = 80 + 15 * float(rng.random())
    n_bars = len(ctx.chords)
    for bar in range(n_bars):
        e = ctx.energy[bar]
        if e < threshold:
            continue
        chord = ctx.chords[bar]
        next_chord = ctx.chords[(bar + 1) % n_bars]
        root_pitch = spec.bass_low_pitch + ((chord.root_pc - spec.bass_low_pitch) % 12)
        if pattern_style == "walking":
            notes += _walking_bar(ctx, bar, chord, next_chord, root_pitch, base_velocity)
            continue
        pattern = alt if bar % 4 == 3 else main
        for pos, dur, kind in pattern:
            if pos >= ctx.beats_per_bar:
                continue
            if e < 0.5 and kind not in ("R", "5") and pos % 1.0 != 0.0:
                continue  # sparser bass at low energy
            pitch = _bass_pitch(kind, chord, next_chord, ctx, root_pitch)
            t = ctx.time(bar, pos)
            end = t + dur * ctx.seconds_per_beat * (0.9 + 0.1 * float(rng.random()))
            accent = 8.0 if pos == 0.0 else 0.0
            notes.append(Note(pitch, t, end, _velocity(rng, base_velocity + accent, 7.0)))
    return notes


def _walking_bar(ctx: _Ctx, bar: int, chord: _Chord, next_chord: _Chord, root_pitch: int,
                 base_velocity: float) -> list[Note]:
    """Quarter-note walk: root on 1, chord tones in between, diatonic approach to the next root."""
    rng = ctx.rng
    pitches = [root_pitch]
    chord_tones = [root_pitch + ((pc - chord.root_pc) % 12) for pc in chord.pcs]
    for beat in range(1, ctx.beats_per_bar):
        if beat == ctx.beats_per_bar - 1:
            pitches.append(_bass_pitch("A", chord, next_chord, ctx, root_pitch))
        else:
            pitches.append(_pick(rng, chord_tones[1:] + [root_pitch + 12]))
    notes = []
    for beat, pitch in enumerate(pitches):
        t = ctx.time(bar, float(beat))
        notes.append(Note(pitch, t, t + 0.92 * ctx.seconds_per_beat,
                          _velocity(rng, base_velocity + (6 if beat == 0 else 0), 6.0)))
    return notes


def _chords(ctx: _Ctx, rhythm_name: str, register: tuple[int, int], threshold: float,
            strum_seconds: float = 0.0) -> list[Note]:
    rng = ctx.rng
    if ctx.beats_per_bar == 3 and rhythm_name not in ("sustain",):
        rhythms: tuple[ChordRhythm, ...] = _WALTZ_CHORDS
    else:
        rhythms = CHORD_RHYTHMS[rhythm_name]
    main = _pick(rng, rhythms)
    alt = _pick(rng, rhythms)
    base_velocity = 62 + 18 * float(rng.random())
    center = (register[0] + register[1]) / 2.0
    notes: list[Note] = []
    for bar, chord in enumerate(ctx.chords):
        e = ctx.energy[bar]
        if e < threshold:
            continue
        voicing = _voice(chord, register, center, rng)
        center = 0.7 * center + 0.3 * (sum(voicing) / len(voicing))  # drift slowly, stay mid-register
        rhythm = alt if bar % 2 == 1 else main
        if rhythm_name == "sustain" and ctx.beats_per_bar == 3:
            rhythm = ((0.0, 3.0),)
        for pos, dur in rhythm:
            if pos >= ctx.beats_per_bar:
                continue
            t0 = ctx.time(bar, pos)
            end = t0 + min(dur, ctx.beats_per_bar - pos) * ctx.seconds_per_beat * 0.97
            accent = 10.0 if pos == 0.0 else (4.0 if pos % 1.0 == 0.0 else 0.0)
            up = strum_seconds > 0 and pos % 1.0 != 0.0  # up-strums on the off-beats
            order = list(reversed(voicing)) if up else voicing
            for k, pitch in enumerate(order):
                t = t0 + k * strum_seconds
                notes.append(Note(pitch, t, max(end, t + 0.05),
                                  _velocity(rng, base_velocity + accent + 10 * (e - 0.5), 6.0)))
    return notes


def _pad(ctx: _Ctx, threshold: float) -> list[Note]:
    rng = ctx.rng
    notes: list[Note] = []
    base_velocity = 50 + 15 * float(rng.random())
    center = sum(_PAD_REGISTER) / 2.0
    bar_seconds = ctx.beats_per_bar * ctx.seconds_per_beat
    for bar, chord in enumerate(ctx.chords):
        if ctx.energy[bar] < threshold:
            continue
        voicing = _voice(chord, _PAD_REGISTER, center, rng)
        t = ctx.bar_starts_seconds[bar]
        for pitch in voicing:
            notes.append(Note(pitch, t, t + bar_seconds * 0.98, _velocity(rng, base_velocity, 4.0)))
    return notes


def _arp(ctx: _Ctx, threshold: float) -> list[Note]:
    """Chord tones cycled on an 8th or 16th grid: onsets on every beat keep the pulse audible."""
    rng = ctx.rng
    step_beats = 0.5 if (ctx.seconds_per_beat < 0.42 or rng.random() < 0.5) else 0.25
    shape = _pick(rng, ("up", "updown", "down", "alberti"))
    gate = 0.5 + 0.4 * float(rng.random())
    base_velocity = 60 + 20 * float(rng.random())
    notes: list[Note] = []
    for bar, chord in enumerate(ctx.chords):
        if ctx.energy[bar] < threshold:
            continue
        voicing = _voice(chord, (_ARP_REGISTER[0], _ARP_REGISTER[0] + 14), _ARP_REGISTER[0] + 7, rng, 3)
        # the arp repeats each tone many times, so keep it diatonic (the chords carry any leading tone)
        tones = [p for p in voicing if p % 12 in ctx.scale_pcs] + [voicing[0] + 12]
        if shape == "down":
            cycle = list(reversed(tones))
        elif shape == "updown":
            cycle = tones + tones[-2:0:-1]
        elif shape == "alberti":
            cycle = [tones[0], tones[2], tones[1], tones[2]]
        else:
            cycle = tones
        n_steps = int(round(ctx.beats_per_bar / step_beats))
        for k in range(n_steps):
            pos = k * step_beats
            t = ctx.time(bar, pos)
            accent = 12.0 if pos % 1.0 == 0.0 else 0.0  # accent the beats: pulse for tempo tracking
            notes.append(Note(cycle[k % len(cycle)], t, t + step_beats * gate * ctx.seconds_per_beat,
                              _velocity(rng, base_velocity + accent, 5.0)))
    return notes


def _melody_rhythm(rng: np.random.Generator, beats_per_bar: int, density: float) -> list[float]:
    """Onset positions (beats) on an 8th grid; downbeat likely, beats favoured over off-beats."""
    onsets = []
    for k in range(beats_per_bar * 2):
        pos = k * 0.5
        p = density * (1.2 if pos % 1.0 == 0.0 else 0.7)
        if pos == 0.0:
            p = max(p, 0.75)
        if rng.random() < p:
            onsets.append(pos)
    if not onsets:
        onsets = [0.0]
    return onsets


def _melody(ctx: _Ctx, register: tuple[int, int], density: float, threshold: float,
            legato: float = 0.9) -> list[Note]:
    """Motif-based lead: chord tones on beats, scale steps between, phrase ends on the tonic/root."""
    rng = ctx.rng
    lo, hi = register
    scale_pitches = [p for p in range(lo, hi + 1) if p % 12 in ctx.scale_pcs]
    motifs = [_melody_rhythm(rng, ctx.beats_per_bar, density) for _ in range(2)]
    base_velocity = 72 + 18 * float(rng.random())
    prev = scale_pitches[len(scale_pitches) // 2]
    notes: list[Note] = []
    n_bars = len(ctx.chords)
    for bar, chord in enumerate(ctx.chords):
        e = ctx.energy[bar]
        if e < threshold:
            continue
        phrase_pos = bar % 4
        if phrase_pos == 3 or bar == n_bars - 1:
            # cadence: a short pickup then a long note on a stable chord tone (tonic if in chord)
            onsets = [0.0, 1.0] if ctx.beats_per_bar == 4 else [0.0]
            onsets.append(2.0 if ctx.beats_per_bar == 4 else 1.0)
        else:
            onsets = motifs[phrase_pos % 2]
            if rng.random() < 0.25:
                onsets = _melody_rhythm(rng, ctx.beats_per_bar, density)
        # chord tones inside the scale (skips the harmonic-minor leading tone: chords/bass state it)
        chord_pitches = [p for p in range(lo, hi + 1) if p % 12 in chord.pcs and p % 12 in ctx.scale_pcs]
        for i, pos in enumerate(onsets):
            nxt = onsets[i + 1] if i + 1 < len(onsets) else float(ctx.beats_per_bar)
            is_cadence_note = (phrase_pos == 3 or bar == n_bars - 1) and i == len(onsets) - 1
            if is_cadence_note:
                goal_pcs = [ctx.tonic_pc] if ctx.tonic_pc in chord.pcs else [chord.root_pc]
                cands = [p for p in range(lo, hi + 1) if p % 12 in goal_pcs]
                pitch = min(cands, key=lambda p: abs(p - prev)) if cands else prev
            elif pos % 1.0 == 0.0 or rng.random() < 0.3:
                cands = sorted(chord_pitches, key=lambda p: abs(p - prev) + (3 if p == prev else 0))[:3]
                pitch = _pick(rng, cands) if cands else prev
            else:
                idx = min(range(len(scale_pitches)), key=lambda j: abs(scale_pitches[j] - prev))
                step = _pick(rng, (-2, -1, -1, 1, 1, 2))
                pitch = scale_pitches[min(len(scale_pitches) - 1, max(0, idx + step))]
            dur = min(nxt - pos, 2.0) * legato
            t = ctx.time(bar, pos)
            accent = 8.0 if pos % 1.0 == 0.0 else 0.0
            notes.append(Note(pitch, t, t + dur * ctx.seconds_per_beat,
                              _velocity(rng, base_velocity + accent + 8 * (e - 0.5), 7.0)))
            prev = pitch
    return notes


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------

def _tidy(notes: list[Note], max_end_seconds: float, min_seconds: float = 0.02) -> list[Note]:
    """Sort; cut same-pitch overlaps (MIDI cannot represent them); clamp the tail; drop slivers."""
    notes = sorted(notes, key=lambda n: (n.start_seconds, n.pitch))
    last_by_pitch: dict[int, Note] = {}
    dropped: set[int] = set()
    for note in notes:
        note.end_seconds = min(note.end_seconds, max_end_seconds)
        prev = last_by_pitch.get(note.pitch)
        if prev is not None and prev.end_seconds > note.start_seconds:
            prev.end_seconds = note.start_seconds
            if prev.end_seconds - prev.start_seconds < min_seconds:
                dropped.add(id(prev))
        last_by_pitch[note.pitch] = note
    kept = [n for n in notes if id(n) not in dropped and n.end_seconds - n.start_seconds >= min_seconds]
    for n in kept:
        n.start_seconds = round(n.start_seconds, 6)
        n.end_seconds = round(n.end_seconds, 6)
    return kept


def _pan(rng: np.random.Generator, role: str) -> float:
    if role in ("bass", "drums"):
        return round(0.5 + float(rng.uniform(-0.03, 0.03)), 3)  # bass and kick stay centred
    side = 1.0 if rng.random() < 0.5 else -1.0
    return round(0.5 + side * float(rng.uniform(0.05, 0.3)), 3)


def _choose_scale(spec: StyleSpec, rng: np.random.Generator) -> str:
    if spec.modes and rng.random() < spec.mode_probability:
        return _pick(rng, spec.modes)
    return "minor" if rng.random() < spec.minor_probability else "major"


def compose(style: str, rng: np.random.Generator, piece_id: str, n_bars: int | None = None) -> Piece:
    """Compose one piece of `style` using only `rng`; validated before it is returned."""
    if style not in STYLES:
        raise KeyError(f"unknown style {style!r}; known: {sorted(STYLES)}")
    spec = STYLES[style]
    if n_bars is None:
        n_bars = int(rng.integers(16, 33))
    if n_bars < 1:
        raise ValueError("n_bars must be >= 1")

    lo_bpm, hi_bpm = spec.tempo_range_bpm
    tempo_bpm = float(rng.uniform(lo_bpm, hi_bpm))
    tempo_bpm = float(round(tempo_bpm)) if rng.random() < 0.5 else round(tempo_bpm, 1)
    tempo_bpm = float(np.clip(tempo_bpm, lo_bpm, hi_bpm))
    beats_per_bar = 3 if rng.random() < spec.triple_meter_probability else 4
    tonic_pc = int(rng.integers(12))
    scale = _choose_scale(spec, rng)
    scale_intervals = SCALE_INTERVALS[scale]
    scale_pcs = frozenset((tonic_pc + i) % 12 for i in scale_intervals)

    seconds_per_beat = 60.0 / tempo_bpm
    bar_seconds = beats_per_bar * seconds_per_beat
    bar_starts_seconds = [i * bar_seconds for i in range(n_bars)]
    end_seconds = n_bars * bar_seconds

    # Harmony: one progression (sometimes two alternating), one chord per bar.
    if scale in ("major", "minor"):
        pool = spec.progressions_major if scale == "major" else spec.progressions_minor
    else:
        pool = _MODE_PROGRESSIONS[scale]
    progression_a = _pick(rng, pool)
    progression_b = _pick(rng, pool) if rng.random() < 0.4 else progression_a
    if 4 * bar_seconds > MAX_FOUR_BAR_SECONDS:
        # Slow bars: the dataset cuts 2-bar clips, and a window holding only e.g. IV-V names the wrong key.
        # A two-bar vamp (tonic on every other bar) keeps the tonic in every 2-bar clip.
        progression_a = (progression_a[0], progression_a[1], progression_a[0], progression_a[3])
        progression_b = (progression_b[0], progression_b[1], progression_b[0], progression_b[3])
    seventh = rng.random() < spec.seventh_probability
    major_dominant = scale == "minor" and rng.random() < 0.8  # leading tone helps key estimation
    chords: list[_Chord] = []
    for bar in range(n_bars):
        prog = progression_a if (bar // 4) % 2 == 0 else progression_b
        degree = prog[bar % 4]
        chords.append(_build_chord(degree, scale_intervals, tonic_pc, seventh, major_dominant))

    energy = _plan_energy(n_bars, rng)
    has_drums = bool(spec.drum_patterns) and rng.random() < spec.drum_probability
    ctx = _Ctx(rng=rng, spec=spec, seconds_per_beat=seconds_per_beat, beats_per_bar=beats_per_bar,
               bar_starts_seconds=bar_starts_seconds, end_seconds=end_seconds, tonic_pc=tonic_pc,
               scale_pcs=scale_pcs, scale_intervals=scale_intervals, chords=chords, energy=energy,
               swing_fraction=spec.swing_fraction, swing16_fraction=spec.swing16_fraction)

    tracks: list[Track] = []

    def add(name: str, role: str, program: int, notes: list[Note], is_drum: bool = False,
            drum_kit: int = 0) -> None:
        notes = _tidy(notes, end_seconds + seconds_per_beat)
        if notes:
            tracks.append(Track(name=name, program=program, is_drum=is_drum, role=role, notes=notes,
                                pan=_pan(rng, role), drum_kit=drum_kit))

    if has_drums:
        if beats_per_bar == 3:
            pattern_name = "jazz_waltz" if style == "jazz" else "waltz"
        else:
            pattern_name = _pick(rng, spec.drum_patterns)
        kit = _pick(rng, spec.drum_kits)
        add("drums", "drums", 0, _drums(ctx, pattern_name), is_drum=True, drum_kit=kit)

    # Without drums the chord part must carry the beat: force an on-the-beat rhythm, always on.
    chord_rhythm = _pick(rng, spec.chord_rhythms) if has_drums else (
        "strum" if style == "folk" and beats_per_bar == 4 else "pulse")
    chord_program = _pick(rng, spec.programs["chords"])
    strum = 0.012 if chord_program in range(24, 32) or chord_program in (105, 106, 46) else 0.0
    chord_register = (48, 67) if chord_program in (29, 30) else _CHORD_REGISTER
    add("chords", "chords", chord_program, _chords(ctx, chord_rhythm, chord_register, 0.0, strum))

    bass_threshold = 0.0 if not has_drums else 0.25 + 0.1 * float(rng.random())
    add("bass", "bass", _pick(rng, spec.programs["bass"]),
        _bass(ctx, _pick(rng, spec.bass_patterns), bass_threshold))

    roles = spec.optional_roles
    if rng.random() < roles.get("pad", 0.0):
        add("pad", "pad", _pick(rng, spec.programs["pad"]), _pad(ctx, 0.0))
    if rng.random() < roles.get("arp", 0.0) or (not has_drums and style == "ambient"):
        arp_threshold = 0.0 if not has_drums else 0.4 + 0.15 * float(rng.random())
        add("arp", "arp", _pick(rng, spec.programs["arp"]), _arp(ctx, arp_threshold))
    if rng.random() < roles.get("lead", 0.6):
        add("lead", "lead", _pick(rng, spec.programs["lead"]),
            _melody(ctx, spec.lead_register, spec.melody_density, 0.45 + 0.15 * float(rng.random())))
    if "counter" in spec.programs and rng.random() < roles.get("counter", 0.0):
        add("counter", "counter", _pick(rng, spec.programs["counter"]),
            _melody(ctx, _COUNTER_REGISTER, spec.melody_density * 0.6, 0.7))

    moods = spec.moods_minor if scale in ("minor", "dorian") else spec.moods_major
    piece = Piece(
        piece_id=piece_id, source="composer", source_name=f"composer/{style}/{piece_id}", style=style,
        tempo_bpm=tempo_bpm, key_tonic=PITCH_CLASS_NAMES[tonic_pc], scale=scale,
        beats_per_bar=beats_per_bar, bar_starts_seconds=bar_starts_seconds, end_seconds=end_seconds,
        tracks=tracks, bar_energy=energy, mood=_pick(rng, moods))
    piece.validate()
    return piece


# ---------------------------------------------------------------------------------------------
# Export and captions
# ---------------------------------------------------------------------------------------------

def piece_to_pretty_midi(piece: Piece) -> pretty_midi.PrettyMIDI:
    """MIDI with the piece's constant tempo, time signature, programs (drum kit for drums) and pan."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=piece.tempo_bpm, resolution=960)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(piece.beats_per_bar, 4, 0.0))
    for track in piece.tracks:
        program = track.drum_kit if track.is_drum else track.program  # GM kit = program change on ch. 10
        inst = pretty_midi.Instrument(program=program, is_drum=track.is_drum, name=track.name)
        inst.control_changes.append(pretty_midi.ControlChange(10, int(round(track.pan * 127)), 0.0))
        for note in track.notes:
            inst.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch,
                                               start=note.start_seconds, end=note.end_seconds))
        pm.instruments.append(inst)
    return pm


_DRUM_KIT_NAMES: dict[int, str] = {0: "drum kit", 8: "room drum kit", 16: "power drum kit",
                                   24: "electronic drum kit", 25: "808 drum machine", 32: "jazz drum kit",
                                   40: "brush kit", 48: "orchestral percussion"}
_NAME_OVERRIDES: dict[int, str] = {
    0: "piano", 1: "bright piano", 4: "electric piano", 5: "electric piano", 6: "harpsichord",
    24: "nylon-string guitar", 25: "steel-string acoustic guitar", 26: "jazz guitar",
    27: "clean electric guitar", 28: "muted electric guitar", 29: "overdriven guitar",
    30: "distortion guitar", 32: "upright bass", 33: "electric bass", 34: "picked electric bass",
    35: "fretless bass", 36: "slap bass", 37: "slap bass", 38: "synth bass", 39: "synth bass",
    45: "pizzicato strings", 48: "string ensemble", 49: "string ensemble", 50: "synth strings",
    62: "synth brass", 87: "bass-and-lead synth", 16: "organ", 17: "percussive organ", 18: "rock organ", 110: "fiddle",
}


def instrument_name(track: Track) -> str:
    """Human-readable instrument name for captions."""
    if track.is_drum:
        return _DRUM_KIT_NAMES.get(track.drum_kit, "drum kit")
    if track.program in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[track.program]
    name = pretty_midi.program_to_instrument_name(track.program).lower()
    m = re.match(r"^(lead|pad|fx) \d+ \((.+)\)$", name)
    if m:  # "lead 2 (sawtooth)" -> "sawtooth lead"
        return f"{m.group(2)} {m.group(1) if m.group(1) != 'fx' else 'effect'}".strip()
    name = re.sub(r"\s*\(.*?\)", "", name)
    return re.sub(r"\s+", " ", name).strip()
