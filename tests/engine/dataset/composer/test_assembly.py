"""Tests for engine.dataset.composer (compose): valid, reproducible, style-true pieces with exact metadata."""

from __future__ import annotations


import numpy as np
import pytest

from engine.dataset.composer import STYLES, StyleSpec, compose, instrument_name
from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS, TONAL_SCALES, Piece

REQUIRED_STYLES: tuple[str, ...] = ("house", "techno", "drum and bass", "hip hop", "lo-fi", "ambient", "rock",
                                    "funk", "jazz", "reggae", "chamber", "folk")
SEEDS: range = range(6)
KEY_SEEDS: range = range(16)

# Krumhansl-Kessler key profiles (tonic first).
KK_MAJOR: np.ndarray = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR: np.ndarray = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _piece(style: str, seed: int, n_bars: int | None = None) -> Piece:
    return compose(style, np.random.default_rng(seed), f"{seed:06d}", n_bars=n_bars)


def _pitched_notes(piece: Piece) -> list:
    return [n for t in piece.tracks if not t.is_drum for n in t.notes]


def estimate_key(piece: Piece) -> tuple[str, str]:
    """Krumhansl-Schmuckler: correlate the duration-weighted pitch-class histogram with all 24 profiles."""
    histogram = np.zeros(12)
    for note in _pitched_notes(piece):
        histogram[note.pitch % 12] += note.end_seconds - note.start_seconds
    best = ("C", "major")
    best_r = -np.inf
    for tonic in range(12):
        for scale, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = (PITCH_CLASS_NAMES[tonic], scale), r
    return best


def _bar_index(piece: Piece, t_seconds: float) -> int:
    return int(np.searchsorted(np.asarray(piece.bar_starts_seconds), t_seconds + 1e-6, side="right") - 1)


def test_required_styles_present() -> None:
    assert set(REQUIRED_STYLES) <= set(STYLES)
    assert all(isinstance(spec, StyleSpec) for spec in STYLES.values())


@pytest.mark.parametrize("style", sorted(STYLES))
def test_pieces_are_valid_and_match_style(style: str) -> None:
    spec = STYLES[style]
    for seed in SEEDS:
        piece = _piece(style, seed)
        piece.validate()
        lo, hi = spec.tempo_range_bpm
        assert lo <= piece.tempo_bpm <= hi
        assert piece.tempo_bpm == round(piece.tempo_bpm, 1)
        assert piece.source == "composer" and piece.style == style
        assert piece.source_name == f"composer/{style}/{seed:06d}"
        assert piece.mood
        assert 16 <= len(piece.bar_starts_seconds) <= 32
        assert piece.beats_per_bar in (3, 4)
        assert 1 <= len(piece.tracks) <= 8
        bar_seconds = piece.beats_per_bar * piece.seconds_per_beat
        assert piece.bar_starts_seconds == pytest.approx([i * bar_seconds for i in range(len(piece.bar_starts_seconds))])
        assert piece.end_seconds == pytest.approx(len(piece.bar_starts_seconds) * bar_seconds)
        assert all(0.0 <= e <= 1.0 for e in piece.bar_energy)
        for track in piece.tracks:
            assert 0.0 <= track.pan <= 1.0
            assert track.role in ("drums", "bass", "chords", "pad", "lead", "arp", "melody", "counter")
            assert instrument_name(track)
            for note in track.notes:
                assert note.end_seconds <= piece.end_seconds + piece.seconds_per_beat + 1e-6


@pytest.mark.parametrize("style", sorted(STYLES))
def test_notes_are_in_scale(style: str) -> None:
    for seed in SEEDS:
        piece = _piece(style, seed)
        tonic = PITCH_CLASS_NAMES.index(piece.key_tonic)
        scale_pcs = {(tonic + i) % 12 for i in SCALE_INTERVALS[piece.scale]}
        notes = _pitched_notes(piece)
        in_scale = sum(n.pitch % 12 in scale_pcs for n in notes)
        assert in_scale >= 0.9 * len(notes), (style, seed, in_scale / len(notes))


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_bar_has_onsets_and_drums(style: str) -> None:
    for seed in SEEDS:
        piece = _piece(style, seed)
        n_bars = len(piece.bar_starts_seconds)
        any_onsets = np.zeros(n_bars, dtype=bool)
        drum_onsets = np.zeros(n_bars, dtype=bool)
        for track in piece.tracks:
            for note in track.notes:
                bar = _bar_index(piece, note.start_seconds)
                any_onsets[bar] = True
                drum_onsets[bar] |= track.is_drum
        assert any_onsets.all(), (style, seed)
        has_drums = any(t.is_drum for t in piece.tracks)
        if has_drums:
            assert drum_onsets.all(), (style, seed)
            assert all(t.drum_kit in (0, 8, 16, 24, 25, 32, 40, 48) for t in piece.tracks if t.is_drum)


def test_drum_styles_always_have_drums() -> None:
    for style in ("house", "techno", "drum and bass", "hip hop", "rock", "funk", "jazz", "reggae"):
        for seed in SEEDS:
            assert any(t.is_drum for t in _piece(style, seed).tracks), (style, seed)
    assert not any(t.is_drum for seed in SEEDS for t in _piece("chamber", seed).tracks)


def test_key_estimate_agrees() -> None:
    total = agree = 0
    misses: list[tuple[str, int, str, str, tuple[str, str]]] = []
    for style in sorted(STYLES):
        for seed in KEY_SEEDS:
            piece = _piece(style, seed)
            if piece.scale not in TONAL_SCALES:
                continue
            total += 1
            estimate = estimate_key(piece)
            if estimate == (piece.key_tonic, piece.scale):
                agree += 1
            else:
                misses.append((style, seed, piece.key_tonic, piece.scale, estimate))
    assert total > 100
    assert agree >= 0.85 * total, (agree / total, misses[:20])


def test_modes_used_sometimes() -> None:
    scales = [_piece(style, seed).scale for style in ("funk", "jazz", "lo-fi", "rock", "folk") for seed in range(30)]
    share = sum(s in ("dorian", "mixolydian") for s in scales) / len(scales)
    assert 0.03 <= share <= 0.25
    keys = {(p.key_tonic, p.scale) for p in (_piece("house", s) for s in range(200))}
    assert len(keys) >= 20  # all tonics, both scales


def test_deterministic_per_seed() -> None:
    for style in sorted(STYLES):
        assert _piece(style, 7) == _piece(style, 7)
        assert _piece(style, 7) != _piece(style, 8)


def test_bar_energy_varies() -> None:
    pieces = [_piece(style, seed) for style in sorted(STYLES) for seed in SEEDS]
    varying = sum(len(set(p.bar_energy)) > 1 for p in pieces)
    assert varying >= 0.8 * len(pieces)


def test_n_bars_and_short_pieces() -> None:
    for style in sorted(STYLES):
        for n_bars in (1, 4, 9):
            piece = _piece(style, 3, n_bars=n_bars)
            assert len(piece.bar_starts_seconds) == n_bars == len(piece.bar_energy)
