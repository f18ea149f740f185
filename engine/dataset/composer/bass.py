"""The bass part: chord roots on the style's bass pattern, or a walking line."""

from __future__ import annotations

from engine.dataset.composer.context import PartContext
from engine.dataset.composer.draws import pick, velocity
from engine.dataset.composer.harmony import Chord
from engine.dataset.composer.patterns import BASS_PATTERNS, WALTZ_BASS, BassPattern
from engine.dataset.score import Note


def _bass_pitch(kind: str, chord: Chord, next_chord: Chord, ctx: PartContext, root_pitch: int) -> int:
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


def bass_part(ctx: PartContext, pattern_style: str, threshold: float) -> list[Note]:
    rng = ctx.rng
    spec = ctx.spec
    notes: list[Note] = []
    if ctx.beats_per_bar == 3 and pattern_style != "walking":
        patterns: tuple[BassPattern, ...] = WALTZ_BASS
    else:
        patterns = BASS_PATTERNS[pattern_style] if pattern_style != "walking" else ()
    main: BassPattern = pick(rng, patterns) if patterns else ()
    alt: BassPattern = pick(rng, patterns) if patterns else ()
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
            notes.append(Note(pitch, t, end, velocity(rng, base_velocity + accent, 7.0)))
    return notes


def _walking_bar(ctx: PartContext, bar: int, chord: Chord, next_chord: Chord, root_pitch: int,
                 base_velocity: float) -> list[Note]:
    """Quarter-note walk: root on 1, chord tones in between, diatonic approach to the next root."""
    rng = ctx.rng
    pitches = [root_pitch]
    chord_tones = [root_pitch + ((pc - chord.root_pc) % 12) for pc in chord.pcs]
    for beat in range(1, ctx.beats_per_bar):
        if beat == ctx.beats_per_bar - 1:
            pitches.append(_bass_pitch("A", chord, next_chord, ctx, root_pitch))
        else:
            pitches.append(pick(rng, chord_tones[1:] + [root_pitch + 12]))
    notes = []
    for beat, pitch in enumerate(pitches):
        t = ctx.time(bar, float(beat))
        notes.append(Note(pitch, t, t + 0.92 * ctx.seconds_per_beat,
                          velocity(rng, base_velocity + (6 if beat == 0 else 0), 6.0)))
    return notes
