"""A typed prompt's words move the tempo, key and scale knobs (engine/prompt_words.py reads them).

Live, the knobs always hold a value, so "explicit settings win over words" means: when the player commits a
prompt whose words state a tempo, key or scale, those knobs move to it, in the same atomic change as the
text; a knob turned afterwards wins until the next prompt is typed. Prompts that arrive any other way (a
preset, MIDI, the API) keep the settings they came with. A tempo outside the knob's range is clamped and
the reading says so."""

from __future__ import annotations

from dataclasses import replace

from engine.prompt_words import PromptMusic, read_prompt
from engine.vocabulary import N_PROMPT_SLOTS, scale_index, tonic_index
from instrument.parameters import ParameterStore


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


def commit_typed_prompt(store: ParameterStore, slot: int, text: str, source: str = "gui") -> PromptMusic:
    """Store prompt `slot`'s text and the knob values its words state, atomically; returns the reading."""
    if not 0 <= slot < N_PROMPT_SLOTS:
        raise ValueError(f"prompt slot must be 0..{N_PROMPT_SLOTS - 1}, got {slot}")
    words, values = knob_values(read_prompt(text), store)
    texts = list(store.prompt_texts())
    texts[slot] = text
    store.set_many(values, texts, source=source)
    return words
