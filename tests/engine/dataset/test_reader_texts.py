"""engine/dataset/reader_texts.py: the words reader's training texts state exactly what their labels say."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.dataset import captions
from engine.dataset.reader_texts import (READER_TEMPO_RANGE_BPM, facts_templates, number_not_tempo, number_words,
                                         reader_example)
from engine.prompt_words import read_prompt, words_to_number
from engine.vocabulary import tonic_index

ROWS = [{"split": "train", "style": style, "tempo": 120.0, "key": "C", "scale": "major",
         "instruments": ["piano", "808 drum machine", "synth bass 1"], "mood": "dark", "energy": "high",
         "effects": ["reverb"], "beats_per_bar": meter}
        for style, meter in (("house", 4), ("jazz", 4), ("chorale", 3), ("drum and bass", 4))]
ROWS.append({"split": "test", "style": "techno", "tempo": 130.0, "key": "A", "scale": "minor",
             "instruments": ["synth lead"], "mood": "", "energy": "", "effects": [], "beats_per_bar": 4})


@pytest.mark.parametrize("n", [1, 19, 20, 40, 99, 100, 101, 120, 128, 200, 250, 999])
def test_number_words_read_back_by_the_rule_reader(n: int) -> None:
    assert words_to_number(number_words(n)) == n


def test_templates_come_from_the_training_split_only() -> None:
    templates = facts_templates(ROWS)
    assert len(templates) == 4 and {t.style for t in templates} == {"house", "jazz", "chorale", "drum and bass"}
    with pytest.raises(ValueError, match="no training-split"):
        facts_templates(ROWS[-1:])


def test_labels_match_what_the_text_states() -> None:
    """The rule reader, which reads every training phrasing but a bare number away from a genre's name ("dub at
    70"; "techno 128" it reads since session 23), agrees with the labels: a stated tempo is in the text and an
    unstated one is not; likewise the key. Tempi and scales cover their range."""
    rng = np.random.default_rng(3)
    templates = facts_templates(ROWS)
    everything = [reader_example(templates, rng) for _ in range(500)]
    bare = [e for e in everything if e.form == "bare tempo"]
    assert 0.03 <= len(bare) / len(everything) <= 0.12
    for e in bare:  # the number is the tempo's, and no tempo word says so; the rules read it or nothing
        assert str(e.tempo_bpm) in e.text and read_prompt(e.text).tempo_bpm in (None, e.tempo_bpm), e.text
        assert "bpm" not in e.text.lower() and "tempo" not in e.text.lower(), e.text
    examples = [e for e in everything if e.form != "bare tempo"]
    tempo_right = [read_prompt(e.text).tempo_bpm == (None if e.tempo_bpm is None else float(e.tempo_bpm))
                   for e in examples]
    key_right = []
    for e in examples:
        read = read_prompt(e.text)
        key_right.append(read.key is None if e.key is None else
                         read.key is not None and tonic_index(read.key) == tonic_index(e.key))
    assert np.mean(tempo_right) >= 0.98, [e.text for e, ok in zip(examples, tempo_right) if not ok][:5]
    assert np.mean(key_right) >= 0.95, [e.text for e, ok in zip(examples, key_right) if not ok][:5]
    stated = [e for e in examples if e.tempo_bpm is not None]
    assert 0.6 <= len(stated) / len(examples) <= 0.75
    assert min(e.tempo_bpm for e in stated) < 80 and max(e.tempo_bpm for e in stated) > 210
    assert all(READER_TEMPO_RANGE_BPM[0] <= e.tempo_bpm <= READER_TEMPO_RANGE_BPM[1] for e in stated)
    assert {e.scale for e in examples} == {None, "major", "minor", "dorian", "mixolydian"}
    assert any(e.key is not None and e.scale is None for e in examples)  # "in the key of G"


def test_numbers_that_are_not_tempi_state_none() -> None:
    rng = np.random.default_rng(5)
    phrases = [number_not_tempo(rng) for _ in range(300)]
    in_range = [p for p in phrases if any(READER_TEMPO_RANGE_BPM[0] <= int(w) <= READER_TEMPO_RANGE_BPM[1]
                                          for w in p.replace(".", " ").split() if w.isdigit())]
    assert len(in_range) >= 0.7 * len(phrases)  # mostly numbers a tempo could be
    assert all(read_prompt(p).tempo_bpm is None for p in phrases), [p for p in phrases if read_prompt(p).tempo_bpm]


def test_no_held_out_wording_is_produced() -> None:
    """The paraphrase templates and the nouns of the words-reader benchmark's number tables (session 21: "opus 131",
    "route 66", "a 64 voice choir"; "pier 39", "a 120 gram vinyl pressing"; "an organ with 140 pipes"; and the later
    tables' styles) are never in a training text, as whole words."""
    rng = np.random.default_rng(4)
    templates = facts_templates(ROWS)
    texts = " ".join(reader_example(templates, rng).text.lower() for _ in range(3000))
    texts += " " + " ".join(number_not_tempo(rng) for _ in range(3000))
    for held_out in ("around", "roughly", "somewhere near", "close to", "to the minute", "beats a minute",
                     "rooted in", "centred on", "sitting in", "set in", "opus", "route", "voice", "choir",
                     "symphony", "playlist", "minutes", "hours", "album", "rain on", "@", "percent analog",
                     "heartbreak", "pier", "interstate", "hangar", "khz", "member", "gram", "dalmatians", "proof",
                     "seat", "zine", "trombones", "psytrance", "reggaeton", "gqom", "polka", "story", "volt", "inch",
                     "pipes", "pound", "card", "character", "overture", "kettlebell", "skyscraper", "afrobeats",
                     "chillwave", "hyperpop", "neurofunk", "moombahton", "bossa", "samba"):
        assert not re.search(rf"(?<!\w){re.escape(held_out)}(?!\w)", texts), held_out


def test_captions_can_leave_out_tempo_and_key_with_the_same_draws() -> None:
    facts = captions.CaptionFacts(style="house", tempo_bpm=124.0, key_tonic="D#", scale="minor",
                                  instruments=("piano", "synth bass"), mood="dark", energy="high",
                                  effects=("reverb",), beats_per_bar=4)
    for seed in range(60):
        full_rng, bare_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        full = captions.make_caption(facts, full_rng)
        bare = captions.make_caption(facts, bare_rng, states_tempo=False, states_key=False)
        assert read_prompt(full).tempo_bpm == 124.0
        assert "124" not in bare and read_prompt(bare).tempo_bpm is None and read_prompt(bare).key is None, bare
        # the same number of draws either way: what follows in a dataset build does not shift
        assert full_rng.random() == bare_rng.random()
