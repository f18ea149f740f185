"""engine/harmony.py: chord symbols, progressions and keys -> chroma curves at the latent frame rate."""

from __future__ import annotations

import numpy as np
import pytest

from engine.harmony import (LATENT_FRAME_RATE_HZ, PROGRESSION_SCALE_WEIGHT, bar_of_frames, diatonic_triad, key_chroma,
                            key_progression, parse_chord, parse_progression, progression_chroma, scale_profile,
                            tonic_chord)
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE

C, Cs, D, Ds, E, F, Fs, G, Gs, A, As, B = range(12)


@pytest.mark.parametrize("symbol, pitch_classes, bass", [
    ("C", {C, E, G}, None),
    ("Am", {A, C, E}, None),
    ("F#m", {Fs, A, Cs}, None),
    ("Bb", {As, D, F}, None),
    ("Eb7", {Ds, G, As, Cs}, None),
    ("Cmaj7", {C, E, G, B}, None),
    ("Am7", {A, C, E, G}, None),
    ("Dm7b5", {D, F, Gs, C}, None),
    ("Gsus4", {G, C, D}, None),
    ("Gsus2", {G, A, D}, None),
    ("Bdim", {B, D, F}, None),
    ("Caug", {C, E, Gs}, None),
    ("C+", {C, E, Gs}, None),
    ("Cdim7", {C, Ds, Fs, A}, None),
    ("Dbmaj7", {Cs, F, Gs, C}, None),
    ("Cb", {B, Ds, Fs}, None),  # enharmonic: C flat is B
    ("E#m", {F, Gs, C}, None),
    ("C/E", {C, E, G}, E),  # the bass is already a chord tone
    ("C/Bb", {C, E, G, As}, As),  # the bass note is added
    ("Am/G", {A, C, E, G}, G),
    ("D/F#", {D, Fs, A}, Fs),
    ("G7sus4", {G, C, D, F}, None),
    ("A5", {A, E}, None),
    ("Cm6", {C, Ds, G, A}, None),
    ("Cadd9", {C, D, E, G}, None),
])
def test_chord_symbols_give_their_pitch_classes(symbol: str, pitch_classes: set[int], bass: int | None) -> None:
    chord = parse_chord(symbol)
    assert chord.pitch_classes == frozenset(pitch_classes)
    assert chord.bass == bass and not chord.is_no_chord
    chroma = chord.chroma()
    assert chroma.shape == (12,) and set(np.flatnonzero(chroma)) == pitch_classes and chroma.max() == 1.0


@pytest.mark.parametrize("symbol", ["N.C.", "NC", "n.c.", "N.C"])
def test_no_chord_is_silent(symbol: str) -> None:
    chord = parse_chord(symbol)
    assert chord.is_no_chord and not chord.chroma().any()


@pytest.mark.parametrize("token", ["H", "am", "c", "Amm", "Cmaj13", "C#b", "Bbb", "7", "X7", "C/", "C/H", "C/Em",
                                   "Cx", "A-7-", "", "Am7/", "N.C.7", "Emaj7b9"])
def test_bad_chord_symbols_raise_naming_the_token(token: str) -> None:
    with pytest.raises(ValueError, match="chord") as error:
        parse_chord(token)
    assert repr(token) in str(error.value)


def test_a_progression_parses_each_token_and_names_the_bad_one() -> None:
    chords = parse_progression("Am F  C G")
    assert [c.symbol for c in chords] == ["Am", "F", "C", "G"]
    assert [c.symbol for c in parse_progression("Am | F | C, G")] == ["Am", "F", "C", "G"]
    with pytest.raises(ValueError, match="'H7'"):
        parse_progression("Am H7 C")
    with pytest.raises(ValueError, match="empty"):
        parse_progression("  | ")


def test_the_frame_rate_is_the_latent_rate() -> None:
    assert LATENT_FRAME_RATE_HZ == SAMPLE_RATE / LATENT_HOP_FRAMES


def test_one_chord_a_bar_at_the_tempo_looped() -> None:
    # 120 BPM, 4 beats a bar: a bar is 2 s = 86.13 latent frames; frame 86 (1.997 s) is in bar 0, 87 in bar 1.
    frames = 4 * 87 * 2 + 10
    curve = progression_chroma("Am F C G", 120.0, frames)
    assert curve.chroma.shape == (frames, 12) and curve.mask.shape == (frames,)
    assert curve.chroma.dtype == np.float32 and curve.mask.dtype == np.float32
    bars = bar_of_frames(frames, 120.0)
    assert bars[86] == 0 and bars[87] == 1
    expected = [parse_chord(s).chroma() for s in ("Am", "F", "C", "G")]
    for frame in (0, 86, 87, 200, 300, 344, 345, 700):
        assert np.array_equal(curve.chroma[frame], expected[bars[frame] % 4]), frame
    assert np.array_equal(curve.chroma[345], expected[0])  # bar 4: looped back to Am
    assert curve.mask.all()
    # 3 beats a bar at 90 BPM: a bar is 2 s again, so the same frames change chord
    waltz = progression_chroma("Am F C G", 90.0, frames, beats_per_bar=3)
    assert np.array_equal(waltz.chroma, curve.chroma)
    with pytest.raises(ValueError, match="tempo"):
        progression_chroma("Am", 0.0, 10)
    with pytest.raises(ValueError, match="beats_per_bar"):
        progression_chroma("Am", 120.0, 10, beats_per_bar=0)


def test_no_chord_bars_have_mask_zero() -> None:
    curve = progression_chroma("C N.C.", 120.0, 200)
    assert curve.mask[:87].all() and not curve.mask[87:173].any() and curve.mask[173:].all()
    assert not curve.chroma[87:173].any()


def test_key_gives_the_progression_by_default_or_the_scale_profile_or_the_tonic_chord() -> None:
    profile = scale_profile("A", "minor")
    assert profile[A] == 1.0 and profile[C] == profile[E] == 0.75
    assert {pc for pc in range(12) if profile[pc] == 0.5} == {B, D, F, G}
    assert not profile[[As, Cs, Ds, Fs, Gs]].any()
    assert set(np.flatnonzero(scale_profile("D", "dorian"))) == {D, E, F, G, A, B, C}
    curve = key_chroma("A", "minor", 50, "scale")
    assert curve.chroma.shape == (50, 12) and np.array_equal(curve.chroma[17], profile) and curve.mask.all()
    assert np.array_equal(key_chroma("A", "minor", 50).chroma, key_chroma("A", "minor", 50, "progression").chroma)
    assert tonic_chord("A", "minor").pitch_classes == {A, C, E}
    assert tonic_chord("G", "mixolydian").pitch_classes == {G, B, D}
    assert tonic_chord("Eb", "dorian").pitch_classes == {Ds, Fs, As}
    chord = key_chroma("Bb", "major", 8, "tonic_chord")
    assert set(np.flatnonzero(chord.chroma[0])) == {As, D, F}
    with pytest.raises(ValueError, match="key harmony source"):
        key_chroma("A", "minor", 8, "chord")
    with pytest.raises(ValueError, match="scale"):
        key_chroma("A", "lydian", 8)


@pytest.mark.parametrize("key, scale, symbols", [
    ("C", "major", ["C", "Am", "F", "G"]),
    ("A", "minor", ["Am", "F", "Dm", "Em"]),
    ("Eb", "major", ["Eb", "Cm", "Ab", "Bb"]),
    ("F#", "minor", ["F#m", "D", "Bm", "C#m"]),
    ("D", "dorian", ["Dm", "G", "Dm", "C"]),
    ("D", "minor", ["Dm", "Bb", "Gm", "Am"]),
    ("G", "minor", ["Gm", "Eb", "Cm", "Dm"]),
    ("E", "minor", ["Em", "C", "Am", "Bm"]),
    ("C", "mixolydian", ["C", "Bb", "F", "C"]),
    ("G", "mixolydian", ["G", "F", "C", "G"]),
])
def test_the_key_progression_is_diatonic_and_names_parse_back(key: str, scale: str, symbols: list[str]) -> None:
    chords = key_progression(key, scale)
    assert [chord.symbol for chord in chords] == symbols
    in_scale = set(np.flatnonzero(scale_profile(key, scale)))
    for chord in chords:
        assert chord.pitch_classes <= in_scale
        assert parse_chord(chord.symbol).pitch_classes == chord.pitch_classes
    assert diatonic_triad("B", "major", 6).symbol == "A#dim"


def test_the_progression_source_moves_a_bar_at_a_time_over_the_scale() -> None:
    frames_per_bar = 4 * 60.0 / 120.0 * LATENT_FRAME_RATE_HZ  # 86.1
    curve = key_chroma("C", "major", 400, "progression", tempo_bpm=120.0)
    assert curve.mask.all()
    expected = [{C, E, G}, {A, C, E}, {F, A, C}, {G, B, D}, {C, E, G}]
    for bar, chord in enumerate(expected):
        row = curve.chroma[int(bar * frames_per_bar + frames_per_bar / 2)]
        assert set(np.flatnonzero(row == 1.0)) == chord
        others = {D, E, F, G, A, B, C} - chord
        assert np.allclose(row[sorted(others)], PROGRESSION_SCALE_WEIGHT)
        assert not row[[Cs, Ds, Fs, Gs, As]].any()
    # chunk by chunk (start_frame) the bars continue; beat_offset moves the bar lines as it moves the clock
    tail = key_chroma("C", "major", 150, "progression", tempo_bpm=120.0, start_frame=250)
    assert np.array_equal(tail.chroma, curve.chroma[250:])
    shifted = key_chroma("C", "major", 400, "progression", tempo_bpm=120.0, beat_offset=2.0)
    half_bar = int(round(frames_per_bar / 2))
    assert np.array_equal(shifted.chroma[10:40], curve.chroma[10 + half_bar:40 + half_bar])
    # no tempo: the bars run at 120 BPM, as `cascade render --chords` does
    assert np.array_equal(key_chroma("C", "major", 400, "progression").chroma, curve.chroma)
