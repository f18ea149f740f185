"""compose(): one piece of a style from an rng alone, in named steps: draw the tempo, meter and key, plan the
chords and the arrangement's energy, write the parts, tidy them into tracks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.dataset.composer.arrangement import plan_energy
from engine.dataset.composer.bass import bass_part
from engine.dataset.composer.chords import arp_part, chord_part, pad_part
from engine.dataset.composer.context import CHORD_REGISTER, COUNTER_REGISTER, PartContext
from engine.dataset.composer.draws import pick
from engine.dataset.composer.drums import drum_part
from engine.dataset.composer.harmony import Chord, plan_chords
from engine.dataset.composer.melody import melody_part
from engine.dataset.composer.styles import STYLES, StyleSpec
from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS, Note, Piece, Track


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
        return pick(rng, spec.modes)
    return "minor" if rng.random() < spec.minor_probability else "major"


@dataclass(frozen=True)
class _Frame:
    """The piece's tempo, meter and key, drawn first and fixed for the whole piece."""

    tempo_bpm: float
    beats_per_bar: int
    tonic_pc: int
    scale: str
    n_bars: int

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.seconds_per_beat

    @property
    def end_seconds(self) -> float:
        return self.n_bars * self.bar_seconds


def _draw_frame(spec: StyleSpec, rng: np.random.Generator, n_bars: int) -> _Frame:
    """Tempo (whole or one-decimal BPM inside the style's range), meter, tonic and scale."""
    lo_bpm, hi_bpm = spec.tempo_range_bpm
    tempo_bpm = float(rng.uniform(lo_bpm, hi_bpm))
    tempo_bpm = float(round(tempo_bpm)) if rng.random() < 0.5 else round(tempo_bpm, 1)
    tempo_bpm = float(np.clip(tempo_bpm, lo_bpm, hi_bpm))
    beats_per_bar = 3 if rng.random() < spec.triple_meter_probability else 4
    tonic_pc = int(rng.integers(12))
    scale = _choose_scale(spec, rng)
    return _Frame(tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar, tonic_pc=tonic_pc, scale=scale, n_bars=n_bars)


def _part_context(spec: StyleSpec, frame: _Frame, chords: list[Chord], energy: list[float],
                  rng: np.random.Generator) -> PartContext:
    scale_intervals = SCALE_INTERVALS[frame.scale]
    bar_seconds = frame.bar_seconds
    return PartContext(
        rng=rng, spec=spec, seconds_per_beat=frame.seconds_per_beat, beats_per_bar=frame.beats_per_bar,
        bar_starts_seconds=[i * bar_seconds for i in range(frame.n_bars)], end_seconds=frame.end_seconds,
        tonic_pc=frame.tonic_pc, scale_pcs=frozenset((frame.tonic_pc + i) % 12 for i in scale_intervals),
        scale_intervals=scale_intervals, chords=chords, energy=energy,
        swing_fraction=spec.swing_fraction, swing16_fraction=spec.swing16_fraction)


class _Tracks:
    """The piece's tracks as its parts are written: each tidied, panned and kept if it has notes left."""

    def __init__(self, rng: np.random.Generator, max_end_seconds: float) -> None:
        self.rng = rng
        self.max_end_seconds = max_end_seconds
        self.tracks: list[Track] = []

    def add(self, role: str, program: int, notes: list[Note], is_drum: bool = False, drum_kit: int = 0) -> None:
        notes = _tidy(notes, self.max_end_seconds)
        if notes:
            self.tracks.append(Track(name=role, program=program, is_drum=is_drum, role=role, notes=notes,
                                     pan=_pan(self.rng, role), drum_kit=drum_kit))


def _add_drums(tracks: _Tracks, ctx: PartContext, style: str) -> None:
    rng, spec = ctx.rng, ctx.spec
    if ctx.beats_per_bar == 3:
        pattern_name = "jazz_waltz" if style == "jazz" else "waltz"
    else:
        pattern_name = pick(rng, spec.drum_patterns)
    kit = pick(rng, spec.drum_kits)
    tracks.add("drums", 0, drum_part(ctx, pattern_name), is_drum=True, drum_kit=kit)


def _add_chords_and_bass(tracks: _Tracks, ctx: PartContext, style: str, has_drums: bool) -> None:
    rng, spec = ctx.rng, ctx.spec
    # Without drums the chord part must carry the beat: force an on-the-beat rhythm, always on.
    chord_rhythm = pick(rng, spec.chord_rhythms) if has_drums else (
        "strum" if style == "folk" and ctx.beats_per_bar == 4 else "pulse")
    chord_program = pick(rng, spec.programs["chords"])
    strum = 0.012 if chord_program in range(24, 32) or chord_program in (105, 106, 46) else 0.0
    chord_register = (48, 67) if chord_program in (29, 30) else CHORD_REGISTER
    tracks.add("chords", chord_program, chord_part(ctx, chord_rhythm, chord_register, 0.0, strum))

    bass_threshold = 0.0 if not has_drums else 0.25 + 0.1 * float(rng.random())
    tracks.add("bass", pick(rng, spec.programs["bass"]), bass_part(ctx, pick(rng, spec.bass_patterns), bass_threshold))


def _add_optional_parts(tracks: _Tracks, ctx: PartContext, style: str, has_drums: bool) -> None:
    """Pad, arpeggio, lead and counter-melody, each with the style's probability."""
    rng, spec = ctx.rng, ctx.spec
    roles = spec.optional_roles
    if rng.random() < roles.get("pad", 0.0):
        tracks.add("pad", pick(rng, spec.programs["pad"]), pad_part(ctx, 0.0))
    if rng.random() < roles.get("arp", 0.0) or (not has_drums and style == "ambient"):
        arp_threshold = 0.0 if not has_drums else 0.4 + 0.15 * float(rng.random())
        tracks.add("arp", pick(rng, spec.programs["arp"]), arp_part(ctx, arp_threshold))
    if rng.random() < roles.get("lead", 0.6):
        tracks.add("lead", pick(rng, spec.programs["lead"]),
                   melody_part(ctx, spec.lead_register, spec.melody_density, 0.45 + 0.15 * float(rng.random())))
    if "counter" in spec.programs and rng.random() < roles.get("counter", 0.0):
        tracks.add("counter", pick(rng, spec.programs["counter"]),
                   melody_part(ctx, COUNTER_REGISTER, spec.melody_density * 0.6, 0.7))


def compose(style: str, rng: np.random.Generator, piece_id: str, n_bars: int | None = None) -> Piece:
    """Compose one piece of `style` using only `rng`; validated before it is returned."""
    if style not in STYLES:
        raise KeyError(f"unknown style {style!r}; known: {sorted(STYLES)}")
    spec = STYLES[style]
    if n_bars is None:
        n_bars = int(rng.integers(16, 33))
    if n_bars < 1:
        raise ValueError("n_bars must be >= 1")
    frame = _draw_frame(spec, rng, n_bars)
    chords = plan_chords(spec, frame.scale, frame.tonic_pc, n_bars, frame.bar_seconds, rng)
    energy = plan_energy(n_bars, rng)
    has_drums = bool(spec.drum_patterns) and rng.random() < spec.drum_probability
    ctx = _part_context(spec, frame, chords, energy, rng)

    tracks = _Tracks(rng, frame.end_seconds + frame.seconds_per_beat)
    if has_drums:
        _add_drums(tracks, ctx, style)
    _add_chords_and_bass(tracks, ctx, style, has_drums)
    _add_optional_parts(tracks, ctx, style, has_drums)

    moods = spec.moods_minor if frame.scale in ("minor", "dorian") else spec.moods_major
    piece = Piece(
        piece_id=piece_id, source="composer", source_name=f"composer/{style}/{piece_id}", style=style,
        tempo_bpm=frame.tempo_bpm, key_tonic=PITCH_CLASS_NAMES[frame.tonic_pc], scale=frame.scale,
        beats_per_bar=frame.beats_per_bar, bar_starts_seconds=ctx.bar_starts_seconds, end_seconds=frame.end_seconds,
        tracks=tracks.tracks, bar_energy=energy, mood=pick(rng, moods))
    piece.validate()
    return piece
