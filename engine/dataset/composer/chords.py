"""The chordal parts: chords on the style's rhythm, a sustained pad, an arpeggio."""

from __future__ import annotations

from engine.dataset.composer.context import ARP_REGISTER, PAD_REGISTER, PartContext
from engine.dataset.composer.draws import pick, velocity
from engine.dataset.composer.harmony import voice
from engine.dataset.composer.patterns import CHORD_RHYTHMS, WALTZ_CHORDS, ChordRhythm
from engine.dataset.score import Note


def chord_part(ctx: PartContext, rhythm_name: str, register: tuple[int, int], threshold: float,
            strum_seconds: float = 0.0) -> list[Note]:
    rng = ctx.rng
    if ctx.beats_per_bar == 3 and rhythm_name not in ("sustain",):
        rhythms: tuple[ChordRhythm, ...] = WALTZ_CHORDS
    else:
        rhythms = CHORD_RHYTHMS[rhythm_name]
    main = pick(rng, rhythms)
    alt = pick(rng, rhythms)
    base_velocity = 62 + 18 * float(rng.random())
    center = (register[0] + register[1]) / 2.0
    notes: list[Note] = []
    for bar, chord in enumerate(ctx.chords):
        e = ctx.energy[bar]
        if e < threshold:
            continue
        voicing = voice(chord, register, center, rng)
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
                                  velocity(rng, base_velocity + accent + 10 * (e - 0.5), 6.0)))
    return notes


def pad_part(ctx: PartContext, threshold: float) -> list[Note]:
    rng = ctx.rng
    notes: list[Note] = []
    base_velocity = 50 + 15 * float(rng.random())
    center = sum(PAD_REGISTER) / 2.0
    bar_seconds = ctx.beats_per_bar * ctx.seconds_per_beat
    for bar, chord in enumerate(ctx.chords):
        if ctx.energy[bar] < threshold:
            continue
        voicing = voice(chord, PAD_REGISTER, center, rng)
        t = ctx.bar_starts_seconds[bar]
        for pitch in voicing:
            notes.append(Note(pitch, t, t + bar_seconds * 0.98, velocity(rng, base_velocity, 4.0)))
    return notes


def arp_part(ctx: PartContext, threshold: float) -> list[Note]:
    """Chord tones cycled on an 8th or 16th grid: onsets on every beat keep the pulse audible."""
    rng = ctx.rng
    step_beats = 0.5 if (ctx.seconds_per_beat < 0.42 or rng.random() < 0.5) else 0.25
    shape = pick(rng, ("up", "updown", "down", "alberti"))
    gate = 0.5 + 0.4 * float(rng.random())
    base_velocity = 60 + 20 * float(rng.random())
    notes: list[Note] = []
    for bar, chord in enumerate(ctx.chords):
        if ctx.energy[bar] < threshold:
            continue
        voicing = voice(chord, (ARP_REGISTER[0], ARP_REGISTER[0] + 14), ARP_REGISTER[0] + 7, rng, 3)
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
                              velocity(rng, base_velocity + accent, 5.0)))
    return notes
