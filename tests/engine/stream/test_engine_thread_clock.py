"""The engine thread under an external clock: bar-line joins, quantised prompt morphs held to bar lines, and a
clock's tempo riding the next chunk."""

from __future__ import annotations

import time

import numpy as np

from engine.generate import Generator
from engine.stream import BarGrid, DryAudioQueue, EngineConfig, EngineThread, StreamGeometry, render_chunk_log
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE
from instrument.parameters import ParameterStore
from tests.engine.stream.support import Consumer, make_engine, playing_store
from tests.helpers import wait_for


def morph_engine(generator: Generator) -> tuple[ParameterStore, BarGrid, EngineConfig, EngineThread, DryAudioQueue]:
    """An engine on a fixed external grid (150 BPM, bars 1.6 s apart, not frame-aligned) that holds prompt
    morphs to bar lines, with "warm pad" playing and "bright bells" in slot 2."""
    from instrument.session import hold_prompts, make_quantised_filter

    store = playing_store()
    store.set_prompt_text(1, "bright bells")
    grid = BarGrid(beat_at_zero=-0.37, beats_per_sample=2.5 / SAMPLE_RATE, beats_per_bar=4)
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4))
    engine, queue = make_engine(generator, store, config, bar_grid_for=lambda: grid,
                                is_quantised_change=make_quantised_filter(store), hold_quantised=hold_prompts)
    return store, grid, config, engine, queue


def test_bar_line_joins_and_a_held_morph_replay_exactly(generator: Generator) -> None:
    """A fixed external grid (bars not on frame boundaries): the joins' crossfades end on the bar lines, a
    prompt morph waits for the next reachable bar line while a CFG change does not, and the chunk log (with
    its in-frame splice offsets) still re-renders the live stream exactly."""
    store, grid, config, engine, queue = morph_engine(generator)
    engine.start()
    try:
        with Consumer(queue) as consumer:
            assert wait_for(lambda: queue.read_position > 2.0 * SAMPLE_RATE, 10.0)
            store.set("xy_x", 1.0)  # to prompt 2: a morph, held to a bar line
            assert wait_for(lambda: engine.status().morphs == 1, 10.0)
            store.set("cfg_scale", 8.0)  # not a prompt: answered by a rollback, not held
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 8.0 for r in engine.records), 5.0)
            time.sleep(1.0)
    finally:
        engine.stop()
    live = consumer.audio
    bars = [round(b) for b in grid.bar_samples(1, queue.end)]
    regular = [r for r in engine.records if r.kind == "chunk" and not r.fresh and not r.rollback]
    ends = {r.crossfade_frame * LATENT_HOP_FRAMES + r.splice_offset + 4 * LATENT_HOP_FRAMES for r in regular}
    assert {b for b in bars if 32 * LATENT_HOP_FRAMES < b < max(ends)} <= ends, \
        "each bar line after the first chunk: a join"
    assert any(e % LATENT_HOP_FRAMES for e in ends), "joins land inside frames (the bar lines are not frame-aligned)"
    morph = next(r for r in engine.records if r.morph)
    assert morph.crossfade_frame * LATENT_HOP_FRAMES + morph.splice_offset + 4 * LATENT_HOP_FRAMES in bars
    assert morph.request["prompts"] == ["bright bells"]
    assert all(r.request["prompts"] == ["warm pad"] for r in engine.records[:engine.records.index(morph)]
               if r.kind == "chunk")
    cfg = next(r for r in engine.records if r.request and r.request["cfg_scale"] == 8.0)
    assert cfg.rollback and not cfg.morph
    replay = render_chunk_log(generator, [r.to_json() for r in engine.records], config.geometry,
                              end_sample=live.shape[1])
    np.testing.assert_allclose(replay, live, atol=1e-6)


def test_a_rollback_before_a_landed_morph_does_not_bring_the_morph_forward(generator: Generator) -> None:
    """A morph lands in audio the playhead has not reached; a CFG change right then rolls back to just ahead of
    the playhead, before the bar line: that chunk keeps the old prompt and the morph lands on its bar line anew,
    so the new prompt is never heard before the bar line (it was, when the rollback used the morphed snapshot)."""
    store, grid, config, engine, queue = morph_engine(generator)
    engine.start()
    try:
        with Consumer(queue):
            assert wait_for(lambda: queue.read_position > 2.0 * SAMPLE_RATE, 10.0)
            store.set("xy_x", 1.0)  # to prompt 2: a morph, held to a bar line
            assert wait_for(lambda: engine.status().morphs == 1, 10.0)
            first = next(r for r in engine.records if r.morph)
            landing = first.crossfade_frame * LATENT_HOP_FRAMES + first.splice_offset + 4 * LATENT_HOP_FRAMES
            ahead_s = (landing - queue.read_position) / SAMPLE_RATE
            store.set("cfg_scale", 8.0)  # answered by a rollback a guard ahead of the playhead
            assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 8.0 for r in engine.records), 5.0)
            time.sleep(1.0)
    finally:
        engine.stop()
    assert ahead_s > 0.1, f"the morph had to be ahead of the playhead when the knob moved ({ahead_s:.2f} s)"
    cfg = next(r for r in engine.records if r.request and r.request["cfg_scale"] == 8.0)
    cfg_end = cfg.crossfade_frame * LATENT_HOP_FRAMES + cfg.splice_offset + 4 * LATENT_HOP_FRAMES
    assert cfg.rollback and cfg_end < landing, "it rolled back before the bar"
    assert cfg.request["prompts"] == ["warm pad"], "audio before the bar line keeps the old prompt"
    # The stream as finally spliced: the old prompt up to the bar line, the new one from it, the join on it.
    joins: list[tuple[int, list[str]]] = []
    for record in (r for r in engine.records if r.kind == "chunk" and not r.fresh):
        start = record.crossfade_frame * LATENT_HOP_FRAMES + record.splice_offset
        join_end = start + 4 * LATENT_HOP_FRAMES
        joins = [j for j in joins if j[0] < join_end] + [(join_end, record.request["prompts"])]
    for end, prompts in joins:
        assert (prompts == ["bright bells"]) == (end >= landing), (end, landing, prompts)
    assert landing in {end for end, prompts in joins if prompts == ["bright bells"]}, "the morph is on its bar line"


def test_a_clocks_tempo_rides_the_next_chunk_while_a_players_tempo_rolls_back(generator: Generator) -> None:
    """A MIDI clock re-estimates its tempo from jittery ticks: those writes must not roll back (they pulled joins
    off bar lines, several rollbacks a second); the next chunk takes the tempo. A player's tempo knob still rolls
    back at once."""
    from instrument.parameters import CLOCK_SOURCE

    store = playing_store()
    store.set("tempo_bpm", 150.0)
    engine, queue = make_engine(generator, store, waits_for_next_chunk=lambda change: change.source == CLOCK_SOURCE)
    engine.start()
    try:
        with Consumer(queue):
            assert wait_for(lambda: queue.read_position > 1.0 * SAMPLE_RATE, 10.0)
            clock_from = len(engine.records)
            for bpm in (150.6, 151.3, 150.4, 151.9):  # a wobbling estimate, 0.2 s apart
                store.set("tempo_bpm", bpm, source=CLOCK_SOURCE)
                time.sleep(0.2)
            assert wait_for(lambda: any(r.request and r.request["tempo_bpm"] == 151.9
                                        for r in engine.records[clock_from:]), 5.0)
            clock_records = list(engine.records[clock_from:])
            knob_from = len(engine.records)
            store.set("tempo_bpm", 120.0, source="midi")
            assert wait_for(lambda: any(r.request and r.request["tempo_bpm"] == 120.0
                                        for r in engine.records[knob_from:]), 5.0)
            knob = next(r for r in engine.records[knob_from:] if r.request and r.request["tempo_bpm"] == 120.0)
    finally:
        engine.stop()
    assert not any(r.rollback and not r.refine for r in clock_records), \
        [(r.index, r.rollback, r.refine) for r in clock_records]
    assert knob.rollback


def test_the_key_the_words_move_with_a_morph_lands_with_it_on_the_bar_line(generator: Generator) -> None:
    """Prompt 2's words state another key: the key knob follows the morph at once (prompt_settings), but the
    chunks before the morph's bar line keep the old key with the old prompt, and the chunk on the bar line takes
    both, as it does the prompt."""
    from instrument.session.prompt_settings import PromptSettingsFollower

    store, grid, config, engine, queue = morph_engine(generator)
    store.set_many({"key": 9.0, "scale": 1.0}, ["warm pad in A minor", "bright bells in F# major"])
    follower = PromptSettingsFollower(store)
    follower.start()
    engine.start()
    try:
        with Consumer(queue):
            assert wait_for(lambda: queue.read_position > 2.0 * SAMPLE_RATE, 10.0)
            store.set("xy_x", 1.0)  # to prompt 2: the key knob moves to F# major now, the morph waits for a bar
            assert store.get("key") == 6.0 and store.get("scale") == 0.0
            assert wait_for(lambda: engine.status().morphs == 1, 10.0)
            time.sleep(0.5)
    finally:
        engine.stop()
        follower.stop()
    chunks = [r for r in engine.records if r.kind == "chunk"]
    morph = next(r for r in chunks if r.morph)
    assert (morph.request["prompts"], morph.request["key"], morph.request["scale"]) == (
        ["bright bells in F# major"], "F#", "major")
    before = chunks[:chunks.index(morph)]
    assert before and all((r.request["prompts"], r.request["key"], r.request["scale"])
                          == (["warm pad in A minor"], "A", "minor") for r in before)
