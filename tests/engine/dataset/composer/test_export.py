"""Tests for engine.dataset.composer.export: MIDI round trip and caption instrument names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from engine.dataset.composer import STYLES, compose, instrument_name, piece_to_pretty_midi
from engine.dataset.score import Piece

SEEDS: range = range(6)


def _piece(style: str, seed: int) -> Piece:
    return compose(style, np.random.default_rng(seed), f"{seed:06d}")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_midi_round_trip(style: str, tmp_path: Path) -> None:
    for seed in SEEDS[:3]:
        piece = _piece(style, seed)
        pm = piece_to_pretty_midi(piece)
        path = tmp_path / f"{seed}.mid"
        pm.write(str(path))
        loaded = pretty_midi.PrettyMIDI(str(path))
        _, tempi = loaded.get_tempo_changes()
        assert len(tempi) == 1 and tempi[0] == pytest.approx(piece.tempo_bpm, abs=0.01)
        assert sum(len(i.notes) for i in loaded.instruments) == sum(len(t.notes) for t in piece.tracks)
        drums = [i for i in loaded.instruments if i.is_drum]
        assert len(drums) == sum(t.is_drum for t in piece.tracks)
        programs = sorted(i.program for i in loaded.instruments if not i.is_drum)
        assert programs == sorted(t.program for t in piece.tracks if not t.is_drum)


def test_instrument_names() -> None:
    for style in sorted(STYLES):
        for seed in SEEDS:
            for track in _piece(style, seed).tracks:
                name = instrument_name(track)
                assert name == name.lower() and "(" not in name and name.strip() == name
                if track.is_drum:
                    assert "kit" in name or "drum" in name
