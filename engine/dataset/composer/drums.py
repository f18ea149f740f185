"""The drum part: the style's pattern bar by bar, layers by energy, fills into louder sections, crashes."""

from __future__ import annotations

from engine.dataset.composer.context import PartContext
from engine.dataset.composer.draws import pick, velocity
from engine.dataset.composer.patterns import (
    CORE_PITCHES, CRASH, DRUM_PATTERNS, KICK, LOW_TOM, MID_TOM, PULSE_PITCHES, SNARE, VELOCITY_OF_CHAR,
)
from engine.dataset.score import Note


def drum_part(ctx: PartContext, pattern_name: str) -> list[Note]:
    """Style pattern per bar; timekeeping layer always on, kick/snare and extras by energy."""
    rng = ctx.rng
    patterns = DRUM_PATTERNS[pattern_name]
    main = pick(rng, patterns)
    alt = pick(rng, patterns)  # used now and then for variety at high energy
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
            if pitch in PULSE_PITCHES:
                pass
            elif pitch in CORE_PITCHES:
                if e < core_threshold:
                    continue
            elif e < extra_threshold:
                continue
            for step, char in enumerate(steps[: ctx.beats_per_bar * steps_per_beat]):
                if char == "." or (step >= fill_from_step and pitch not in (KICK,) and pitch not in PULSE_PITCHES):
                    continue
                if char == "g" and e < 0.45:
                    continue  # ghost notes only once the groove is busy
                vel = VELOCITY_OF_CHAR[char] * (0.8 + 0.25 * e)
                t = ctx.time(bar, step / steps_per_beat)
                notes.append(Note(pitch, t, t + 0.09, velocity(rng, vel, 6.0)))
        if fill:
            # snare/tom run over the last beat, rising in velocity
            fill_pitches = (SNARE, SNARE, MID_TOM, LOW_TOM) if rng.random() < 0.5 else (SNARE,) * 4
            for k in range(4):
                pos = ctx.beats_per_bar - 1 + k * 0.25
                t = ctx.time(bar, pos)
                notes.append(Note(fill_pitches[k], t, t + 0.08, velocity(rng, 70 + 12 * k, 5.0)))
        # crash on the downbeat when a loud section starts
        if bar > 0 and e >= 0.8 and ctx.energy[bar - 1] < e - 0.1 and pattern_name not in ("ambient_pulse",):
            t = ctx.time(bar, 0.0)
            notes.append(Note(CRASH, t, t + 0.5, velocity(rng, 100, 6.0)))
    return notes
