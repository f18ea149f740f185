"""Who reads tempo, key and scale from a prompt's words: the rules, the trained words reader, or both.

Four ways, one contract (`PromptReader`: text -> PromptMusic), so `cascade render`, the app and the benchmarks
take any of them:
  both  -- the rules (engine/prompt_words.py), and where they read no tempo, the trained words reader's tempo
           (engine/diffusion/words_reader.py): people type "techno 128", "dub at 70", "a house track at about 124",
           which the rules leave alone by design (a bare number is never a tempo to them). Keys stay the rules':
           the reader hears keys in texts that state none ("a major hit", "I Am the walrus"). The default.
  rules -- the rules alone.
  model -- the words reader alone (tempo, key and scale).
  off   -- nothing is read: the diffusion model gets the text alone.
A reading the model made says so in its notes, with its confidence, so it is never silent.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.prompt_words import PromptMusic, read_prompt, tempo_refused

if TYPE_CHECKING:
    from engine.diffusion.text import PromptEncoder
    from engine.diffusion.words_reader import Reading, WordsModelReader

READ_WORDS_MODES: tuple[str, ...] = ("both", "rules", "model", "off")
DEFAULT_READ_WORDS = "both"
_CACHE_ENTRIES = 256  # typed prompts and presets: a performance reads a few dozen texts


class PromptReader(Protocol):
    """Reads one prompt's words; never raises for a text (an unreadable one reads nothing)."""

    def __call__(self, text: str) -> PromptMusic: ...


def read_nothing(text: str) -> PromptMusic:
    """The `off` reader."""
    return PromptMusic()


class ModelWords:
    """The trained words reader as a PromptReader, loaded on first use (a text the rules read fully never loads
    it), its readings cached by text; thread-safe (the app reads from the GUI, MIDI and engine threads).

    `rules_first`: the `both` reader (the rules' reading, the model's tempo where the rules read none). A broken
    reader file then costs only the model's part, once said in the readings' notes (a render or a performance
    goes on with the rules); the `model` reader raises CheckpointError instead."""

    def __init__(self, rules_first: bool, path: str | Path | None = None,
                 encoder: PromptEncoder | Callable[[], PromptEncoder | None] | None = None) -> None:
        self.rules_first = rules_first
        self._path = path
        self._encoder = encoder
        self._model: WordsModelReader | None = None
        self.load_error: str | None = None  # why the reader file could not be loaded (`both` goes on with the rules)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Reading | None] = OrderedDict()  # None: nothing the encoder can read

    def _reader(self) -> WordsModelReader:
        """Raises CheckpointError for a broken reader file."""
        if self._model is None:
            from engine.diffusion.words_reader import DEFAULT_WORDS_READER_WEIGHTS, WordsModelReader

            encoder = self._encoder() if callable(self._encoder) else self._encoder  # the generator's, once it is there
            self._model = WordsModelReader(self._path or DEFAULT_WORDS_READER_WEIGHTS, encoder)
        return self._model

    def reading(self, text: str) -> Reading | None:
        """What the model reads in `text` (cached); None for an empty text or one the encoder cannot read ("\x01":
        the request's own check says what is wrong with it). Raises CheckpointError for a broken reader file."""
        from engine.diffusion.text import PromptEncoderError

        if not isinstance(text, str) or not text.strip():
            return None
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
            try:
                reading: Reading | None = self._reader().read(text)
            except PromptEncoderError:
                reading = None
            self._cache[text] = reading
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
            return reading

    def model_reading(self, text: str) -> PromptMusic:
        """What the model alone reads, in the rules' form."""
        reading = self.reading(text)
        return PromptMusic() if reading is None else reading.as_prompt_music()

    def __call__(self, text: str) -> PromptMusic:
        from engine.weights_io import CheckpointError  # here: reading the rules alone never imports torch

        if not self.rules_first:
            return self.model_reading(text)
        rules = read_prompt(text)
        if rules.tempo_bpm is not None or tempo_refused(rules):  # "400 bpm": refused, and said so, not guessed
            return rules
        if self.load_error is None:
            try:
                reading = self.reading(text)
            except CheckpointError as error:
                self.load_error = str(error)
        if self.load_error is not None:
            return replace(rules, notes=rules.notes + (f"the words reader model is not loaded: {self.load_error}",))
        if reading is None:
            return rules
        tempo = reading.as_prompt_music(frozenset({"tempo"}))
        return replace(rules, tempo_bpm=tempo.tempo_bpm, notes=tempo.notes + rules.notes, model_read=tempo.model_read)


def prompt_reader(mode: str, path: str | Path | None = None,
                  encoder: PromptEncoder | Callable[[], PromptEncoder | None] | None = None) -> PromptReader:
    """The reader `mode` names (READ_WORDS_MODES); `path` a words-reader file (default: the shipped one),
    `encoder` a text encoder to share (the generator's: its cache then serves both), or a function that gives it
    when the model is first needed (None: the reader loads its own)."""
    if mode == "rules":
        return read_prompt
    if mode == "off":
        return read_nothing
    if mode in ("both", "model"):
        return ModelWords(rules_first=mode == "both", path=path, encoder=encoder)
    raise ValueError(f"read-words mode must be one of {', '.join(READ_WORDS_MODES)}, got {mode!r}")
