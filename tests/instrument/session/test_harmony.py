"""The held chord as the live harmony target (instrument/session/harmony.py): the follower's timeline on its own
(bar or beat, latch or release, the chunk window's rows), and a live session on the debug models with a real
virtual JACK MIDI port: with a harmony model the held chord reaches the requests' chroma from the next bar line
on and not before; with a model without the control nothing is sent."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.debug_models import debug_generator
from engine.harmony import key_chroma, scale_profile
from engine.stream import EngineConfig, StreamGeometry
from instrument.midi import HeldChange, HeldNotes, open_midi_input
from instrument.midi.held_notes import held_chord
from instrument.parameters import ParameterStore
from instrument.session import LiveSession
from instrument.session.harmony import HarmonyFollower
from tests.helpers import wait_for

RATE = 44100
HOP = 1024
ON, OFF = 0x90, 0x80
A_MINOR = (57, 60, 64)
BAR = 2 * RATE  # samples: 4 beats at 120 BPM


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/instrument/session/conftest.py


def follower_at(store: ParameterStore, heard_sample: list[float]) -> HarmonyFollower:
    """A follower on the model's own beat clock whose heard sample is `heard_sample[0]`."""
    return HarmonyFollower(store, HeldNotes(), lambda _s: heard_sample[0], lambda: None, sample_rate=RATE,
                           hop_frames=HOP)


def press(follower: HarmonyFollower, notes: dict[int, int]) -> None:
    follower.on_held(HeldChange(held_chord(notes), pressed=True, arrival_s=0.0))


def test_a_chord_lands_on_the_next_bar_or_beat_and_the_window_switches_there() -> None:
    store = ParameterStore()
    store.set("tempo_bpm", 120.0)  # a beat is 22050 samples, a bar 88200
    heard = [100_000.0]  # in bar 2 (88200..176400), between beats 4 and 5
    follower = follower_at(store, heard)
    assert follower.harmony_for(store.snapshot(), 0, 64) is None, "no chord played: nothing sent"
    press(follower, {57: 127, 60: 127, 64: 127})
    change = follower.harmony_change()
    assert change is not None and change.from_sample == 176_400 and follower.harmony_change() is None
    start_frame = 170_000 // HOP  # a window across the bar line
    curve = follower.harmony_for(store.snapshot(), start_frame, 32)
    rows_before = (start_frame + np.arange(32)) * HOP < 176_400
    # before it, what the key gives by default: C major's chords a bar at a time, here bar 1's Am (I vi IV V)
    key = key_chroma("C", "major", 32, "progression", tempo_bpm=120.0, start_frame=start_frame)
    assert np.allclose(curve.chroma[rows_before], key.chroma[rows_before]) and curve.mask.min() == 1.0
    assert set(np.flatnonzero(curve.chroma[0] == 1.0)) == {9, 0, 4}
    assert follower.display().key.name == "Am"
    store.set("key_harmony", 1.0)  # the scale profile instead
    profile = scale_profile("C", "major")
    assert np.allclose(follower.harmony_for(store.snapshot(), start_frame, 32).chroma[rows_before], profile)
    assert follower.display().key.name == "C major"
    store.set("key_harmony", 0.0)
    am = np.asarray(held_chord({57: 127, 60: 127, 64: 127}).chroma, np.float32)
    assert np.allclose(curve.chroma[~rows_before], am) and rows_before.sum() in range(1, 31)
    shown = follower.display()
    assert shown.current is None and shown.pending.name == "Am" and shown.pending_beats == pytest.approx((176_400 - 100_000) / 22_050)
    # Next beat instead of next bar: F lands on beat 5 (110250), replacing the Am still waiting.
    store.set("harmony_quantise", 1.0)
    press(follower, {53: 100, 57: 100, 60: 100})
    change = follower.harmony_change()
    assert change.from_sample == 110_250, "the waiting Am is gone from its bar line on too"
    heard[0] = 120_000.0
    shown = follower.display()
    assert shown.current.name == "F" and shown.pending is None


def test_release_latches_or_falls_back_to_what_the_key_gives_or_frees_the_harmony() -> None:
    store = ParameterStore()
    heard = [0.0]
    follower = follower_at(store, heard)
    press(follower, {60: 100, 64: 100, 67: 100})
    follower.harmony_change()
    heard[0] = 100_000.0
    let_go = HeldChange(held_chord({}), pressed=False, arrival_s=0.0)
    follower.on_held(HeldChange(held_chord({60: 100}), pressed=False, arrival_s=0.0))  # some keys let go
    follower.on_held(let_go)
    assert follower.harmony_change() is None, "latch: the chord played stays"
    store.set("harmony_release", 1.0)  # key
    follower.on_held(let_go)
    assert follower.harmony_change().from_sample == 176_400
    window = follower.harmony_for(store.snapshot(), 176_400 // HOP + 1, 8)
    key = key_chroma("C", "major", 8, "progression", tempo_bpm=120.0, start_frame=176_400 // HOP + 1)
    assert np.allclose(window.chroma, key.chroma) and window.mask.min() == 1.0
    assert set(np.flatnonzero(window.chroma[0] == 1.0)) == {5, 9, 0}  # bar 2 of I vi IV V: F
    store.set("key_harmony", 3.0)  # the key gives nothing: falling back to it frees the harmony
    window = follower.harmony_for(store.snapshot(), 176_400 // HOP + 1, 8)
    assert window.mask.max() == 0.0 and follower.display().key is None
    store.set("key_harmony", 0.0)
    store.set("harmony_release", 2.0)  # free
    follower.on_held(let_go)
    assert follower.harmony_change().from_sample == 176_400, "replaces the key fallback still waiting"
    window = follower.harmony_for(store.snapshot(), 176_400 // HOP + 1, 8)
    assert window.chroma.max() == 0.0 and window.mask.max() == 0.0
    store.set("harmony_follow", 0.0)
    assert follower.harmony_for(store.snapshot(), 0, 8) is None, "following switched off: nothing sent"
    press(follower, {62: 100, 65: 100, 69: 100})
    assert follower.harmony_change() is None


# --- a live session over a real virtual MIDI port ---------------------------------------------------------------


def live_session(harmony: bool, held: HeldNotes) -> tuple[LiveSession, ParameterStore]:
    store = ParameterStore()
    store.set_prompt_text(0, "warm analog pad")
    store.set("steps", 2)
    store.set("tempo_bpm", 120.0)  # a bar is 2 s
    # Three chunks queued ahead and a small rollback guard: a bar line ~1 s ahead is queued audio the engine can
    # still regenerate (the debug model's first chunk makes the default guard over a second).
    config = EngineConfig(geometry=StreamGeometry(32, 12, 4), lead_chunks=3.0, guard_factor=0.3)
    live = LiveSession(debug_generator(0, harmony=harmony), store, output="none", held_notes=held,
                       engine_config=config)
    return live, store


def chroma_at(record: object, sample: int) -> np.ndarray | None:
    request = record.request
    if request.get("chroma") is None:
        return None
    row = -(-sample // HOP) - request["chroma_start_frame"]  # the first frame centred at or after `sample`
    return np.asarray(request["chroma"][row], np.float32)


def test_a_held_chord_reaches_the_requests_from_the_next_bar_line(virtual_out: object) -> None:
    held = HeldNotes()
    live, store = live_session(True, held)
    midi = open_midi_input("Ctl:knobs", held_notes=held)
    live.start()
    try:
        assert wait_for(lambda: live.first_sound_played, timeout_s=10)
        # Press about a second before a bar line: in audio already queued, so the engine must regenerate it.
        assert wait_for(lambda: 0.45 < live.stream_sample_at(time.monotonic()) % BAR / BAR < 0.55, timeout_s=5)
        press_s = time.monotonic()
        heard_at_press = live.stream_sample_at(press_s)
        for note in A_MINOR:
            virtual_out.send_message([ON, note, 100])
        assert wait_for(lambda: live.harmony.display().pending is not None or live.harmony.display().current)
        records_before = len(live.engine.records)
        landing = live.harmony._segments[-1][0]
        assert wait_for(lambda: live.queue.read_position > landing + RATE // 2, timeout_s=10)
        records = list(live.engine.records)
        status = live.status()
    finally:
        live.stop()
        midi.close()
    assert landing % BAR in (0, 1, BAR - 1), "a bar line of the model's beat clock"
    assert heard_at_press < landing <= heard_at_press + BAR // 2 + RATE // 10, "the next bar line, not a later one"
    chunks = [r for r in records if r.kind == "chunk"]
    am = np.asarray(held_chord({n: 100 for n in A_MINOR}).chroma, np.float32)
    assert all(chroma_at(r, 0) is None for r in chunks[:records_before // 2]), "no chord yet: nothing sent"
    sent = [r for r in chunks if r.request.get("chroma") is not None]
    assert sent, "the chord reached the engine"
    tempo_bpm = float(store.get("tempo_bpm"))

    def key_row(frame: int) -> np.ndarray:  # what the key gives by default at a frame: C major's bar chord
        return key_chroma("C", "major", 1, "progression", tempo_bpm=tempo_bpm, start_frame=frame).chroma[0]

    for record in sent:  # every window: what the key gives before the bar line, the chord from it on
        start = record.request["chroma_start_frame"]
        for row, values in enumerate(record.request["chroma"]):
            expected = am if (start + row) * HOP >= landing else key_row(start + row)
            assert np.allclose(values, expected, atol=1e-6), (record.index, row)
    owner = [r for r in chunks if r.sample <= landing][-1]  # the chunk whose audio plays at the bar line
    assert owner.rollback and owner.index >= records_before - 1, "queued audio was regenerated for the chord"
    assert np.allclose(chroma_at(owner, landing), am), "what is heard from the bar line on was asked for Am"
    assert np.allclose(chroma_at(owner, landing - HOP), key_row(-(-(landing - HOP) // HOP))), "and not before it"
    assert status.engine.errors == 0


def test_a_model_without_the_harmony_control_is_sent_nothing(virtual_out: object) -> None:
    held = HeldNotes()
    live, store = live_session(False, held)
    midi = open_midi_input("Ctl:knobs", held_notes=held)
    live.start()
    try:
        assert live.harmony is None
        assert wait_for(lambda: live.first_sound_played, timeout_s=10)
        for note in A_MINOR:
            virtual_out.send_message([ON, note, 100])
        assert wait_for(lambda: held.chord().name == "Am")
        count = len(live.engine.records)
        assert wait_for(lambda: len(live.engine.records) > count + 3, timeout_s=10)
        records = list(live.engine.records)
        status = live.status()
    finally:
        live.stop()
        midi.close()
    assert all(r.request is None or r.request.get("chroma") is None for r in records)
    assert status.engine.errors == 0 and status.engine.last_error is None
