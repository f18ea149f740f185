"""engine/dataset/chroma.py: the score's pitch-class energy per latent frame."""

from __future__ import annotations

import numpy as np

from engine.dataset.chroma import score_chroma
from engine.dataset.descriptors import HOP_FRAMES
from engine.dataset.score import Note, Track
from engine.vocabulary import SAMPLE_RATE

HOP_S = HOP_FRAMES / SAMPLE_RATE


def test_a_chord_then_a_note_land_on_their_pitch_classes_and_frames() -> None:
    # C major triad (C4 E4 G4) on frames 0..9, then A2 loud on frames 20..29; a drum hit counts for nothing
    chord = Track("keys", 0, False, "chords", [Note(p, -0.5 * HOP_S, 9.5 * HOP_S, 127) for p in (60, 64, 67)])
    bass = Track("bass", 33, False, "bass", [Note(45, 19.5 * HOP_S, 29.5 * HOP_S, 127)])
    drums = Track("drums", 0, True, "drums", [Note(38, 0.0, 30 * HOP_S, 127)])
    chroma = score_chroma([chord, bass, drums], 0.0, 32 * HOP_FRAMES)
    assert chroma.shape == (32, 12) and chroma.dtype == np.float32
    assert np.allclose(chroma[:10, [0, 4, 7]], 1.0) and np.allclose(np.delete(chroma[:10], [0, 4, 7], axis=1), 0.0)
    assert np.allclose(chroma[10:20], 0.0) and np.allclose(chroma[30:], 0.0)
    assert np.allclose(chroma[20:30, 9], 1.0) and chroma[20:30].sum() == chroma[20:30, 9].sum()


def test_partial_frames_velocity_and_the_clip_offset() -> None:
    # a note sounding for half of frame 3 at velocity 64, in a clip starting 2 s into the piece
    start = 2.0 + 3.0 * HOP_S
    track = Track("lead", 80, False, "lead", [Note(62, start, start + 0.5 * HOP_S, 64)])
    chroma = score_chroma([track], 2.0, 8 * HOP_FRAMES)
    expected = 0.5 * (64 / 127) ** 2
    assert np.isclose(chroma[3, 2], expected, rtol=1e-6) and np.isclose(chroma.sum(), expected, rtol=1e-6)
    assert score_chroma([track], 10.0, 8 * HOP_FRAMES).sum() == 0.0  # the note is before this clip
    assert score_chroma([track], 0.0, 100).shape == (0, 12)
