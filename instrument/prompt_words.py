"""The words of the prompts that sound set the tempo, key and scale knobs (read as engine/read_words.py says).

Each prompt keeps its own reading; what the knobs get is the blend's choice, the rule `cascade render` uses
(`engine.prompt_words.settle`): each of tempo, key and scale from the heaviest sounding prompt whose words state
it. Live, the knobs always hold a value, so "explicit settings win over words" means: when the player commits a
prompt, the knobs its words speak for move to the blend's choice in the same atomic change as the text (typed
into the prompt that sounds: its own words; into a silent slot: nothing moves until it is morphed in, see
instrument/session/prompt_settings.py); a knob turned afterwards wins until the words choose something else.
Prompts that arrive with a preset keep the preset's settings. A tempo outside the knob's range is clamped and
the reading says so."""

from __future__ import annotations

from engine.prompt_words import PromptMusic, read_prompt
from engine.read_words import PromptReader
from engine.vocabulary import N_PROMPT_SLOTS
from instrument.parameters import ParameterStore, clean_prompt_text
from instrument.session.prompt_settings import blend_words, knob_values


def commit_typed_prompt(store: ParameterStore, slot: int, text: str, source: str = "gui",
                        reader: PromptReader = read_prompt) -> PromptMusic:
    """Store prompt `slot`'s text and, for each setting its words state (as `reader` reads them:
    engine/read_words.py), the blend's choice, atomically; returns the typed words' reading (with a note where
    the tempo knob had to clamp it)."""
    if not 0 <= slot < N_PROMPT_SLOTS:
        raise ValueError(f"prompt slot must be 0..{N_PROMPT_SLOTS - 1}, got {slot}")
    words = reader(text)
    snapshot = store.snapshot()
    texts = list(snapshot.prompt_texts)
    texts[slot] = clean_prompt_text(text)
    chosen = blend_words(snapshot.values, tuple(texts), reader)
    spoken_for = PromptMusic(chosen.tempo_bpm if words.tempo_bpm is not None else None,
                             chosen.key if words.key is not None else None,
                             chosen.scale if words.scale is not None else None)
    _, values = knob_values(spoken_for, store)
    store.set_many(values, texts, source=source)
    return knob_values(words, store)[0]
