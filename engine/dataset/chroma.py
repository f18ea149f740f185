"""The exact pitch-class energy of a clip, from its score, at the latent frame rate (the harmony control's target).

Frame i spans [(i - 1/2) hop, (i + 1/2) hop) around sample i * hop of the clip, like the audio descriptors
(engine/dataset/descriptors.py), so chroma frames line up one-to-one with latent frames. Each pitched note
adds (velocity / 127)^2 to its pitch class, times the share of the frame it sounds in (onset to release as the
score has them; drums add nothing). Raw energies, not normalised: a silent frame is all zeros, so whoever uses
them can tell "no harmony" from a quiet one.
"""

from __future__ import annotations

import numpy as np

from engine.dataset.descriptors import HOP_FRAMES, frame_count
from engine.dataset.score import Track
from engine.vocabulary import SAMPLE_RATE

PITCH_CLASSES = 12


def score_chroma(tracks: list[Track], clip_start_seconds: float, clip_samples: int,
                 sample_rate: int = SAMPLE_RATE, hop_frames: int = HOP_FRAMES) -> np.ndarray:
    """(frame_count(clip_samples), 12) float32 pitch-class energy of the notes of `tracks` that sound in the
    clip starting at `clip_start_seconds` of the piece."""
    frames = frame_count(clip_samples, hop_frames)
    chroma = np.zeros((frames, PITCH_CLASSES), np.float64)
    if frames == 0:
        return chroma.astype(np.float32)
    hop_seconds = hop_frames / sample_rate
    for track in tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            # the note in frame units, relative to frame 0's centre, shifted so frame i spans [i, i + 1)
            start = (note.start_seconds - clip_start_seconds) / hop_seconds + 0.5
            end = (note.end_seconds - clip_start_seconds) / hop_seconds + 0.5
            if end <= 0.0 or start >= frames or end <= start:
                continue
            first, last = max(int(np.floor(start)), 0), min(int(np.ceil(end)), frames)
            index = np.arange(first, last)
            overlap = np.minimum(index + 1.0, end) - np.maximum(index.astype(np.float64), start)
            chroma[first:last, note.pitch % PITCH_CLASSES] += overlap * (note.velocity / 127.0) ** 2
    return chroma.astype(np.float32)
