"""Natural-language captions for training clips, built from clip metadata.

Two families, as in Stable Audio (about half "field" prompts, half free text) and the Stable Audio Open
instrumental fine-tune (prompts assembled from metadata):

* ``make_caption`` — training captions: a field form ("Genre: house | BPM: 124 | Key: F# minor") about
  half the time, otherwise one of many free-text templates with synonyms for style, tempo, key,
  instruments, energy, mood and effects, so the text encoder cannot latch onto one wording.
* ``make_paraphrase`` — held-out evaluation prompts written with a *separate* set of templates and
  tempo/key/request phrasings that ``make_caption`` never uses, to test generalisation to unseen wording.

Every caption states the facts exactly: the half-up-rounded tempo as an integer, the tonic and scale in a
spelling from ``tonic_spellings``/``SCALE_SPELLINGS`` (sharps, flats for enharmonics, "m" suffix for minor),
a style name from ``style_names``, and only instruments that are in the facts (at least one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from engine.dataset.score import PITCH_CLASS_NAMES

# --- vocabulary ------------------------------------------------------------------------------------

# Style synonyms; the canonical name is always included. Unknown styles fall back to the name itself.
STYLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "house": ("house", "house music", "deep house", "four-on-the-floor house"),
    "drum and bass": ("drum and bass", "DnB", "drum & bass", "jungle-tinged drum & bass", "drum'n'bass"),
    "hip hop": ("hip hop", "hip-hop", "boom bap hip hop", "hip hop beat"),
    "lo-fi": ("lo-fi", "lofi", "lo-fi hip hop", "lo-fi beat"),
    "ambient": ("ambient", "ambient music", "atmospheric ambient", "ambient soundscape"),
    "rock": ("rock", "rock music", "guitar rock", "band rock"),
    "funk": ("funk", "funky groove", "funk music", "old-school funk"),
    "jazz": ("jazz", "jazz music", "small-combo jazz", "jazzy"),
    "reggae": ("reggae", "roots reggae", "reggae music", "one-drop reggae"),
    "chamber": ("chamber", "chamber music", "classical chamber", "chamber ensemble"),
    "folk": ("folk", "folk music", "acoustic folk", "folksy"),
    "chorale": ("chorale", "chorale harmonisation", "hymn-like chorale", "four-part chorale"),
    "renaissance polyphony": ("renaissance polyphony", "renaissance counterpoint", "early music polyphony",
                              "polyphonic renaissance"),
    "folk tune": ("folk tune", "traditional folk tune", "fiddle tune", "folk melody"),
    "disco": ("disco", "disco music", "nu-disco", "funky disco"),
    "synthwave": ("synthwave", "retrowave", "80s synthwave", "outrun synthwave"),
    "bossa nova": ("bossa nova", "bossa", "Brazilian bossa nova", "bossa-nova"),
    "trance": ("trance", "uplifting trance", "trance music", "euphoric trance"),
}


def style_names(style: str) -> tuple[str, ...]:
    """All names a caption may use for `style` (the style itself for unknown styles)."""
    return STYLE_SYNONYMS.get(style, (style,))


# Enharmonic flat names, used now and then so the encoder sees both spellings.
_FLAT_OF_SHARP: dict[str, str] = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}


def tonic_spellings(tonic: str) -> tuple[str, ...]:
    """Spellings of a sharp-named tonic: "F#", "F-sharp", "F sharp", "F♯", plus flat enharmonics."""
    if len(tonic) == 1:
        return (tonic,)
    letter = tonic[0]
    sharps = (tonic, f"{letter}-sharp", f"{letter} sharp", f"{letter}\u266f")
    flat = _FLAT_OF_SHARP.get(tonic)
    if flat is None:
        return sharps
    return sharps + (flat, f"{flat[0]}-flat", f"{flat[0]} flat", f"{flat[0]}\u266d")


# Scale spellings; a leading "" means "attached directly to the tonic" (e.g. "F#m").
SCALE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "major": (" major", " major", " Major", " maj"),
    "minor": (" minor", " minor", " Minor", " min", "m"),
    "dorian": (" dorian", " Dorian", " dorian mode", " Dorian mode"),
    "mixolydian": (" mixolydian", " Mixolydian", " mixolydian mode", " Mixolydian mode"),
}

ENERGY_WORDS: dict[str, tuple[str, ...]] = {
    "low": ("laid-back", "gentle", "relaxed", "calm", "mellow", "low-energy", "soft"),
    "medium": ("steady", "moderate", "moderate-energy", "grooving", "balanced", "mid-energy"),
    "high": ("energetic", "driving", "high-energy", "intense", "punchy", "powerful"),
}

# GM program names end in a variant number ("synth bass 1"); captions drop it, people don't say it.
_GM_VARIANT = re.compile(r"\s+\d+$")


def instrument_display_name(name: str) -> str:
    """Caption spelling of an instrument: lower case without the GM variant number."""
    return _GM_VARIANT.sub("", name.strip()).lower()


# --- training caption templates -----------------------------------------------------------------------

# Slots: {style} {key_in} ("in F# minor") {key_np} ("F# minor") {tempo_at} ("at 124 BPM")
# {tempo_np} ("124 BPM") {inst} (instrument list) {adj} (energy/mood adjectives, may be empty)
# {fx} (", with reverb and delay" or empty) {meter} (" in 3/4" or empty).
# None of these may contain ':' '=' or '|' (that is how the field form is told apart).
FREE_TEXT_TEMPLATES: tuple[str, ...] = (
    "A {adj} {style} track {key_in} {tempo_at}, featuring {inst}{fx}{meter}.",
    "{adj} {style} {key_in}, {tempo_np}, with {inst}{fx}.",
    "{style} instrumental with {inst}, {tempo_np}, {key_np}{meter}. {adj_sentence}",
    "{tempo_np} {adj} {style} {key_in} played on {inst}{fx}.",
    "An instrumental {style} piece {key_in} {tempo_at}{meter}, performed by {inst}{fx}.",
    "{inst} playing {adj} {style} {key_in} {tempo_at}{fx}.",
    "{adj} {style} groove {tempo_at} {key_in}, built from {inst}{fx}.",
    "{style}, {key_np}, {tempo_np}, {inst}{fx}{meter}",
    "A {adj} {style} loop {key_in}{meter} {tempo_at} featuring {inst}{fx}.",
    "This is a {adj} {style} song {key_in} {tempo_at} with {inst}{fx}.",
    "{adj} {style} music {tempo_at}{meter} {key_in}. Instrumentation includes {inst}{fx}.",
    "Instrumental {style} {key_in}, {tempo_np}. The arrangement rests on {inst}{fx}. {adj_sentence}",
    "A {style} arrangement for {inst} {key_in}, {tempo_np}{meter}{fx}.",
    "{adj} {style} {tempo_at} {key_in}{fx}, with {inst}.",
    "{key_np} {style} {tempo_at}, {inst}{fx}. {adj_sentence}",
    "A {tempo_np} {style} track {key_in} with {inst} on a {adj} part{fx}.",
    "{style} recording {key_in} {tempo_at}{meter}, {adj}, with {inst}{fx}.",
    "Music in the style of {style}, {key_np}, {tempo_np}, featuring {inst}{fx}.",
    "{adj} instrumental {style}{meter}, {tempo_np}, {key_np}, with {inst}{fx}.",
    "A short {style} excerpt {key_in} {tempo_at}, {adj}, played by {inst}{fx}.",
    "{inst} in a {adj} {style} setting, {key_np}, {tempo_np}{fx}.",
    "{style} sketch {key_in} with {inst}, {tempo_np}{fx}{meter}. {adj_sentence}",
    "A {adj} {style} passage {key_in} {tempo_at}{meter} for {inst}{fx}.",
    "{tempo_np}, {key_np}, {style}, {adj}, {inst}{fx}",
    "Instrumental {adj} {style} featuring {inst}, {key_in}, {tempo_at}{fx}.",
    "{style} cue {tempo_at} {key_in}{meter} with {inst}{fx}. {adj_sentence}",
    "A {adj} {style} jam {key_in} {tempo_at} on {inst}{fx}.",
    "{adj} {style} backing track {key_in} {tempo_at} with {inst}{fx}.",
    "High-quality {style} audio, {key_np}, {tempo_np}, {inst}{fx}{meter}.",
    "A {style} theme {key_in} {tempo_at}{fx}, arranged for {inst}. {adj_sentence}",
)

# Field form: required fields always appear, optional ones sometimes; names, order, separators vary.
FIELD_NAME_CHOICES: dict[str, tuple[str, ...]] = {
    "style": ("Genre", "Style", "genre", "style"),
    "instruments": ("Instruments", "Instrumentation", "instruments"),
    "tempo": ("BPM", "Tempo", "bpm", "tempo"),
    "key": ("Key", "Key signature", "key", "Tonality"),
    "mood": ("Mood", "Feel", "mood"),
    "energy": ("Energy", "energy", "Intensity"),
    "effects": ("Effects", "FX", "effects"),
    "meter": ("Time signature", "Meter", "time signature"),
}
FIELD_SEPARATORS: tuple[str, ...] = (" | ", "; ", " / ", " | ", ", ")
FIELD_KEY_VALUE_SEPARATORS: tuple[str, ...] = (": ", ": ", "=", " = ")
_REQUIRED_FIELDS: tuple[str, ...] = ("style", "instruments", "tempo", "key")

TRAIN_TEMPO_AT: tuple[str, ...] = ("at {bpm} BPM", "at {bpm} bpm", "at {bpm} beats per minute",
                                   "at tempo {bpm}", "at a tempo of {bpm} BPM")
TRAIN_TEMPO_NP: tuple[str, ...] = ("{bpm} BPM", "{bpm} bpm", "{bpm} beats per minute", "tempo {bpm}",
                                   "{bpm}bpm")
TRAIN_KEY_IN: tuple[str, ...] = ("in {key}", "in the key of {key}", "in {key} key", "in {key}")
TRAIN_KEY_NP: tuple[str, ...] = ("{key}", "key of {key}", "{key} key", "{key}")
TRAIN_EFFECT_PHRASES: tuple[str, ...] = (", with {fx}", ", processed with {fx}", ", drenched in {fx}",
                                         ", {fx} on the mix", ", using {fx}")
TRAIN_ADJ_SENTENCES: tuple[str, ...] = ("The feel is {adj}.", "Overall {adj}.", "It sounds {adj}.")

# --- held-out paraphrase templates ---------------------------------------------------------------------

# Request-style wording, never used by make_caption. Slots: {style} {key_p} {tempo_p} {inst} {desc}.
PARAPHRASE_TEMPLATES: tuple[str, ...] = (
    "Could you make a {desc} {style} groove {key_p}, {tempo_p}, with {inst}?",
    "I'd like some {desc} {style} {key_p} {tempo_p}; use {inst}, please.",
    "Give me {style} that feels {desc}, {tempo_p}, {key_p}, and bring in {inst}.",
    "Please generate a {desc} {style} idea {tempo_p} {key_p} using {inst}.",
    "Can I hear {inst} doing a {desc} {style} thing {key_p}, {tempo_p}?",
    "Looking for {desc} {style} {key_p}, {tempo_p}, with {inst} leading the way.",
    "Make me something {style}, {desc}, {tempo_p}, {key_p}, with {inst} up front.",
    "How about a {desc} {style} vibe {key_p} {tempo_p}, with {inst}?",
    "Write a {style} bit for {inst}, something {desc}, {key_p}, {tempo_p}.",
    "I need {desc} {style} with {inst}, {tempo_p}, {key_p}.",
)
PARAPHRASE_TEMPO: tuple[str, ...] = ("around {bpm} bpm", "roughly {bpm} beats a minute",
                                     "somewhere near {bpm} BPM", "close to {bpm} bpm", "about {bpm} to the minute")
PARAPHRASE_KEY: tuple[str, ...] = ("rooted in {key}", "set in {key}", "centred on {key}", "sitting in {key}")
PARAPHRASE_DESC_DEFAULT: tuple[str, ...] = ("nice", "cool", "fresh", "tasteful")


# --- facts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionFacts:
    """What a clip's caption must state. tonic uses sharp names; instruments must be non-empty."""

    style: str
    tempo_bpm: float
    key_tonic: str
    scale: str
    instruments: tuple[str, ...]
    mood: str
    energy: str
    effects: tuple[str, ...]
    beats_per_bar: int
    time_signature: str = ""  # the piece's when known ("6/8", "2/2"); "" = beats_per_bar quarters ("3/4")

    def __post_init__(self) -> None:
        if not self.style.strip():
            raise ValueError("CaptionFacts.style must be a non-empty style name")
        if not (math.isfinite(self.tempo_bpm) and self.tempo_bpm > 0):
            raise ValueError(f"CaptionFacts.tempo_bpm must be a positive number, got {self.tempo_bpm!r}")
        if self.key_tonic not in PITCH_CLASS_NAMES:
            raise ValueError(f"CaptionFacts.key_tonic must be one of {PITCH_CLASS_NAMES}, got {self.key_tonic!r}")
        if not self.instruments:
            raise ValueError("CaptionFacts.instruments must name at least one instrument")


def rounded_tempo_bpm(tempo_bpm: float) -> int:
    """The integer tempo every caption states (half-up rounding, so 124.5 -> 125 like people expect)."""
    return int(math.floor(tempo_bpm + 0.5))


# --- helpers ----------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def key_text(facts: CaptionFacts, rng: np.random.Generator, flat_probability: float) -> str:
    """The facts' key in one of its spellings ("F# minor", "Gb min", "F-sharpm")."""
    spellings = tonic_spellings(facts.key_tonic)
    sharp_count = 4 if len(spellings) > 1 else 1
    if len(spellings) > sharp_count and rng.random() < flat_probability:
        tonic = _pick(rng, spellings[sharp_count:])
    else:
        tonic = _pick(rng, spellings[:sharp_count])
    scale_options = SCALE_SPELLINGS.get(facts.scale, (f" {facts.scale}",))
    scale = _pick(rng, scale_options)
    if scale == "m" and " " in tonic:
        scale = " minor"  # "F sharpm" is not a spelling anyone uses
    return tonic + scale


def _key_phrase(phrases: tuple[str, ...], key: str, rng: np.random.Generator) -> str:
    phrase = _pick(rng, phrases)
    if key.endswith("mode"):
        phrase = phrase.replace("{key} key", "{key}")  # not "D dorian mode key"
    return phrase.format(key=key)


def _instrument_names(facts: CaptionFacts) -> list[str]:
    names: list[str] = []
    for instrument in facts.instruments:
        name = instrument_display_name(instrument)
        if name and name not in names:  # "synth bass 1" + "synth bass 2" read as one
            names.append(name)
    return names


def _instrument_list(facts: CaptionFacts, rng: np.random.Generator, conjunctions: tuple[str, ...]) -> str:
    """A random non-empty subset of the facts' instruments in random order, joined naturally."""
    names = _instrument_names(facts)
    count = len(names) if rng.random() < 0.5 else int(rng.integers(1, len(names) + 1))
    chosen = [names[i] for i in rng.permutation(len(names))[:count]]
    if len(chosen) == 1:
        return chosen[0]
    conjunction = _pick(rng, conjunctions)
    if conjunction == ", ":
        return ", ".join(chosen)
    return ", ".join(chosen[:-1]) + conjunction + chosen[-1]


def _adjectives(facts: CaptionFacts, rng: np.random.Generator) -> str:
    """Energy and/or mood adjectives (may be empty): mood 70% when known, energy 60%."""
    words: list[str] = []
    if facts.mood.strip() and rng.random() < 0.7:
        words.append(facts.mood.strip())
    energy_words = ENERGY_WORDS.get(facts.energy)
    if energy_words is not None and rng.random() < 0.6:
        words.append(_pick(rng, energy_words))
    if len(words) == 2 and rng.random() < 0.5:
        words.reverse()
    return ", ".join(words) if len(words) == 2 and rng.random() < 0.5 else " ".join(words)


def _join_effects(effects: tuple[str, ...], rng: np.random.Generator) -> str:
    chosen = [effects[i] for i in rng.permutation(len(effects))[: int(rng.integers(1, len(effects) + 1))]]
    return chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]


_COMPOUND_METER_WORDS: dict[str, tuple[str, ...]] = {
    "6/8": ("6/8", "6/8", "six-eight time", "jig time", "compound duple time"),
    "12/8": ("12/8", "12/8", "twelve-eight time", "a 12/8 lilt", "compound quadruple time"),
}


def _meter_text(beats_per_bar: int, rng: np.random.Generator, time_signature: str = "") -> str:
    if time_signature in _COMPOUND_METER_WORDS:
        return _pick(rng, _COMPOUND_METER_WORDS[time_signature])
    if beats_per_bar == 3:
        return _pick(rng, ("3/4", "three-four time", "waltz time", "triple meter"))
    if beats_per_bar == 4:
        return _pick(rng, ("4/4", "common time", "four-four time"))
    return f"{beats_per_bar}/4"


_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def _tidy(text: str) -> str:
    """Collapse the gaps empty slots leave behind and fix a/an."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;?])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    text = re.sub(r"^[,\s]+", "", text)
    text = re.sub(r"\ba ,", "a", text)
    text = _ARTICLE.sub(lambda m: m.group(1) + "n ", text)
    text = text.strip()
    return text[0].upper() + text[1:] if text else text


# --- public API -------------------------------------------------------------------------------------


def _field_caption(facts: CaptionFacts, rng: np.random.Generator, states_tempo: bool = True,
                   states_key: bool = True) -> str:
    bpm = rounded_tempo_bpm(facts.tempo_bpm)
    values: dict[str, str] = {
        "style": _pick(rng, style_names(facts.style)),
        "instruments": _instrument_list(facts, rng, (", ", ", ", " and ")),
        "tempo": _pick(rng, (str(bpm), str(bpm), f"{bpm} BPM", f"{bpm} bpm")),
        "key": key_text(facts, rng, flat_probability=0.15),
    }
    optional: dict[str, tuple[str, float]] = {}
    if facts.mood.strip():
        optional["mood"] = (facts.mood.strip(), 0.7)
    if facts.energy in ENERGY_WORDS:
        optional["energy"] = (_pick(rng, (facts.energy, facts.energy, _pick(rng, ENERGY_WORDS[facts.energy]))), 0.4)
    if facts.effects:
        optional["effects"] = (_join_effects(facts.effects, rng).replace(" and ", ", "), 0.4)
    plain_meter = facts.time_signature or f"{facts.beats_per_bar}/4"
    spoken_meter = _meter_text(facts.beats_per_bar, rng, facts.time_signature) if rng.random() < 0.5 else None
    optional["meter"] = (spoken_meter or plain_meter,
                         0.25)
    for field, (value, probability) in optional.items():
        if rng.random() < probability:
            values[field] = value
    # Left out after every draw (name included), so the draws are the same whatever is stated.
    left_out = {field for field, stated in (("tempo", states_tempo), ("key", states_key)) if not stated}

    fields = list(values)
    if rng.random() < 0.5:  # half the time the conventional order (genre first), else shuffled
        fields = [fields[i] for i in rng.permutation(len(fields))]
    separator = _pick(rng, FIELD_SEPARATORS)
    if separator == ", ":
        values["instruments"] = values["instruments"].replace(", ", " and ")  # keep fields unambiguous
    key_value = _pick(rng, FIELD_KEY_VALUE_SEPARATORS)
    parts: list[str] = []
    for field in fields:
        name = _pick(rng, FIELD_NAME_CHOICES[field])
        if field in left_out:
            continue
        value = values[field]
        if field == "tempo" and name.lower() == "bpm":
            value = str(bpm)  # "BPM: 124 BPM" reads badly
        parts.append(f"{name}{key_value}{value}")
    return separator.join(parts)


def _free_text_caption(facts: CaptionFacts, rng: np.random.Generator, states_tempo: bool = True,
                       states_key: bool = True) -> str:
    bpm = rounded_tempo_bpm(facts.tempo_bpm)
    key = key_text(facts, rng, flat_probability=0.15)
    adj = _adjectives(facts, rng)
    fx = ""
    if facts.effects and rng.random() < 0.4:
        fx = _pick(rng, TRAIN_EFFECT_PHRASES).format(fx=_join_effects(facts.effects, rng))
    meter = f" in {_meter_text(facts.beats_per_bar, rng, facts.time_signature)}" if rng.random() < 0.25 else ""
    inst = _instrument_list(facts, rng, (" and ", ", ", " & ", " plus "))
    slots = {
        "style": _pick(rng, style_names(facts.style)),
        "key_in": _key_phrase(TRAIN_KEY_IN, key, rng),
        "key_np": _key_phrase(TRAIN_KEY_NP, key, rng),
        "tempo_at": _pick(rng, TRAIN_TEMPO_AT).format(bpm=bpm),
        "tempo_np": _pick(rng, TRAIN_TEMPO_NP).format(bpm=bpm),
        "inst": inst,
        "adj": adj,
        "adj_sentence": _pick(rng, TRAIN_ADJ_SENTENCES).format(adj=adj) if adj else "",
        "fx": fx,
        "meter": meter,
    }
    if not states_tempo:
        slots["tempo_at"] = slots["tempo_np"] = ""
    if not states_key:
        slots["key_in"] = slots["key_np"] = ""
    return _tidy(_pick(rng, FREE_TEXT_TEMPLATES).format(**slots))


def make_caption(facts: CaptionFacts, rng: np.random.Generator, states_tempo: bool = True,
                 states_key: bool = True) -> str:
    """A training caption: field form with probability 1/2, else free text. Deterministic given rng state.
    states_tempo / states_key False leave the tempo / key out (the words reader learns what unstated is);
    the draws are the same either way."""
    if rng.random() < 0.5:
        return _field_caption(facts, rng, states_tempo, states_key)
    return _free_text_caption(facts, rng, states_tempo, states_key)


def make_paraphrase(facts: CaptionFacts, rng: np.random.Generator) -> str:
    """A held-out evaluation prompt in request wording that make_caption never produces."""
    bpm = rounded_tempo_bpm(facts.tempo_bpm)
    key = key_text(facts, rng, flat_probability=0.15)
    desc = _adjectives(facts, rng).replace(", ", " and ") or _pick(rng, PARAPHRASE_DESC_DEFAULT)
    slots = {
        "style": _pick(rng, style_names(facts.style)),
        "key_p": _pick(rng, PARAPHRASE_KEY).format(key=key),
        "tempo_p": _pick(rng, PARAPHRASE_TEMPO).format(bpm=bpm),
        "inst": _instrument_list(facts, rng, (" and ", " along with ", " alongside ")),
        "desc": desc,
    }
    return _tidy(_pick(rng, PARAPHRASE_TEMPLATES).format(**slots))
