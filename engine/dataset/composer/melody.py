"""The melodic parts (lead, counter-melody): motifs, chord tones on beats, cadences on the tonic."""

from __future__ import annotations

import numpy as np

from engine.dataset.composer.context import PartContext
from engine.dataset.composer.draws import pick, velocity
from engine.dataset.score import Note


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


def melody_part(ctx: PartContext, register: tuple[int, int], density: float, threshold: float,
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
                pitch = pick(rng, cands) if cands else prev
            else:
                idx = min(range(len(scale_pitches)), key=lambda j: abs(scale_pitches[j] - prev))
                step = pick(rng, (-2, -1, -1, 1, 1, 2))
                pitch = scale_pitches[min(len(scale_pitches) - 1, max(0, idx + step))]
            dur = min(nxt - pos, 2.0) * legato
            t = ctx.time(bar, pos)
            accent = 8.0 if pos % 1.0 == 0.0 else 0.0
            notes.append(Note(pitch, t, t + dur * ctx.seconds_per_beat,
                              velocity(rng, base_velocity + accent + 8 * (e - 0.5), 7.0)))
            prev = pitch
    return notes
