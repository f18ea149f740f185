"""The composer's rhythm tables: drum patterns per groove, bass patterns and chord rhythms per feel."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Drum patterns: one string per GM percussion pitch, one character per 16th (12 for 3/4 bars).
# Characters give the velocity: X accent, x normal, o soft, g ghost, "." rest.
# ---------------------------------------------------------------------------------------------
KICK, RIM, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
CRASH, RIDE, TAMBOURINE, COWBELL, SHAKER, LOW_TOM, MID_TOM, HIGH_TOM = 49, 51, 54, 56, 70, 45, 47, 50

VELOCITY_OF_CHAR: dict[str, int] = {"X": 112, "x": 92, "o": 68, "g": 38}

# Timekeeping pitches stay in every bar (even breakdowns) so the beat is always audible.
PULSE_PITCHES: frozenset[int] = frozenset({CLOSED_HAT, PEDAL_HAT, RIDE, SHAKER, TAMBOURINE})
# Kick/snare family: present once the arrangement is past its sparsest point.
CORE_PITCHES: frozenset[int] = frozenset({KICK, SNARE, CLAP, RIM})

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
WALTZ_BASS: tuple[BassPattern, ...] = (((0.0, 1.8, "R"), (2.0, 0.9, "5")), ((0.0, 2.8, "R"),))

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
WALTZ_CHORDS: tuple[ChordRhythm, ...] = (((1.0, 0.8), (2.0, 0.8)), ((0.0, 0.8), (1.0, 0.8), (2.0, 0.8)))
