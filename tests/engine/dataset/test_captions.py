"""Tests for engine.dataset.captions: facts stated exactly, enough variety, held-out paraphrases."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.dataset import captions
from engine.dataset.captions import (
    FREE_TEXT_TEMPLATES,
    PARAPHRASE_KEY,
    PARAPHRASE_TEMPLATES,
    PARAPHRASE_TEMPO,
    TRAIN_KEY_IN,
    TRAIN_KEY_NP,
    TRAIN_TEMPO_AT,
    TRAIN_TEMPO_NP,
    CaptionFacts,
    instrument_display_name,
    make_caption,
    make_paraphrase,
    style_names,
)

SEEDS = range(200)

DNB = CaptionFacts(
    style="drum and bass", tempo_bpm=173.6, key_tonic="F#", scale="minor",
    instruments=("drum kit", "synth bass 1", "electric piano 1", "string ensemble 1"),
    mood="dark", energy="high", effects=("reverb", "delay"), beats_per_bar=4,
)
FUNK = CaptionFacts(
    style="funk", tempo_bpm=104.0, key_tonic="D", scale="dorian",
    instruments=("slap bass 1", "clavinet", "drum kit"), mood="moody", energy="medium",
    effects=("chorus",), beats_per_bar=4,
)
WALTZ = CaptionFacts(
    style="chamber", tempo_bpm=92.5, key_tonic="A#", scale="major",
    instruments=("violin", "cello", "harpsichord"), mood="", energy="low", effects=(), beats_per_bar=3,
)
UNKNOWN = CaptionFacts(
    style="polka", tempo_bpm=120.0, key_tonic="G", scale="mixolydian",
    instruments=("accordion",), mood="", energy="high", effects=(), beats_per_bar=4,
)
ALL_FACTS = (DNB, FUNK, WALTZ, UNKNOWN)

# Instruments that must never be mentioned unless they are in the facts.
OTHER_INSTRUMENTS = (
    "acoustic grand piano", "electric guitar", "acoustic guitar", "violin", "viola", "cello", "flute",
    "trumpet", "trombone", "saxophone", "alto sax", "clarinet", "oboe", "harp", "marimba", "vibraphone",
    "organ", "accordion", "harpsichord", "clavinet", "choir", "slap bass", "fretless bass", "pad",
    "string ensemble", "electric piano", "synth bass", "drum kit", "timpani", "sitar", "banjo",
)

# --- key parser: any spelling the module uses ----------------------------------------------------------

_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(
    r"\b(?P<letter>[A-G])(?P<acc>#|\u266f|-sharp| sharp|b|\u266d|-flat| flat)?"
    r"(?:(?P<m>m)\b|[ -](?P<scale>(?i:major|minor|maj|min|dorian|mixolydian))\b)"
)


def parse_keys(text: str) -> list[tuple[str, str]]:
    """Every (sharp tonic, scale) stated in text."""
    found: list[tuple[str, str]] = []
    for match in _KEY_RE.finditer(text):
        pitch_class = _LETTER_PC[match["letter"]]
        accidental = match["acc"] or ""
        if "sharp" in accidental or accidental in ("#", "\u266f"):
            pitch_class += 1
        elif accidental:
            pitch_class -= 1
        scale = "minor" if match["m"] else match["scale"].lower()
        scale = {"maj": "major", "min": "minor"}.get(scale, scale)
        found.append((_SHARP_NAMES[pitch_class % 12], scale))
    return found


def is_field_form(caption: str) -> bool:
    return ":" in caption or "=" in caption


def assert_states_facts(text: str, facts: CaptionFacts) -> None:
    bpm = str(int(np.floor(facts.tempo_bpm + 0.5)))
    assert re.search(rf"(?<!\d){bpm}(?!\d)", text), f"tempo {bpm} missing: {text!r}"
    keys = parse_keys(text)
    assert keys, f"no key found: {text!r}"
    assert set(keys) == {(facts.key_tonic, facts.scale)}, f"wrong key {keys}: {text!r}"
    lowered = text.lower()
    assert any(name.lower() in lowered for name in style_names(facts.style)), f"style missing: {text!r}"
    display = {instrument_display_name(name) for name in facts.instruments}
    assert any(name in lowered for name in display), f"no instrument: {text!r}"
    for other in OTHER_INSTRUMENTS:
        if any(other in name for name in display):
            continue
        assert not re.search(rf"\b{re.escape(other)}\b", lowered), f"foreign instrument {other!r}: {text!r}"


# --- tests ------------------------------------------------------------------------------------------


def test_key_parser_reads_all_spellings() -> None:
    assert parse_keys("in F#m at 124") == [("F#", "minor")]
    assert parse_keys("Key: G-flat Minor") == [("F#", "minor")]
    assert parse_keys("D Dorian mode") == [("D", "dorian")]
    assert parse_keys("B\u266d maj") == [("A#", "major")]
    assert parse_keys("A house track with drums") == []


@pytest.mark.parametrize("facts", ALL_FACTS, ids=lambda f: f.style)
def test_captions_state_the_facts(facts: CaptionFacts) -> None:
    for seed in SEEDS:
        assert_states_facts(make_caption(facts, np.random.default_rng(seed)), facts)


@pytest.mark.parametrize("facts", ALL_FACTS, ids=lambda f: f.style)
def test_paraphrases_state_the_facts(facts: CaptionFacts) -> None:
    for seed in SEEDS:
        assert_states_facts(make_paraphrase(facts, np.random.default_rng(seed)), facts)


@pytest.mark.parametrize("facts", ALL_FACTS, ids=lambda f: f.style)
def test_captions_vary(facts: CaptionFacts) -> None:
    texts = {make_caption(facts, np.random.default_rng(seed)) for seed in SEEDS}
    assert len(texts) >= 100


def test_field_instruments_are_a_subset_of_facts() -> None:
    display = {instrument_display_name(name) for name in DNB.instruments}
    checked = 0
    for seed in SEEDS:
        caption = make_caption(DNB, np.random.default_rng(seed))
        if not is_field_form(caption):
            continue
        fields = re.split(r" \| |; | / |, (?=\w[\w ]*\s?[:=])", caption)
        for field in fields:
            name, value = re.split(r"\s?[:=]\s?", field, maxsplit=1)
            if name.lower() in ("instruments", "instrumentation"):
                listed = re.split(r", | and ", value)
                assert listed and set(listed) <= display, caption
                checked += 1
    assert checked >= 50  # every field caption has an instruments field


def test_both_forms_are_balanced() -> None:
    for facts in ALL_FACTS:
        captions_ = [make_caption(facts, np.random.default_rng(seed)) for seed in range(400)]
        field_share = np.mean([is_field_form(c) for c in captions_])
        assert 0.35 <= field_share <= 0.65, field_share


def test_free_text_templates_are_many_and_never_look_like_fields() -> None:
    assert len(FREE_TEXT_TEMPLATES) >= 25
    for template in FREE_TEXT_TEMPLATES:
        assert not any(ch in template for ch in ":=|"), template
        for slot in ("{style}", "{inst}"):
            assert slot in template, template


def test_paraphrase_wording_is_disjoint_from_training() -> None:
    assert not set(PARAPHRASE_TEMPLATES) & set(FREE_TEXT_TEMPLATES)
    assert not set(PARAPHRASE_TEMPO) & (set(TRAIN_TEMPO_AT) | set(TRAIN_TEMPO_NP))
    assert not set(PARAPHRASE_KEY) & (set(TRAIN_KEY_IN) | set(TRAIN_KEY_NP))
    for facts in ALL_FACTS:
        training = {make_caption(facts, np.random.default_rng(seed)) for seed in range(2000)}
        for seed in range(500):
            assert make_paraphrase(facts, np.random.default_rng(seed)) not in training


def test_deterministic_for_a_seed() -> None:
    for facts in ALL_FACTS:
        for seed in range(20):
            assert make_caption(facts, np.random.default_rng(seed)) == make_caption(facts, np.random.default_rng(seed))
            assert make_paraphrase(facts, np.random.default_rng(seed)) == make_paraphrase(
                facts, np.random.default_rng(seed))


def test_unknown_style_and_empty_mood_effects() -> None:
    texts = [make_caption(UNKNOWN, np.random.default_rng(seed)) for seed in range(50)]
    assert all("polka" in t.lower() for t in texts)
    assert all("  " not in t and ", ," not in t and not t.startswith(",") for t in texts)
    assert style_names("polka") == ("polka",)


def test_rounding_is_half_up() -> None:
    assert captions.rounded_tempo_bpm(92.5) == 93
    assert captions.rounded_tempo_bpm(173.4) == 173


def test_invalid_facts_are_rejected() -> None:
    with pytest.raises(ValueError):
        CaptionFacts("house", 124.0, "Db", "minor", ("drum kit",), "", "high", (), 4)
    with pytest.raises(ValueError):
        CaptionFacts("house", 124.0, "C", "minor", (), "", "high", (), 4)
    with pytest.raises(ValueError):
        CaptionFacts("house", float("nan"), "C", "minor", ("drum kit",), "", "high", (), 4)


def test_a_compound_meter_is_stated_as_itself_never_as_three_four() -> None:
    jig = CaptionFacts(style="folk tune", tempo_bpm=150.0, key_tonic="G", scale="major", instruments=("fiddle",),
                       mood="lively", energy="medium", effects=(), beats_per_bar=3, time_signature="6/8")
    texts = [make_caption(jig, np.random.default_rng(seed)) for seed in range(300)]
    meters = [t for t in texts if re.search(r"6/8|six-eight|jig time|compound", t)]
    assert len(meters) > 30
    assert not any(re.search(r"3/4|waltz|three-four|triple", t) for t in texts)
