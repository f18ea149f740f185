"""The tempo, key and scale knobs follow the words of the prompt blend as it morphs.

Each prompt keeps its own reading (engine/read_words.py, the app's reader); when a morph (weights, the XY pad,
a prompt text) changes what the blend's words choose for a setting (`blend_words` below: the heaviest
sounding prompt that states it), that knob moves to the new choice. Only a change of the choice moves a knob,
so a knob the player turned stays where it is until the words choose something else: between crossings the
knobs are the player's. A preset (or a reset) brings its own settings: the follower takes its blend as the
new starting point and moves nothing. While a MIDI clock runs, the clock owns the tempo.

Also here, shared with a typed prompt's commit (instrument/prompt_words.py): the words -> knob values, and the
blend's choice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from engine.prompt_words import PromptMusic, read_prompt, settle
from engine.read_words import PromptReader
from engine.vocabulary import scale_index, tonic_index
from instrument.parameters import WORDS_SOURCE, ParameterStore
from instrument.session.requests import prompt_morph_names, sounding_prompts


def knob_values(words: PromptMusic, store: ParameterStore) -> tuple[PromptMusic, dict[str, float]]:
    """The knob values the words ask for, and the reading with a note where a value had to be clamped."""
    values: dict[str, float] = {}
    notes = list(words.notes)
    if words.tempo_bpm is not None:
        spec = store.spec("tempo_bpm")
        values["tempo_bpm"] = spec.clamp(words.tempo_bpm)
        if values["tempo_bpm"] != words.tempo_bpm:
            notes.append(f"tempo knob {spec.minimum:g}..{spec.maximum:g}: set to {values['tempo_bpm']:g}")
    if words.key is not None:
        values["key"] = float(tonic_index(words.key))
    if words.scale is not None:
        values["scale"] = float(scale_index(words.scale))
    return replace(words, notes=tuple(notes)), values


def blend_words(values: Mapping[str, float], prompt_texts: tuple[str, ...], reader: PromptReader = read_prompt
                ) -> PromptMusic:
    """What the words of the sounding prompts choose (`requests.sounding_prompts`), read by `reader`
    (engine/read_words.py): each of tempo, key and scale from the heaviest of them whose words state it; None where
    none does."""
    sounding = sounding_prompts(values, prompt_texts)
    chosen = settle(tuple(reader(text) for text, _ in sounding), tuple(w for _, w in sounding))
    return PromptMusic(chosen.tempo_bpm, chosen.key, chosen.scale)


SETTING_SOURCES = frozenset({"preset", "reset"})  # changes that bring their own tempo, key and scale


class PromptSettingsFollower:
    """Subscribes to the store (`start`/`stop`); moves tempo_bpm, key and scale with source WORDS_SOURCE.

    tempo_locked: whether something else owns the tempo now (a running MIDI clock): the tempo knob is left alone.
    reader: what reads each prompt's words (engine/read_words.py; the app's and `cascade play`'s read as render's).
    """

    def __init__(self, store: ParameterStore, tempo_locked: Callable[[], bool] = lambda: False,
                 reader: PromptReader = read_prompt) -> None:
        self._store = store
        self._tempo_locked = tempo_locked
        self._reader = reader
        self._morph_names = prompt_morph_names(store)
        self._lock = threading.Lock()  # morphs come from the GUI, MIDI and API threads
        snapshot = store.snapshot()
        self._chosen = self._knobs(blend_words(snapshot.values, snapshot.prompt_texts, self._reader))
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._store.subscribe(self._on_change)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _knobs(self, words: PromptMusic) -> dict[str, float]:
        return knob_values(words, self._store)[1]

    def _on_change(self, name: str, value: object, source: str) -> None:
        if name not in self._morph_names or source == WORDS_SOURCE:
            return
        snapshot = self._store.snapshot()
        with self._lock:
            chosen = self._knobs(blend_words(snapshot.values, snapshot.prompt_texts, self._reader))
            previous, self._chosen = self._chosen, chosen
        if source in SETTING_SOURCES:
            return
        moves: dict[str, float] = {}
        # a key and its scale move together ("F minor" is one thing the words say), tempo on its own
        for group in (("tempo_bpm",), ("key", "scale")):
            if any(previous.get(knob) != chosen.get(knob) for knob in group):
                moves.update({knob: chosen[knob] for knob in group if knob in chosen})
        if self._tempo_locked():
            moves.pop("tempo_bpm", None)
        if moves:
            self._store.set_many(moves, source=WORDS_SOURCE)
