"""Tempo, key, scale and meter read from a prompt's words ("deep house at 126 bpm in Eb minor", "a waltz in 3/4").

The diffusion model takes tempo, tonic and scale as conditioning of their own; a prompt that states them in
words should drive that conditioning exactly as `--tempo/--key/--scale` would, and never be misread quietly:
`read_prompt` returns what it understood (and what it saw but could not use, with the reason), so the CLI
and the app can show it. Deliberately conservative: a bare number is a tempo only right beside a genre's name
("techno 128", "a 170 drum and bass roller"; engine/genres.py), never elsewhere ("the 1975", "808", "top 40 pop"), a
bare letter is a tonic only with a scale word or after "in" / "key of", and a bare "Am" only where a key
belongs ("key lime pie", "a minor problem", "in a hurry" and "I Am" read nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.genres import GENRE_NAMES
from engine.limits import BEATS_PER_BAR_RANGE, TEMPO_BPM_RANGE
from engine.vocabulary import SCALES

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_NUMBER_WORD = "|".join(list(_UNITS) + list(_TENS) + ["hundred", "a", "and"])
# a run of number words, e.g. "a hundred and twenty", "ninety-five", "one hundred twenty eight"
_WORDS_NUMBER = rf"(?:(?:{_NUMBER_WORD})(?:[\s-]+(?:{_NUMBER_WORD}))*)"
_DIGITS = r"\d{1,4}(?:\.\d+)?"
_BPM_UNIT = r"(?:bpm|b\.p\.m\.?|(?:beats?\s+)?(?:per|a|an|to\s+the)\s+minute|beats?\s*/\s*min(?:ute)?)"
_ABOUT = r"(?:(?:at|around|about|roughly|approximately|approx\.?|~|circa|near)\s*)?"

_TEMPO_PATTERNS = (
    re.compile(rf"(?<![\w.])(?P<n>{_DIGITS})(?:\s*-?\s*ish)?\s*-?\s*{_BPM_UNIT}(?!\w)", re.IGNORECASE),  # "140-ish bpm"
    re.compile(rf"(?<![\w.])(?P<w>{_WORDS_NUMBER})\s+{_BPM_UNIT}(?!\w)", re.IGNORECASE),
    re.compile(rf"\b(?:bpm|tempo)\s*(?:of|at|:|=|is)?\s*{_ABOUT}(?P<n>{_DIGITS})(?!\s*(?:%|percent|s\b|'s))(?!\w|\.\d)",
               re.IGNORECASE),
    re.compile(rf"\btempo\s*(?:of|at|:|=|is)?\s*{_ABOUT}(?P<w>{_WORDS_NUMBER})(?![\w-])", re.IGNORECASE),
)

_SCALE_WORDS = {"major": "major", "maj": "major", "ionian": "major", "minor": "minor", "min": "minor",
                "aeolian": "minor", "dorian": "dorian", "mixolydian": "mixolydian"}
_UNSUPPORTED_MODES = ("lydian", "phrygian", "locrian")
_ACCIDENTAL = r"(?:[#♯b♭]|[\s-]?(?:sharp|flat))"
_SCALE = "|".join(sorted(list(_SCALE_WORDS) + list(_UNSUPPORTED_MODES), key=len, reverse=True))
# tonic + optional accidental + scale word: "F# minor", "E-flat major", "Bb dorian", "c minor"
_KEY_WITH_SCALE = re.compile(rf"(?<![\w#♯'’])(?P<context>(?:in|key\s+of|key:?)\s+(?:the\s+key\s+of\s+)?)?"
                             rf"(?P<tonic>[A-Ga-g])(?P<acc>{_ACCIDENTAL})?\s*(?P<scale>{_SCALE})(?!\w)",
                             re.IGNORECASE)
# tonic with no scale word, only after "in" / "key of" or with a spelled accidental: "in C", "key of F#", "A-flat"
_KEY_IN_CONTEXT = re.compile(rf"\b(?i:in|key\s+of)\s+(?:the\s+key\s+of\s+)?(?P<tonic>[A-G])(?P<acc>{_ACCIDENTAL})?"
                             rf"(?![\w#♯'’-])(?!\.\w)")
# lower case after "key of" only with an accidental: "key of e flat", "key of f#" ("the key of a lifetime" reads nothing)
_KEY_OF_LOWER = re.compile(rf"\b(?i:key\s+of)\s+(?P<tonic>[a-g])(?P<acc>{_ACCIDENTAL})(?![\w#♯'’-])")
# a tonic with its sign standing alone: "funk 112 bpm Eb", "F# groove" (upper case: "bb gun" is not B-flat)
_KEY_SIGNED = re.compile(r"(?<![\w#♯'’/.-])(?P<tonic>[A-G])(?P<acc>[#♯b♭])(?![\w#♯'’/-])")
# "A-flat", "F sharp" ("A flat ..." with a space is the article and an adjective: only the hyphen counts for A)
_KEY_SPELLED = re.compile(r"(?<![\w#'’])(?:(?P<tonic>[B-G])(?P<acc>[\s-](?:sharp|flat))|"
                          r"(?P<tonic_a>A)(?P<acc_a>-(?:sharp|flat)))(?!\w)")
# a whole number in the tempo range, 40-250 ("10 Cm" is a length)
_TEMPO_RANGE_NUMBER = r"(?:[4-9]\d|1\d\d|2[0-4]\d|250)"
# chord-symbol minor: "in F#m", "key of Am", "Tonality: Bm", "Key=Gm", "centred on C-sharpm"; with a sharp or
# flat sign it needs no context ("C#m in 4/4"), a bare "Am" / "Em" does (they are words too)
_KEY_SYMBOL_MINOR = (
    re.compile(rf"\b(?i:in|of|on|key|tonality|signature)\s*[:=]?\s*(?P<tonic>[A-G])(?P<acc>{_ACCIDENTAL})?m(?!\w)"),
    re.compile(r"(?<![\w#'’])(?P<tonic>[A-G])(?P<acc>[#♯b♭])m(?!\w)"),
    # "Fm key", or alone between list separators: "deep house, Gm, 137 bpm"
    re.compile(rf"(?:(?<![\w#'’])|^)(?P<tonic>[A-G])(?P<acc>{_ACCIDENTAL})?m(?=\s+key\b)"),
    re.compile(rf"(?:^|(?<=[,;|/(]))\s*(?P<tonic>[A-G])(?P<acc>{_ACCIDENTAL})?m\s*(?=$|[,;.|/)])"),
    # next to a tempo-like number, as typed specs put it: "synthwave 100bpm Am", "boom bap Dm 90 bpm",
    # "deep house 122 Fm" (upper-case letter, lower-case m: "FM radio", "GM piano" are not keys; not after "I")
    re.compile(rf"(?<![\w.]){_TEMPO_RANGE_NUMBER}(?:\.\d+)?\s*(?:bpm|b\.p\.m\.?)?\s*,?\s+(?P<tonic>[A-G])m(?![\w#♯'’-])"),
    re.compile(rf"(?<![\w#♯'’/.-])(?<!I\s)(?P<tonic>[A-G])m\s*,?\s+{_TEMPO_RANGE_NUMBER}(?!\.?\d|s\b|'s)"),
)


# a time signature: "3/4", "6 / 8", "12/8" (not inside "24/7", "1/2 note" or a date "12/4/2024")
_TIME_SIGNATURE = re.compile(r"(?<![\w/.])(?P<num>\d{1,2})\s*/\s*(?P<den>2|4|8|16)(?![\w/.]|\s*/)")
_METER_WORDS = ((re.compile(r"\b(?:waltz(?:es|ing)?|triple\s+(?:time|meter|metre))\b", re.IGNORECASE), 3),
                (re.compile(r"\b(?:common\s+time|cut\s+time|alla\s+breve)\b", re.IGNORECASE), 4))


# A refused phrase's note: "'PHRASE' ignored: REASON" (_refusal writes it, PromptMusic.ignored reads the phrase back).
_IGNORED_NOTE = re.compile(r"'(?P<phrase>.*)' ignored: ")


def _refusal(phrase: str, reason: str) -> str:
    """The note for a phrase the words hold that is not used: "'400 bpm' ignored: tempo must be 20..400 BPM"."""
    return f"'{phrase.strip()}' ignored: {reason}"


@dataclass(frozen=True)
class PromptMusic:
    """What one prompt's words say about tempo, key and scale; None where they say nothing usable.

    key: the tonic as the words spell it, normalised ("Eb", "F#"; `vocabulary.tonic_index` reads both
    spellings); notes: things seen but not used, with the reason (shown to the user, never silent)."""

    tempo_bpm: float | None = None
    key: str | None = None
    scale: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    beats_per_bar: int | None = None  # quarter-note beats a bar ("6/8" -> 3)
    model_read: frozenset[str] = frozenset()  # of "tempo", "key", "scale": those the trained words reader read

    def _parts(self, scale_text, mark: str = "") -> list[str]:
        """"126 BPM" and "Eb minor" (the scale as scale_text writes it), those the words state; `mark` after
        each value the trained words reader read."""
        tempo_mark = mark if "tempo" in self.model_read else ""
        parts = [] if self.tempo_bpm is None else [f"{self.tempo_bpm:g} BPM{tempo_mark}"]
        key = " ".join(p for p in (self.key, None if self.scale is None else scale_text(self.scale)) if p)
        key += mark if key and "key" in self.model_read else ""
        meter = [] if self.beats_per_bar is None else [f"{self.beats_per_bar}-beat bars"]
        return parts + ([key] if key else []) + meter

    def short(self) -> str:
        """A label beside a prompt field: "126 BPM · Eb min · 3-beat bars" ("" when the words state nothing); a
        value the trained words reader read is marked "*" ("132 BPM*")."""
        return " · ".join(self._parts(lambda scale: scale[:3], mark="*"))

    def ignored(self) -> tuple[str, ...]:
        """The phrases the rules saw and refused, as typed ("400 bpm", "by 20 bpm", "7/8"): a label's short note
        (the reasons are in `notes`)."""
        return tuple(match.group("phrase") for match in map(_IGNORED_NOTE.match, self.notes) if match)

    def describe(self) -> str:
        """One line for the CLI and the app: "126 BPM, Eb minor" or "nothing"."""
        text = ", ".join(self._parts(str)) or "nothing"
        return text + "".join(f" ({note})" for note in self.notes)


def words_to_number(text: str) -> int | None:
    """English number words up to 999 ("a hundred and twenty", "ninety-five", "one twenty", "one thirteen") -> int,
    or None."""
    words = [w for w in re.split(r"[\s-]+", text.lower()) if w and w != "and"]
    if not words:
        return None
    total, current, seen_value = 0, 0, False
    for i, word in enumerate(words):
        if word == "a":
            if i + 1 < len(words) and words[i + 1] == "hundred":
                current = 1
                continue
            return None
        if word == "hundred":
            total += max(current, 1) * 100
            current, seen_value = 0, True
        elif word in _TENS:
            if current:  # "one twenty", "two forty": a spoken hundred
                total += current * 100
                current = 0
            current += _TENS[word]
            seen_value = True
        elif word in _UNITS:
            if 1 <= current <= 9 and _UNITS[word] >= 10 and not total:  # "one thirteen": a spoken hundred
                total, current = current * 100, 0
            if current % 10 or current >= 10 and _UNITS[word] >= 10:
                return None
            current += _UNITS[word]
            seen_value = True
        else:
            return None
    return total + current if seen_value else None


_NUMBER_WORDS_RUN = re.compile(rf"\b{_WORDS_NUMBER}\b", re.IGNORECASE)
_DIGITS_RUN = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


def numbers_in(text: str) -> set[float]:
    """Every number the text holds, in digits ("2024" is 2024, never 202) or in words (each run of number words
    and its sub-runs: "one seventy four" -> 174, 170, 74, ...): what a value read from the text must be one of."""
    found = {float(match) for match in _DIGITS_RUN.findall(text)}
    for run in _NUMBER_WORDS_RUN.finditer(text):
        words = run.group(0).split()
        for start in range(len(words)):
            for end in range(start + 1, len(words) + 1):
                value = words_to_number(" ".join(words[start:end]))
                if value is not None:
                    found.add(float(value))
    return found


# Units of measure: a number with one is a quantity ("a 90 minute set", "a 50 watt amp", "120 km/h"), never a tempo.
_UNIT_WORDS = (r"sec(?:ond)?s?|min(?:ute)?s?|h(?:ou)?rs?|hour|days?|weeks?|months?|y(?:ea)?rs?|decades?|centur(?:y|ies)|"
               r"mm|cm|km(?:/h)?|kph|mph|met(?:re|er)s?|miles?|inch(?:es)?|feet|foot|ft|yards?|"
               r"grams?|kg|kilos?|pounds?|lbs?|tons?|tonnes?|dollars?|cents?|euros?|quid|bucks?|"
               r"watts?|volts?|hz|khz|mhz|db|decibels?|percent|per\s+cent|degrees?|bits?|gb|mb")
_QUANTITY = re.compile(rf"(?<![\w.])(?:\d+(?:\.\d+)?|{_WORDS_NUMBER})\s*(?:-\s*)?(?:(?:{_UNIT_WORDS})(?![\w/])|%|°)"
                       rf"|(?<![\w.])\d+-(?!ish\b|bpm\b|b\.p\.m|beats?\b)[a-z]+\b", re.IGNORECASE)


def without_quantities(text: str) -> str:
    """The text with each number that has a unit of measure ("a 90 minute set", "75%", "120 km/h") or makes a
    hyphenated count ("a 12-bar blues") taken out: what is left may hold a tempo typed as a bare number."""
    return _QUANTITY.sub(" ", text)


# Nouns a number names a thing after ("room 101", "route 66", "episode 112", "opus 131", "no. 9"): a label, never a
# tempo. Music words ("track", "song", "beat", "house") are not here: "a techno track 128" may well be a tempo.
_LABEL_NOUNS = (r"table|bus|route|room|gate|platform|studio|area|highway|interstate|chapter|episode|opus|op\.?|"
                r"channel|issue|level|floor|seat|cabin|locker|bunker|flight|apartment|apt\.?|suite|page|pier|dock|"
                r"hangar|ward|sector|zone|district|lane|street|avenue|catch|apollo|no\.|number|#|vol\.?|volume|"
                r"psalm|hymn|exit|terminal|class\s+of|(?:summer|spring|autumn|fall|winter)\s+of")
# "a" and "and" are number words only inside a number ("a hundred and ten"): "room a" is no label.
_LABEL = re.compile(rf"(?<![\w.])(?:{_LABEL_NOUNS})\s*'?(?:\d+(?![\d.])|(?!(?:a|and)\b){_WORDS_NUMBER})",
                    re.IGNORECASE)


# "101" without a tempo unit names a beginners' course or a title ("techno 101", "the 101 dalmatians theme"), far more
# often than it is a bare tempo; "at 101 bpm" still reads.
_COURSE_101 = re.compile(rf"(?<![\w.])101(?![\d.])(?!\s*-?\s*{_BPM_UNIT}(?!\w))", re.IGNORECASE)


def without_labels(text: str) -> str:
    """The text with each number that names a thing ("room 101", "studio 54", "level 99 boss") taken out."""
    return _LABEL.sub(" ", text)


# A bare number in the tempo range right after a genre's name ("techno 128", "uk garage 134", "neo soul, 85",
# "house track at 124") or before it at the start or after "a" ("120 funk groove", "a 170 drum and bass roller"):
# how people type a tempo; "around" may stand between ("samba around 100") where the number ends the phrase. Not
# after other words ("top 40 pop", "blink 182 pop punk", "the best 100 disco songs"), nor with a unit ("techno 90
# minutes"), a year's apostrophe ("punk '77"), a suffix ("hip hop 90s") or a count ("jazz around 60 people").
_GENRE = "|".join(sorted((re.escape(name).replace(r"\ ", r"[\s-]+") for name in GENRE_NAMES), key=len, reverse=True))
_GENRE_THING = r"(?:track|beat|groove|loop|jam|tune|song|piece|set|mix|vibes?|feel|banger|roller|shuffle|number)"
_APPROXIMATELY = r"(?:around|about|roughly|approximately|approx\.?|circa|near|~)"
_NOT_A_TEMPO_AFTER = rf"(?![\w%°'’/-]|\.\d)(?!\s*-?\s*(?:{_UNIT_WORDS})(?![\w/]))"
_GENRE_LEAD = rf"(?<![\w'’&-])(?:{_GENRE})(?:\s+{_GENRE_THING})?\s*,?\s*"  # "techno", "neo soul,", "house track"
# the number ends its phrase: "samba around 100", "drop it to 70 for the breakdown" ("around 60 people" is a count)
_ENDS_PHRASE = r"(?=\s*(?:$|[,;:!?)]|\.(?!\d)|(?:in|with|for|on|and|at|to|from|bpm|ish|then|please|now)\b))"
_GENRE_TEMPO_PATTERNS = (
    re.compile(rf"{_GENRE_LEAD}(?:(?:at|@)\s*)?(?P<n>{_TEMPO_RANGE_NUMBER}){_NOT_A_TEMPO_AFTER}", re.IGNORECASE),
    re.compile(rf"(?:^\s*|\b(?:a|an)\s+)(?P<n>{_TEMPO_RANGE_NUMBER})\s*-?\s*(?:{_GENRE})(?![\w'’-])",
               re.IGNORECASE),
    # "samba around 100", "dubstep ~140"
    re.compile(rf"{_GENRE_LEAD}(?:at\s+)?{_APPROXIMATELY}\s*(?P<n>{_TEMPO_RANGE_NUMBER}){_NOT_A_TEMPO_AFTER}"
               rf"{_ENDS_PHRASE}", re.IGNORECASE),
)

# A tempo change typed into a playing prompt: "speed it up to 140", "drop it to 70 for the breakdown", "push the tempo
# up to 150", "go faster, up to 132": a verb that moves the tempo, "to" and a number in the tempo range ending its
# phrase. Not with another object ("turn the reverb up to 80", "crank the bass up to 100"), a unit or a suffix.
_TEMPO_VERB = (r"(?:speed|slow|take|bring|push|pull|drop|ramp|crank|kick|ease|lift|nudge|bump|raise|lower|move|dial|"
               r"wind|step)(?:s|ed|ped|ing|ping)?")
_TEMPO_OBJECT = r"(?:it|things|(?:the\s+)?(?:tempo|pace|bpm|speed|beat|groove|track))"
_TEMPO_CHANGE_PATTERNS = (
    re.compile(rf"\b{_TEMPO_VERB}(?:\s+{_TEMPO_OBJECT})?(?:\s+(?:up|down|back))?\s+to\s+"
               rf"(?P<n>{_TEMPO_RANGE_NUMBER}){_NOT_A_TEMPO_AFTER}{_ENDS_PHRASE}", re.IGNORECASE),
    re.compile(rf"\b(?:faster|slower|quicker)\s*,?\s*(?:(?:up|down)\s+)?to\s+"
               rf"(?P<n>{_TEMPO_RANGE_NUMBER}){_NOT_A_TEMPO_AFTER}{_ENDS_PHRASE}", re.IGNORECASE),
)

# A change by some BPM is no tempo: "speed it up by 20 bpm", "20 bpm faster", "+10 bpm" (a prompt holds one tempo, not
# a step from the last; read as a tempo it would be 20 BPM). The sign only where it touches the number: "house - 69
# BPM" is a list's dash. Said in the notes, and kept from every tempo reader.
_RELATIVE_TEMPO = re.compile(
    rf"(?:\bby\s+|(?<![\w.+-])[+-](?=\d))(?:{_DIGITS}|{_WORDS_NUMBER})\s*-?\s*{_BPM_UNIT}(?!\w)"
    rf"|(?<![\w.])(?:{_DIGITS}|{_WORDS_NUMBER})\s*-?\s*{_BPM_UNIT}\s+"
    rf"(?:faster|slower|quicker|higher|lower|more|less)\b",
    re.IGNORECASE)


def without_tempo_changes(text: str) -> str:
    """The text with each change of tempo by some BPM ("up by 20 bpm", "10 bpm slower") taken out."""
    return _RELATIVE_TEMPO.sub(" ", text)


def _tempo_text(text: str) -> str:
    """The text with what is never a tempo whatever stands beside it taken out: changes by some BPM ("up by 20 bpm")
    and a bare 101 ("techno 101"). Both the rules and the words reader's number guard read what is left."""
    return _COURSE_101.sub(" ", without_tempo_changes(text))


def tempo_numbers_in(text: str) -> set[float]:
    """The numbers a tempo read from the text may be: those it holds, less its changes of tempo, bare 101s, labels
    and quantities (numbers_in, _tempo_text, without_labels, without_quantities)."""
    # quantities last: "a" is a number word to them ("101 beats a minute" would lose its unit first)
    return numbers_in(without_quantities(without_labels(_tempo_text(text))))


def _words_value(text: str) -> int | None:
    """The number a run of words ends with: "play a ninety" -> 90 (leading words that are no number dropped)."""
    words = text.split()
    for start in range(len(words)):
        value = words_to_number(" ".join(words[start:]))
        if value is not None:
            return value
    return None


def _tonic(letter: str, accidental: str | None) -> str:
    tonic = letter.upper()
    if accidental:
        mark = accidental.strip(" -").lower()
        tonic += "#" if mark in ("#", "♯", "sharp") else "b"
    return tonic


# The note a tempo phrase out of range leaves ("'400 bpm' ignored: tempo must be 20..300 BPM"): a reader that fills
# in what the rules read not (engine/read_words.py) leaves such a text alone.
_TEMPO_OUT_OF_RANGE = "tempo must be"
TEMPO_REFUSED = f"ignored: {_TEMPO_OUT_OF_RANGE}"


def tempo_refused(words: PromptMusic) -> bool:
    """Whether the words stated a tempo the rules refused (out of range)."""
    return any(TEMPO_REFUSED in note for note in words.notes)


def _read_tempo(text: str, notes: list[str]) -> float | None:
    for match in _RELATIVE_TEMPO.finditer(text):
        notes.append(_refusal(match.group(0), "a change of tempo, not a tempo (set the tempo itself)"))
    text = _tempo_text(text)
    for pattern in _TEMPO_PATTERNS + _GENRE_TEMPO_PATTERNS + _TEMPO_CHANGE_PATTERNS:
        for match in pattern.finditer(text):
            groups = match.groupdict()
            value = float(groups["n"]) if groups.get("n") else _words_value(groups["w"] or "")
            if value is None:
                continue
            if not TEMPO_BPM_RANGE[0] <= value <= TEMPO_BPM_RANGE[1]:
                notes.append(_refusal(match.group(0), f"{_TEMPO_OUT_OF_RANGE} "
                                                     f"{TEMPO_BPM_RANGE[0]:g}..{TEMPO_BPM_RANGE[1]:g} BPM"))
                continue
            return value
    return None


def _read_key(text: str, notes: list[str]) -> tuple[str | None, str | None]:
    for match in _KEY_WITH_SCALE.finditer(text):
        letter, accidental, scale_word = match.group("tonic"), match.group("acc"), match.group("scale").lower()
        if match.group("context") is None and letter == "a" and not accidental:
            continue  # the article: "a minor problem", "a major hit"
        if scale_word in _UNSUPPORTED_MODES:
            notes.append(f"'{match.group(0).strip()}': the model knows {', '.join(SCALES)}, so only the tonic is used")
            return _tonic(letter, accidental), None
        return _tonic(letter, accidental), _SCALE_WORDS[scale_word]
    for pattern in _KEY_SYMBOL_MINOR:
        for match in pattern.finditer(text):
            return _tonic(match.group("tonic"), match.groupdict().get("acc")), "minor"
    for pattern in (_KEY_IN_CONTEXT, _KEY_OF_LOWER, _KEY_SIGNED):
        for match in pattern.finditer(text):
            return _tonic(match.group("tonic"), match.group("acc")), None
    for match in _KEY_SPELLED.finditer(text):
        if match.group("tonic"):
            return _tonic(match.group("tonic"), match.group("acc")), None
        return _tonic(match.group("tonic_a"), match.group("acc_a")), None
    return None, None


def _read_meter(text: str, notes: list[str]) -> int | None:
    """Quarter-note beats a bar from a time signature ("3/4" 3, "2/2" 4, "6/8" 3, "12/8" 6) or a meter word."""
    for match in _TIME_SIGNATURE.finditer(text):
        numerator, denominator = int(match.group("num")), int(match.group("den"))
        if numerator < 2:
            continue  # "1/4 note", "1/2": a note value, not a bar
        quarters = numerator * 4 / denominator
        if quarters != int(quarters) or not BEATS_PER_BAR_RANGE[0] <= quarters <= BEATS_PER_BAR_RANGE[1]:
            notes.append(_refusal(match.group(0), f"bars of whole quarter-note beats only, "
                                                 f"{BEATS_PER_BAR_RANGE[0]}..{BEATS_PER_BAR_RANGE[1]}"))
            continue
        if denominator == 8 and numerator % 3 == 0:  # compound: say how its tempo is counted, never silently
            notes.append(f"'{match.group(0).strip()}': {int(quarters)} quarter-note beats a bar; the tempo counts "
                         f"quarter notes, as a DAW does (the dotted-quarter pulse is 2/3 of it)")
        return int(quarters)
    for pattern, beats in _METER_WORDS:
        if pattern.search(text):
            return beats
    return None


def read_prompt(text: str) -> PromptMusic:
    """The tempo, key, scale and meter one prompt states in words (the first of each it finds)."""
    notes: list[str] = []
    tempo_bpm = _read_tempo(text, notes)
    key, scale = _read_key(text, notes)
    beats_per_bar = _read_meter(text, notes)
    return PromptMusic(tempo_bpm, key, scale, tuple(notes), beats_per_bar)


@dataclass(frozen=True)
class MusicSettings:
    """The tempo, key and scale a request will use, and where each came from ("--tempo", "prompt 2's words",
    or None where nothing set it and the model chooses)."""

    tempo_bpm: float | None
    key: str | None
    scale: str | None
    sources: dict[str, str]
    beats_per_bar: int | None = None

    def describe(self) -> str:
        """One line per setting that was set: "tempo 126 BPM (prompt 1's words)"."""
        shown = {"tempo": None if self.tempo_bpm is None else f"{self.tempo_bpm:g} BPM", "key": self.key,
                 "scale": self.scale,
                 "bars": None if self.beats_per_bar is None else f"of {self.beats_per_bar} beats"}
        parts = [f"{name} {value} ({self.sources[name]})" for name, value in shown.items() if value is not None]
        return ", ".join(parts) if parts else "no tempo, key or scale (the model chooses)"


def settle(prompts: tuple[PromptMusic, ...], weights: tuple[float, ...], tempo_bpm: float | None = None,
           key: str | None = None, scale: str | None = None, beats_per_bar: int | None = None) -> MusicSettings:
    """What a blend of prompts plus explicit settings (flags, knobs) asks for: an explicit setting wins over
    words; otherwise each of tempo, key, scale and meter comes from the heaviest prompt whose words state it
    (the first on a tie). A key and its scale are taken from the same prompt where it states both. A value the
    trained words reader read (`PromptMusic.model_read`) says so in its source."""
    if len(prompts) != len(weights):
        raise ValueError(f"{len(prompts)} prompts but {len(weights)} weights")
    order = sorted(range(len(prompts)), key=lambda i: -weights[i])
    sources: dict[str, str] = {}

    def from_words(name: str, value_of) -> tuple[object, str | None]:
        for i in order:
            value = value_of(prompts[i])
            if value is not None:
                words = f"prompt {i + 1}'s words" if len(prompts) > 1 else "the prompt's words"
                return value, f"{words}, read by the words reader model" if name in prompts[i].model_read else words
        return None, None

    chosen: dict[str, object] = {}
    for name, flag, explicit, value_of in (("tempo", "--tempo", tempo_bpm, lambda p: p.tempo_bpm),
                                           ("key", "--key", key, lambda p: p.key),
                                           ("scale", "--scale", scale, lambda p: p.scale),
                                           ("bars", "--beats-per-bar", beats_per_bar, lambda p: p.beats_per_bar)):
        if explicit is not None:
            chosen[name], source = explicit, flag
        else:
            chosen[name], source = from_words(name, value_of)
        if source is not None:
            sources[name] = source
    return MusicSettings(chosen["tempo"], chosen["key"], chosen["scale"], sources,  # type: ignore[arg-type]
                         chosen["bars"])  # type: ignore[arg-type]
