"""instrument/prompt_words.py: a typed prompt's words move the tempo, key and scale knobs, atomically."""

from __future__ import annotations

import pytest

from engine.vocabulary import KEY_TONICS, SCALES
from instrument.parameters import ParameterStore
from instrument.prompt_words import commit_typed_prompt


def test_typed_words_move_the_knobs_with_the_text_in_one_change() -> None:
    store = ParameterStore()
    seen: list[tuple[str, object]] = []
    store.subscribe(lambda name, value, source: seen.append((name, value)))
    version = store.version
    words = commit_typed_prompt(store, 1, "deep house at 126 bpm in Eb minor")
    assert store.prompt_texts()[1] == "deep house at 126 bpm in Eb minor"
    assert store.get("tempo_bpm") == 126.0
    assert KEY_TONICS[int(store.get("key"))] == "D#" and SCALES[int(store.get("scale"))] == "minor"
    assert words.short() == "126 BPM · Eb min"
    # one set_many (atomic: no chunk sees the text without its key), four effective changes
    assert [c.name for c in store.changes_since(version)] == ["tempo_bpm", "key", "scale", "prompt_2_text"]
    assert {name for name, _ in seen} == {"prompt_2_text", "tempo_bpm", "key", "scale"}


def test_words_that_state_nothing_leave_the_knobs_and_a_knob_turned_later_wins() -> None:
    store = ParameterStore()
    store.set("tempo_bpm", 97.0)
    commit_typed_prompt(store, 0, "the 1975 and key lime pie")
    assert store.get("tempo_bpm") == 97.0 and store.prompt_texts()[0] == "the 1975 and key lime pie"
    commit_typed_prompt(store, 0, "tempo 90 in G")
    assert store.get("tempo_bpm") == 90.0 and KEY_TONICS[int(store.get("key"))] == "G"
    assert SCALES[int(store.get("scale"))] == "major"  # no scale word: the scale knob stays where it was
    store.set("tempo_bpm", 110.0)
    assert store.get("tempo_bpm") == 110.0


def test_a_tempo_beyond_the_knob_is_clamped_and_said() -> None:
    store = ParameterStore()
    words = commit_typed_prompt(store, 2, "gabber at 300 bpm")
    assert store.get("tempo_bpm") == store.spec("tempo_bpm").maximum
    assert "set to 240" in words.describe()
    with pytest.raises(ValueError, match="slot"):
        commit_typed_prompt(store, 4, "x")
