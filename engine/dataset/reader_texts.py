"""Texts with known tempo, key and scale for training the words reader (engine/diffusion/words_reader.py).

Each example is a prompt-like text and what it states: a training caption (``captions.make_caption``, with
tempo and/or key sometimes left out), a short typed-prompt form ("techno 132 bpm F minor", now and then with
scenery words: "..., dark warehouse"), a tempo typed as a bare number beside a genre ("techno 128", "dark trance
at 140"), or a text that states neither but holds numbers and letters that are not a tempo or key ("tr-909
drums", "low key", "channel 101", "a 150 lantern": numbers beside words of the text encoder's own vocabulary).
Tempi are drawn over the whole reader range, so every integer tempo is seen in words, and now and then
spelled in English words ("a hundred and twenty bpm").

Held out, never produced here: the paraphrase templates (``captions.PARAPHRASE_*``: "around", "roughly",
"somewhere near", "close to", "to the minute", "rooted in", "centred on", ...), the phrasings of the rule
reader's test table (tests/engine/test_prompt_words.py) and the nouns and genres of benchmarks/words_reader.py's
number tables, so they measure how the reader generalises.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from engine.dataset import captions
from engine.dataset.corpus import COMPOUND_TIME_SIGNATURES
from engine.dataset.score import PITCH_CLASS_NAMES
from engine.vocabulary import SCALES

# The tempi the reader can name: integer BPM, both ends included.
READER_TEMPO_RANGE_BPM: tuple[int, int] = (40, 250)

_SCALE_WEIGHTS = {"major": 0.38, "minor": 0.38, "dorian": 0.12, "mixolydian": 0.12}
_TEMPO_PHRASES = ("{n} bpm", "{n} BPM", "at {n} bpm", "at {n} BPM", "tempo {n}", "tempo of {n}", "{n} beats per minute",
                  "at {n} beats per minute", "bpm {n}", "{n}bpm", "tempo: {n}", "BPM: {n}", "at tempo {n}",
                  "{n} BPM groove")
_TEMPO_WORD_PHRASES = ("{n} bpm", "{n} BPM", "at {n} bpm", "at {n} beats per minute", "tempo {n}", "tempo of {n}")
_KEY_PHRASES = ("in {key}", "in {key}", "key of {key}", "in the key of {key}", "{key}", "{key} key", "key: {key}")
_TONIC_ONLY_PHRASES = ("in {tonic}", "key of {tonic}", "in the key of {tonic}", "key: {tonic}")
# Numbers and letters that state no tempo or key (none of them is in the rule reader's test table).
_DISTRACTORS = ("like the killers", "tr-909 drums", "a 303 bassline", "80s vibe", "room 101 reverb",
                "for a 30 second spot",
                "track 7", "2 step garage feel", "top 40 polish", "sounds like 1999", "key change at the end",
                "low key", "keys and bass", "in a rush", "in a minute", "flat out", "sharp snares", "b-side feel",
                "c-90 tape hiss", "a 4 bar loop", "16 step sequencer", "take 3", "side a", "plan b", "e-bow guitar",
                "d-beat drums", "g-funk synth", "mp3 crunch", "5 piece band", "12 string guitar", "at 3 am",
                "100 percent wet reverb", "volume at 11", "1 of 2", "in 2 parts", "with 7th chords",
                # letters and numbers an uncased text encoder sees as keys and tempi: "a major label" is "A major"
                # to it, "am radio" is "Am", "bb" is "Bb"
                "a major label sound", "am radio crackle", "bb gun snare", "a flat mix", "a minor detail",
                "in a daze", "e street band feel", "c64 chiptune", "80s tempo", "a sharp attack", "d minus mix")
# A bare number beside the style is how people type a tempo ("techno 128", "a 140 dubstep wobble", "dub at 70"):
# the rules never read it (engine/prompt_words.py), the reader learns it against the numbers below.
_BARE_TEMPO_FORMS = ("{style} {n}", "{n} {style}", "{style} at {n}", "a {n} {style} {thing}", "{style}, {n}",
                     "{style} {thing} at {n}", "{style} {thing} {n}")
# Genres beyond the dataset's, beside which a bare number is a tempo too (none is in benchmarks/words_reader.py's
# tables).
_MORE_STYLE_NAMES = ("grime", "drill", "trance", "breakbeat", "dancehall", "ska", "cumbia", "salsa", "tango",
                     "bluegrass", "country", "funk", "gospel", "metal", "punk", "shoegaze", "vaporwave", "synthwave",
                     "idm", "glitch hop", "acid house", "minimal techno", "liquid dnb", "kizomba", "zouk", "highlife",
                     "juke", "baile funk", "phonk", "city pop", "krautrock", "grunge", "emo", "merengue", "bachata",
                     "flamenco", "rumba", "cha cha", "foxtrot", "quickstep", "jive", "lindy hop", "chiptune",
                     "breakcore", "gabber", "hardcore", "eurodance", "deep house", "techno", "house", "hip hop",
                     "lo-fi", "rnb", "afro house", "amapiano", "jersey club", "uk funky", "future bass", "trip hop")
# Numbers in the tempo range that are not a tempo (session 21: the reader read "opus 131" and "route 66" as tempi).
# Their nouns are none of those in benchmarks/words_reader.py's tables; a number is drawn over 1..299.
_NUMBER_NOT_TEMPO_FORMS = ("channel {n}", "studio {n} disco", "area {n}", "apollo {n}", "level {n} funk", "{n} keys",
                           "{n} pads layered", "{n} samples", "{n} presets", "{n} hz hum", "{n} db of headroom",
                           "{n} ms delay", "a {n} watt amp", "a {n} year old piano", "{n} degrees outside",
                           "chapter {n}", "episode {n}", "page {n}", "model {n} synth", "version {n}",
                           "{n} people dancing", "highway {n}", "{n} cents of detune", "patch {n}", "preset {n}",
                           "vol. {n}", "part {n}", "{n} rpm vinyl crackle", "apartment {n}", "bus {n}", "flight {n}",
                           "gate {n}", "mile {n}", "{n} candles", "{n} followers", "row {n}", "{n} kbps stream",
                           "{n} mph night drive", "room {n}", "catalogue number {n}", "{n} dancers",
                           "an {n} key controller", "{n} ways to leave", "{n} days of rain", "station {n}")
# ... and beside any other word (session 21: 45 templates taught "channel 101" but not "a 150 member choir"): whole
# words of the text encoder's own vocabulary, less the words that can make a number a tempo or a key and the nouns
# of benchmarks/words_reader.py's number tables (held out).
_TEMPO_CONTEXT_WORDS = frozenset({
    "bpm", "tempo", "tempi", "beat", "beats", "minute", "minutes", "pace", "speed", "fast", "slow", "around", "about",
    "roughly", "near", "close", "at", "per", "groove", "track", "loop", "jam", "tune", "piece", "song", "songs", "music",
    "style", "genre", "feel", "rhythm", "rhythms", "time", "meter", "metre", "bars", "pulse", "hundred", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "major", "minor", "dorian", "mixolydian",
    "ionian", "aeolian", "sharp", "flat", "keys", "chord", "chords", "scale", "scales", "mode", "modes"})
_HELD_OUT_NOUNS = frozenset({
    "opus", "route", "voice", "voices", "choir", "symphony", "playlist", "hours", "hour", "album", "pier", "interstate",
    "hangar", "khz", "member", "members", "gram", "grams", "dalmatians", "proof", "seat", "zine", "trombones", "issue",
    "cent", "cents", "story", "volt", "volts", "inch", "inches", "pipes", "pound", "pounds", "card", "cards",
    "character", "characters", "overture", "cannons", "vintage", "sprint", "kettlebell", "skyscraper", "commercial",
    "jingle", "workout", "fight", "rain", "roof", "heartbreak", "percent", "analog", "movement", "drone",
    # and the tables' styles beside bare tempi
    "psytrance", "reggaeton", "gqom", "polka", "swing", "disco", "garage", "hardstyle", "ballad", "afrobeats",
    "chillwave", "soul", "hyperpop", "neurofunk", "roller", "samba", "downtempo", "bossa", "nova", "electro",
    "moombahton", "march", "jungle", "dubstep", "footwork", "trap", "wobble", "boom"})
_COMMONEST_WORDS = 1000  # left out: function words ("120 with") would blur "techno 120, with piano"
_NUMBER_BESIDE_WORD_FORMS = ("a {n} {word}", "{n} {word}", "the {n} {word}", "{word} {n}", "{word} no. {n}",
                             "{word} #{n}", "{n} {word} {word2}", "my {n} {word}")
_CHURCH_NAMES = {"major": "ionian", "minor": "aeolian"}
_NOT_MUSIC_TEXTS = ("something nice", "surprise me", "make it weird", "quiet", "loud and fast", "chill", "more bass",
                    "something for a rainy day", "a lullaby", "party music")


@dataclass(frozen=True)
class ReaderExample:
    """A text and what it states: integer tempo (None = not stated), sharp-named tonic and scale (None = not
    stated; a tonic may come without a scale, "in the key of G")."""

    text: str
    tempo_bpm: int | None
    key: str | None
    scale: str | None
    form: str = "caption"  # caption, short, bare tempo, not music, number not tempo (what made the text; tests use it)


def number_words(n: int) -> str:
    """An integer 1..999 in English words, as people say tempi: 120 -> "a hundred and twenty" or "one twenty"
    style variants are left to the caller; this gives the plain form ("one hundred twenty-eight")."""
    if not 1 <= n <= 999:
        raise ValueError(f"number_words takes 1..999, got {n}")
    units = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
             "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
    tens = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
    hundreds, rest = divmod(n, 100)
    parts: list[str] = []
    if hundreds:
        parts.append(f"{units[hundreds]} hundred")
    if rest:
        parts.append(units[rest] if rest < 20 else tens[rest // 10] + (f"-{units[rest % 10]}" if rest % 10 else ""))
    return " ".join(parts)


def _spoken_tempo(n: int, rng: np.random.Generator) -> str:
    """n in words, in one of the ways people say it: "a hundred and twenty", "one hundred twenty", "one twenty"."""
    plain = number_words(n)
    hundreds, rest = divmod(n, 100)
    choice = rng.random()
    if hundreds == 1 and choice < 0.4:
        return plain.replace("one hundred", "a hundred and" if rest else "a hundred")
    if hundreds and rest >= 10 and choice > 0.75:
        return f"{number_words(hundreds)} {number_words(rest)}"  # "one twenty", "two forty"
    return plain


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def random_facts(templates: list[captions.CaptionFacts], rng: np.random.Generator) -> captions.CaptionFacts:
    """A template's style, instruments, mood, energy, effects and meter with a tempo drawn over the reader's
    range and a tonic and scale drawn at random."""
    base = templates[int(rng.integers(len(templates)))]
    scale = str(rng.choice(list(_SCALE_WEIGHTS), p=list(_SCALE_WEIGHTS.values())))
    return captions.CaptionFacts(style=base.style, tempo_bpm=float(rng.integers(READER_TEMPO_RANGE_BPM[0],
                                                                                   READER_TEMPO_RANGE_BPM[1] + 1)),
                                 key_tonic=PITCH_CLASS_NAMES[int(rng.integers(12))], scale=scale,
                                 instruments=base.instruments, mood=base.mood, energy=base.energy,
                                 effects=base.effects, beats_per_bar=base.beats_per_bar)


def _tempo_phrase(bpm: int, rng: np.random.Generator) -> str:
    if rng.random() < 0.2:
        return _pick(rng, _TEMPO_WORD_PHRASES).format(n=_spoken_tempo(bpm, rng))
    return _pick(rng, _TEMPO_PHRASES).format(n=bpm)


def _bare_tempo(style: str, bpm: int, rng: np.random.Generator) -> str:
    """A tempo typed as a bare number beside the style ("techno 128", "a 140 dubstep wobble"); half the time a
    style of the wider world in place of the clip's (a bare tempo is read beside any genre's name)."""
    thing = _pick(rng, ("beat", "groove", "track", "loop", "jam", "tune"))
    if rng.random() < 0.5:
        style = _pick(rng, _MORE_STYLE_NAMES)
    return _pick(rng, _BARE_TEMPO_FORMS).format(style=style, n=bpm, thing=thing)


@functools.cache
def vocabulary_words() -> tuple[str, ...]:
    """Whole words (4-12 letters) of the text encoder's vocabulary that say nothing of tempo, key or style, less the
    held-out nouns: what a number that is not a tempo stands beside."""
    from engine.text_model import model_dir

    music = set(_TEMPO_CONTEXT_WORDS) | _HELD_OUT_NOUNS
    for style, names in captions.STYLE_SYNONYMS.items():
        for name in (style, *names):
            music.update(re.split(r"[\s-]+", name.lower()))
    words = (line.strip() for line in (model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines())
    whole = [w for w in words if re.fullmatch(r"[a-z]{4,12}", w) and w not in music]
    return tuple(whole[_COMMONEST_WORDS:])  # the vocabulary runs commonest first: "with", "that", "from" ...


def number_not_tempo(rng: np.random.Generator) -> str:
    """A phrase with a number that is not a tempo, most in the tempo range: half from templates ("channel 101",
    "45 rpm vinyl crackle"), half beside words of the encoder's vocabulary ("a 150 lantern", "harbour 66")."""
    n = int(rng.integers(READER_TEMPO_RANGE_BPM[0], READER_TEMPO_RANGE_BPM[1] + 1)) if rng.random() < 0.8 \
        else int(rng.integers(1, 300))
    if rng.random() < 0.5:
        return _pick(rng, _NUMBER_NOT_TEMPO_FORMS).format(n=n)
    words = vocabulary_words()
    return _pick(rng, _NUMBER_BESIDE_WORD_FORMS).format(n=n, word=_pick(rng, words), word2=_pick(rng, words))


def _tonic_text(tonic: str, rng: np.random.Generator) -> str:
    return _pick(rng, captions.tonic_spellings(tonic))


def _short_form(facts: captions.CaptionFacts, states_tempo: bool, states_key: bool, tonic_only: bool,
                rng: np.random.Generator, bare_tempo: bool = False) -> str:
    """A typed prompt: the style, maybe a word or two more, scenery words now and then, and the stated parts, in
    any order; with `bare_tempo` the tempo is a bare number beside the style (a mood or a word maybe before it)."""
    style = _pick(rng, captions.style_names(facts.style))
    head = [style]
    if facts.mood.strip() and rng.random() < 0.4:
        head.insert(0, facts.mood.strip())
    if rng.random() < 0.4:
        head.append(_pick(rng, ("groove", "track", "loop", "beat", "jam", "piece", "tune")))
    parts = [" ".join(head)]
    if rng.random() < 0.4:
        names = [captions.instrument_display_name(name) for name in facts.instruments]
        parts.append("with " + names[int(rng.integers(len(names)))])
    stated: list[str] = []
    if rng.random() < 0.35:  # scenery a performer adds ("techno 132, dark warehouse"): words that state nothing
        parts.append(" ".join(_pick(rng, vocabulary_words()) for _ in range(int(rng.integers(1, 3)))))
    if states_tempo and bare_tempo:
        parts[0] = _bare_tempo(style, int(facts.tempo_bpm), rng)
        lead = rng.random()  # what stands before the style: "dark techno 132", "warehouse techno 132"
        if lead < 0.3 and facts.mood.strip():
            parts[0] = f"{facts.mood.strip()} {parts[0]}"
        elif lead < 0.5:
            parts[0] = f"{_pick(rng, vocabulary_words())} {parts[0]}"
    elif states_tempo:
        stated.append(_tempo_phrase(int(facts.tempo_bpm), rng))
    if states_key:
        if tonic_only:
            stated.append(_pick(rng, _TONIC_ONLY_PHRASES).format(tonic=_tonic_text(facts.key_tonic, rng)))
        else:
            key = captions.key_text(facts, rng, flat_probability=0.3)
            if facts.scale in _CHURCH_NAMES and rng.random() < 0.1:  # "C aeolian", "F ionian"
                key = f"{_tonic_text(facts.key_tonic, rng)} {_CHURCH_NAMES[facts.scale]}"
            stated.append(_pick(rng, _KEY_PHRASES).format(key=key))
    for phrase in stated:
        parts.insert(int(rng.integers(len(parts) + 1)), phrase)
    return _pick(rng, (" ", ", ", ", ", " - ")).join(parts)


def _with_spoken_tempo(text: str, bpm: int, rng: np.random.Generator) -> str:
    """A caption with its tempo digits spelled in words now and then (the only number a caption holds that
    equals the tempo: meters are single digits and tempi are >= 40)."""
    if rng.random() >= 0.15:
        return text
    return text.replace(f"{bpm}bpm", f"{bpm} bpm").replace(str(bpm), _spoken_tempo(bpm, rng), 1)


def reader_example(templates: list[captions.CaptionFacts], rng: np.random.Generator) -> ReaderExample:
    """One training text and its labels. About 70% state a tempo, 70% a key; a tenth of the keys are a tonic
    without a scale; a fifth of the short forms state their tempo as a bare number; a quarter of the texts carry a
    distractor (letters and numbers that state nothing, or a number that is not a tempo)."""
    facts = random_facts(templates, rng)
    bpm = int(facts.tempo_bpm)
    states_tempo, states_key = bool(rng.random() < 0.7), bool(rng.random() < 0.7)
    draw = rng.random()
    tonic_only = False
    if draw < 0.5:
        form = "caption"
        text = captions.make_caption(facts, rng, states_tempo=states_tempo, states_key=states_key)
        if states_tempo:
            text = _with_spoken_tempo(text, bpm, rng)
    elif draw < 0.93:
        tonic_only = states_key and bool(rng.random() < 0.1)
        bare = states_tempo and bool(rng.random() < 0.2)
        form = "bare tempo" if bare else "short"
        text = _short_form(facts, states_tempo, states_key, tonic_only, rng, bare_tempo=bare)
    elif draw < 0.965:
        form = "not music"
        states_tempo = states_key = False
        text = _pick(rng, _NOT_MUSIC_TEXTS)
    else:
        form = "number not tempo"
        states_tempo = states_key = False
        text = number_not_tempo(rng)
    distractor_draw = rng.random()
    if distractor_draw < 0.25:
        distractor = _pick(rng, _DISTRACTORS) if distractor_draw < 0.15 else number_not_tempo(rng)
        text = f"{distractor}, {text}" if rng.random() < 0.3 else f"{text}, {distractor}"
    return ReaderExample(text=text, tempo_bpm=bpm if states_tempo else None,
                         key=facts.key_tonic if states_key else None,
                         scale=None if not states_key or tonic_only else facts.scale, form=form)


def facts_templates(rows: list[dict]) -> list[captions.CaptionFacts]:
    """The training split's clips as fact templates (their style, instruments, mood, energy, effects, meter)."""
    templates = []
    for row in rows:
        if row.get("split") != "train" or not row.get("instruments"):
            continue
        templates.append(captions.CaptionFacts(
            style=row["style"], tempo_bpm=float(row["tempo"]),
            key_tonic=row["key"] if row["key"] in PITCH_CLASS_NAMES else PITCH_CLASS_NAMES[0],  # drawn anew anyway
            scale=row["scale"] if row["scale"] in SCALES else "major", instruments=tuple(row["instruments"]),
            mood=row.get("mood", ""), energy=row.get("energy", ""), effects=tuple(row.get("effects", ())),
            beats_per_bar=int(row.get("beats_per_bar", 4)),
            time_signature=row["time_signature"] if row.get("time_signature") in COMPOUND_TIME_SIGNATURES else ""))
    if not templates:
        raise ValueError("no training-split clips with instruments to draw caption facts from")
    return templates
