"""Chord names from pitch classes (instrument/chord_names.py): every name parses back to its pitch classes with
engine/harmony.py's own parser, the bass decides between same-note chords, non-chords get no name."""

from __future__ import annotations

import pytest

from engine.harmony import parse_chord
from instrument.chord_names import QUALITIES, name_chord, pitch_class_list


@pytest.mark.parametrize("root", range(12))
def test_every_table_chord_in_root_position_is_named_and_parses_back(root: int) -> None:
    for suffix, intervals in QUALITIES:
        classes = {(root + i) % 12 for i in intervals}
        name = name_chord(classes, root)
        assert name is not None, (root, suffix)
        assert parse_chord(name).pitch_classes == frozenset(classes), (name, suffix)
        assert parse_chord(name).root == root, name


@pytest.mark.parametrize(("classes", "bass", "name"), [
    ({9, 0, 4}, 9, "Am"), ({0, 4, 7}, 4, "C/E"), ({0, 4, 7, 9}, 0, "C6"), ({0, 4, 7, 9}, 9, "Am7"),
    ({7, 11, 2, 5}, 7, "G7"), ({2, 5, 9, 0}, 2, "Dm7"), ({11, 2, 5}, 11, "Bdim"), ({0, 7}, 0, "C5"),
    ({10, 2, 5}, 10, "Bb"), ({0, 2, 7}, 0, "Csus2"), ({0, 2, 7}, 7, "Gsus4"), ({6, 10, 1}, 6, "F#"),
])
def test_the_bass_decides_between_chords_of_the_same_notes(classes: set[int], bass: int, name: str) -> None:
    assert name_chord(classes, bass) == name
    assert parse_chord(name).pitch_classes == frozenset(classes)


@pytest.mark.parametrize("classes", [set(), {0}, {0, 1}, {0, 1, 2}, {0, 4}, {0, 1, 6, 7}])
def test_sets_that_are_no_table_chord_have_no_name(classes: set[int]) -> None:
    assert name_chord(classes, min(classes, default=None)) is None


def test_pitch_class_list() -> None:
    assert pitch_class_list([6, 0, 2, 0]) == "C D F#"
