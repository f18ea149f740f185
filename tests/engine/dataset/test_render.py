"""Rendering: FluidSynth output shape/rate/level, loudness normalisation, soundfont errors."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from engine.dataset import render
from engine.dataset.score import Note, Piece, Track
from engine.vocabulary import SAMPLE_RATE


def small_piece(tempo_bpm: float = 120.0, bars: int = 4) -> Piece:
    beat = 60.0 / tempo_bpm
    drums = Track("drums", 0, True, "drums", [
        Note(36 if b % 2 == 0 else 38, b * beat, b * beat + 0.1, 100) for b in range(bars * 4)])
    chords = Track("piano", 0, False, "chords", [
        Note(p, bar * 4 * beat, (bar + 1) * 4 * beat, 80) for bar in range(bars) for p in (60, 64, 67)], pan=0.3)
    piece = Piece("p000000", "composer", "composer/test/p000000", "test", tempo_bpm, "C", "major", 4,
                  [i * 4 * beat for i in range(bars)], bars * 4 * beat, [drums, chords], [0.5] * bars)
    piece.validate()
    return piece


@pytest.fixture(scope="module")
def renderer() -> render.FluidRenderer:
    return render.FluidRenderer()


def test_render_shape_rate_and_level(renderer: render.FluidRenderer) -> None:
    piece = small_piece()
    audio = renderer.render(piece, tail_seconds=1.0)
    assert audio.dtype == np.float32
    assert audio.shape == (2, round((piece.end_seconds + 1.0) * SAMPLE_RATE))
    assert np.all(np.isfinite(audio))
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio[:, : int(piece.end_seconds * 44100)] ** 2)))
    assert rms_db > -40.0, "the render is (nearly) silent"
    # The piano is panned left: the left channel carries more energy.
    assert np.mean(audio[0] ** 2) > np.mean(audio[1] ** 2)


def test_render_is_deterministic_and_resets_between_pieces(renderer: render.FluidRenderer) -> None:
    piece = small_piece()
    first = renderer.render(piece)
    renderer.render(small_piece(tempo_bpm=90.0))
    again = renderer.render(piece)
    np.testing.assert_array_equal(first, again)


def test_normalise_loudness_hits_target_with_peak_ceiling(renderer: render.FluidRenderer) -> None:
    audio = renderer.render(small_piece())
    out, lufs = render.normalise_loudness(audio)
    measured = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(out.T.astype(np.float64))
    assert abs(measured - lufs) < 0.05
    assert np.max(np.abs(out)) <= 10 ** (render.PEAK_CEILING_DBFS / 20) + 1e-6
    assert lufs <= render.TARGET_LUFS + 0.05
    assert lufs > render.TARGET_LUFS - 6.0, "peak limiting should rarely cost more than a few LU here"


def test_normalise_loudness_of_silence_is_defined() -> None:
    out, lufs = render.normalise_loudness(np.zeros((2, 44100), np.float32))
    assert lufs == float("-inf") and not np.any(out)


def test_missing_soundfont_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("CASCADE_SOUNDFONT", raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_CANDIDATES", (str(tmp_path / "none.sf2"),))
    with pytest.raises(render.SoundfontMissingError, match="fluid-soundfont-gm"):
        render.find_soundfont()
    with pytest.raises(render.SoundfontMissingError, match="does not exist"):
        render.find_soundfont(tmp_path / "named.sf2")
