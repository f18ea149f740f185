"""The score's tables agree with the shared vocabulary (the dataset's keys and scales are the captions')."""

from __future__ import annotations

from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS, TONAL_SCALES
from engine.vocabulary import KEY_TONICS, SCALES


def test_pitch_class_names_are_the_vocabulary_tonics() -> None:
    assert PITCH_CLASS_NAMES == KEY_TONICS and len(PITCH_CLASS_NAMES) == 12


def test_scale_intervals_cover_the_vocabulary_scales_in_order() -> None:
    assert tuple(SCALE_INTERVALS) == SCALES
    assert TONAL_SCALES <= set(SCALES)
    assert all(len(steps) == 7 and steps[0] == 0 for steps in SCALE_INTERVALS.values())
