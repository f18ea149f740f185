"""instrument/arguments.py: the argparse types of the command line."""

from __future__ import annotations

import argparse

import pytest

from instrument.arguments import guided_control_names


@pytest.mark.parametrize(("text", "names"), [
    ("none", ()), (" None ", ()), ("clock", ("clock",)), ("clock,harmony", ("harmony", "clock")),
    ("harmony, clock", ("harmony", "clock")), ("clock,chords", ("chords", "clock")),
])
def test_guided_control_names_in_their_canonical_order(text: str, names: tuple[str, ...]) -> None:
    assert guided_control_names(text) == names


@pytest.mark.parametrize("text", ["", ",", "loudness", "clock,tempo", "none,clock", "descriptors"])
def test_guided_control_names_refuse_what_is_not_a_control(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="none or names"):
        guided_control_names(text)
