"""Harmony: chords on scale degrees, close voicings with smooth voice leading, one chord per bar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.dataset.composer.draws import pick
from engine.dataset.composer.progressions import MODE_PROGRESSIONS
from engine.dataset.composer.styles import StyleSpec
from engine.dataset.score import SCALE_INTERVALS

# Above this, four bars overflow a 12 s dataset clip, so clips are two bars long (see piece_job.plan_clips).
MAX_FOUR_BAR_SECONDS: float = 12.0


@dataclass(frozen=True)
class Chord:
    """One bar's chord as pitch classes."""

    root_pc: int  # pitch class (0-11) of the chord root
    pcs: tuple[int, ...]  # root, third, fifth[, seventh] pitch classes


def build_chord(degree: int, ctx_scale: tuple[int, ...], tonic_pc: int, seventh: bool,
                major_dominant: bool) -> Chord:
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
    return Chord(root_pc=pcs[0], pcs=pcs)


def voice(chord: Chord, register: tuple[int, int], target_center: float, rng: np.random.Generator,
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



def plan_chords(spec: StyleSpec, scale: str, tonic_pc: int, n_bars: int, bar_seconds: float,
                rng: np.random.Generator) -> list[Chord]:
    """One chord per bar: one progression (sometimes two alternating every 4 bars) of the scale's pool."""
    if scale in ("major", "minor"):
        pool = spec.progressions_major if scale == "major" else spec.progressions_minor
    else:
        pool = MODE_PROGRESSIONS[scale]
    progression_a = pick(rng, pool)
    progression_b = pick(rng, pool) if rng.random() < 0.4 else progression_a
    if 4 * bar_seconds > MAX_FOUR_BAR_SECONDS:
        # Slow bars: the dataset cuts 2-bar clips, and a window holding only e.g. IV-V names the wrong key.
        # A two-bar vamp (tonic on every other bar) keeps the tonic in every 2-bar clip.
        progression_a = (progression_a[0], progression_a[1], progression_a[0], progression_a[3])
        progression_b = (progression_b[0], progression_b[1], progression_b[0], progression_b[3])
    seventh = rng.random() < spec.seventh_probability
    major_dominant = scale == "minor" and rng.random() < 0.8  # leading tone helps key estimation
    scale_intervals = SCALE_INTERVALS[scale]
    chords: list[Chord] = []
    for bar in range(n_bars):
        prog = progression_a if (bar // 4) % 2 == 0 else progression_b
        chords.append(build_chord(prog[bar % 4], scale_intervals, tonic_pc, seventh, major_dominant))
    return chords

