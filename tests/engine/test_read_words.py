"""engine/read_words.py: the four ways to read a prompt's words, one contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.prompt_words import read_prompt
from engine.read_words import READ_WORDS_MODES, ModelWords, prompt_reader, read_nothing
from engine.weights_io import CheckpointError


def test_modes() -> None:
    assert prompt_reader("rules") is read_prompt and prompt_reader("off") is read_nothing
    assert prompt_reader("off")("techno at 128 bpm in A minor").describe() == "nothing"
    both, model = prompt_reader("both"), prompt_reader("model")
    assert isinstance(both, ModelWords) and both.rules_first and isinstance(model, ModelWords) and not model.rules_first
    assert set(READ_WORDS_MODES) == {"both", "rules", "model", "off"}
    with pytest.raises(ValueError, match="read-words mode must be one of both, rules, model, off"):
        prompt_reader("regex")


def test_both_takes_the_rules_and_fills_a_bare_tempo_from_the_model() -> None:
    both = ModelWords(rules_first=True)
    stated = both("deep house at 126 bpm in Eb minor")
    assert (stated.tempo_bpm, stated.key, stated.scale, stated.model_read) == (126.0, "Eb", "minor", frozenset())
    assert both._model is None  # the rules read a tempo: the model is never loaded for it
    genre = both("techno 128 in F minor")  # a bare number beside a genre's name: the rules read it (session 23)
    assert (genre.tempo_bpm, genre.key, genre.scale, genre.model_read) == (128.0, "F", "minor", frozenset())
    bare = both("a groove at about 124 in F minor")
    assert (bare.tempo_bpm, bare.key, bare.scale) == (124.0, "F", "minor")
    assert bare.model_read == frozenset({"tempo"}) and any("tempo read by the model, p" in n for n in bare.notes)
    # keys stay the rules': the model hears "A major" in "a major hit", both does not
    assert both("a major hit").key is None
    # a tempo the rules refused (out of range) is said, not guessed by the model
    refused = both("a house track at 900 bpm")
    assert refused.tempo_bpm is None and any("ignored: tempo must be" in n for n in refused.notes)
    # cached by text, an empty or unreadable text reads nothing
    assert both.reading("a groove at about 128") is both.reading("a groove at about 128")
    assert both("").describe() == "nothing" and both("\x01\x02").describe() == "nothing"


def test_a_broken_reader_file_costs_both_only_the_model(tmp_path: Path) -> None:
    broken = tmp_path / "reader.safetensors"
    broken.write_bytes(b"\x00" * 64)
    both = ModelWords(rules_first=True, path=broken)
    reading = both("a groove at about 128 in F minor")
    assert (reading.tempo_bpm, reading.key) == (None, "F")
    assert any("the words reader model is not loaded" in n for n in reading.notes) and both.load_error
    with pytest.raises(CheckpointError):
        ModelWords(rules_first=False, path=broken)("techno 128")
