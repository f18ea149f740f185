"""instrument/session/prompt_settings.py: the tempo, key and scale knobs follow the words of the prompt blend."""

from __future__ import annotations

from engine.vocabulary import KEY_TONICS, SCALES
from instrument.parameters import ParameterStore
from instrument.presets import apply_preset
from instrument.prompt_words import commit_typed_prompt
from instrument.session.prompt_settings import WORDS_SOURCE, PromptSettingsFollower, blend_words

HOUSE = "deep house at 124 bpm in A minor"
BREAKS = "breakbeat at 170 bpm in F minor"


def settings(store: ParameterStore) -> tuple[float, str, str]:
    return store.get("tempo_bpm"), KEY_TONICS[int(store.get("key"))], SCALES[int(store.get("scale"))]


def two_prompt_store() -> ParameterStore:
    """Prompt 1 (house, 124, A minor) sounding alone; prompt 2 (breaks, 170, F minor) on the pad's x corner."""
    store = ParameterStore()
    store.set_many({"tempo_bpm": 124.0, "key": 9.0, "scale": 1.0}, [HOUSE, BREAKS], source="api")
    assert settings(store) == (124.0, "A", "minor")
    return store


def test_a_morph_across_the_pad_takes_each_prompts_own_tempo_key_and_scale() -> None:
    store = two_prompt_store()
    follower = PromptSettingsFollower(store)
    follower.start()
    version = store.version
    store.set("xy_x", 0.4, "gui")  # prompt 1 still the heavier: nothing moves
    assert settings(store) == (124.0, "A", "minor")
    store.set("xy_x", 0.8, "gui")  # prompt 2 now the heavier (0.64 against 0.36)
    assert settings(store) == (170.0, "F", "minor")  # key and scale together: not F with the preset's major
    moved = [c for c in store.changes_since(version) if c.name in ("tempo_bpm", "key")]
    assert [c.source for c in moved] == [WORDS_SOURCE, WORDS_SOURCE]  # the take log tells them from a hand
    store.set("xy_x", 0.0, "midi")
    assert settings(store) == (124.0, "A", "minor")
    follower.stop()
    store.set("xy_x", 1.0, "gui")  # stopped: the knobs stay
    assert settings(store) == (124.0, "A", "minor")


def test_a_knob_turned_by_hand_holds_until_the_words_choose_something_else() -> None:
    store = two_prompt_store()
    follower = PromptSettingsFollower(store)
    follower.start()
    store.set("xy_x", 1.0, "gui")
    store.set("tempo_bpm", 150.0, "gui")
    store.set("xy_x", 0.8, "gui")  # still prompt 2's words: the hand's 150 stays
    store.set("prompt_2_weight", 0.5, "midi")
    assert settings(store) == (150.0, "F", "minor")
    store.set("xy_x", 0.0, "gui")  # prompt 1's words now: they choose 124 and A minor
    assert settings(store) == (124.0, "A", "minor")


def test_typing_into_a_silent_slot_moves_nothing_until_it_is_morphed_in() -> None:
    store = two_prompt_store()
    follower = PromptSettingsFollower(store)
    follower.start()
    words = commit_typed_prompt(store, 2, "dub at 90 bpm in G minor")
    assert words.short() == "90 BPM · G min" and store.prompt_texts()[2] == "dub at 90 bpm in G minor"
    assert settings(store) == (124.0, "A", "minor")  # prompt 3 does not sound yet
    store.set_many({"prompt_1_weight": 0.0, "prompt_3_weight": 1.0}, source="gui")
    assert settings(store) == (90.0, "G", "minor")
    # typed into the prompt that sounds: its own words, at once (one atomic change with the text)
    commit_typed_prompt(store, 2, "dub at 84 bpm")
    assert settings(store) == (84.0, "G", "minor")
    # words that state nothing leave the knobs as they are
    commit_typed_prompt(store, 2, "dub with key lime pie")
    assert settings(store) == (84.0, "G", "minor")


def test_a_preset_keeps_its_own_settings_and_a_later_morph_follows_the_words() -> None:
    store = ParameterStore()
    follower = PromptSettingsFollower(store)
    follower.start()
    apply_preset(store, {"format": "cascade-preset", "version": 1, "name": "clash", "prompts": [HOUSE, BREAKS],
                         "parameters": {"tempo_bpm": 100.0, "key": "C", "scale": "major"}})
    assert settings(store) == (100.0, "C", "major")  # the preset's, not its prompts' words
    store.set("xy_x", 0.3, "gui")  # the words' choice is still prompt 1's: nothing moves
    assert settings(store) == (100.0, "C", "major")
    store.set("xy_x", 1.0, "gui")
    assert settings(store) == (170.0, "F", "minor")  # key and scale together: not F with the preset's major


def test_a_running_clock_keeps_the_tempo_and_the_key_still_follows() -> None:
    store = two_prompt_store()
    follower = PromptSettingsFollower(store, tempo_locked=lambda: True)
    follower.start()
    store.set("xy_x", 1.0, "gui")
    assert settings(store) == (124.0, "F", "minor")


def test_the_blend_choice_reads_each_setting_from_the_heaviest_prompt_that_states_it() -> None:
    store = ParameterStore()
    texts = ("house at 124 bpm", "in Eb major", "", "")
    values = dict(store.snapshot().values, prompt_1_weight=0.7, prompt_2_weight=0.3)
    chosen = blend_words(values, texts)
    assert (chosen.tempo_bpm, chosen.key, chosen.scale) == (124.0, "Eb", "major")
    values = dict(values, prompt_1_weight=0.0)  # prompt 1 silent: its tempo no longer counts
    chosen = blend_words(values, texts)
    assert (chosen.tempo_bpm, chosen.key) == (None, "Eb")
    values = dict(values, prompt_2_weight=0.0)  # nothing sounds: the engine plays both equally, so do the words
    assert blend_words(values, texts).tempo_bpm == 124.0


def test_with_the_default_reader_a_bare_tempo_moves_the_knob_too() -> None:
    """The app's reader (engine/read_words.py "both", as `cascade render`): "a groove at about 132" has no tempo
    to the rules; the trained words reader's tempo moves the knob as the prompt is morphed in; the rules alone would
    not. A bare number beside a genre's name ("drum and bass 174") the rules read themselves."""
    from engine.read_words import prompt_reader

    for mode, tempo in (("both", 132.0), ("rules", 124.0)):
        store = ParameterStore()
        store.set_many({"tempo_bpm": 124.0, "key": 9.0, "scale": 1.0}, [HOUSE, "a groove at about 132 in F minor"], source="api")
        follower = PromptSettingsFollower(store, reader=prompt_reader(mode))
        follower.start()
        store.set("xy_x", 1.0, "gui")
        assert settings(store) == (tempo, "F", "minor"), mode
        follower.stop()
        typed = commit_typed_prompt(store, 1, "a groove at about 174", reader=prompt_reader(mode))
        assert typed.tempo_bpm == (174.0 if mode == "both" else None)
        assert commit_typed_prompt(store, 1, "drum and bass 174", reader=prompt_reader(mode)).tempo_bpm == 174.0
