"""MIDI ports and the polling thread (instrument.midi.ports, .polling) over real virtual JACK MIDI ports (no mocks)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from instrument.midi import (CcMapping, MidiClock, MidiError, MidiInput, MidiMapper, list_midi_inputs,
                            open_midi_input)
from instrument.parameters import ParameterStore
from tests.helpers import wait_for

CC0 = 0xB0  # control change, channel 1


# --- real virtual JACK ports --------------------------------------------------------------------------


@pytest.fixture()
def connected(virtual_out: object) -> Iterator[tuple[object, MidiInput, ParameterStore]]:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(None, 21, "cfg_scale")])
    clock = MidiClock(store)
    midi_input = open_midi_input("knobs", mapper=mapper, clock=clock)
    try:
        yield virtual_out, midi_input, store
    finally:
        midi_input.close()


def test_list_and_open_errors(virtual_out: object) -> None:
    assert "Ctl:knobs" in list_midi_inputs()
    with pytest.raises(MidiError, match="Ctl:knobs"):
        open_midi_input("no-such-device")
    with pytest.raises(MidiError, match="available"):
        open_midi_input(999)


def test_cc_over_jack_moves_parameter_and_records_arrival(connected: tuple) -> None:
    out, midi_input, store = connected
    before_s = time.monotonic()
    out.send_message([CC0, 21, 127])
    assert wait_for(lambda: store.get("cfg_scale") == 12.0)
    arrival_s = midi_input.last_change_time("cfg_scale")
    assert arrival_s is not None and before_s <= arrival_s <= time.monotonic()
    assert midi_input.alive and not midi_input.lost


def test_learn_over_jack(connected: tuple) -> None:
    out, midi_input, store = connected
    learned: list[CcMapping] = []
    midi_input.mapper.add_learn_listener(learned.append)
    midi_input.mapper.arm_learn("xy_y")
    out.send_message([CC0 | 3, 40, 127])
    assert wait_for(lambda: store.get("xy_y") == 1.0)
    assert learned == [CcMapping(3, 40, "xy_y")]
    out.send_message([CC0 | 3, 40, 0])
    assert wait_for(lambda: store.get("xy_y") == 0.0)


def _send_clock(out: object, bpm: float, beats: float) -> None:
    interval_s = 60.0 / (bpm * 24)
    start_s = time.monotonic()
    for i in range(int(beats * 24) + 1):  # absolute deadlines: sleep overshoot does not accumulate
        delay_s = start_s + i * interval_s - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        out.send_message([0xF8])


@pytest.mark.parametrize("bpm", [120.0, 97.3])
def test_clock_over_jack_sets_tempo(connected: tuple, bpm: float) -> None:
    out, midi_input, store = connected
    out.send_message([0xFA])
    _send_clock(out, bpm, 2.0)
    clock = midi_input.clock
    assert wait_for(lambda: clock.tick_count >= 49)
    assert clock.tempo_bpm == pytest.approx(bpm, abs=2.0)
    assert store.get("tempo_bpm") == pytest.approx(bpm, abs=2.0)
    assert clock.running and clock.position_ticks == 48 and clock.bar_phase == pytest.approx(0.5)
    out.send_message([0xFC])
    assert wait_for(lambda: not clock.running)
    out.send_message([0xFB])
    assert wait_for(lambda: clock.running)


def test_flood_of_sysex_and_garbage_then_cc_still_works(connected: tuple) -> None:
    out, midi_input, store = connected
    rng = random.Random(7)
    for i in range(2000):
        if i % 2:
            out.send_message([0xF0, 0x7E, *[rng.randrange(128) for _ in range(rng.randrange(1, 200))], 0xF7])
        else:
            out.send_message(rng.choice([[0xFE], [0xD0, 5], [0xE0, 1, 64], [0xC0, 2], [0x90, 60, 0], [0xF6],
                                         [CC0, 124, 0], [0xB5, 99, 1]]))
    out.send_message([CC0, 21, 0])
    assert wait_for(lambda: store.get("cfg_scale") == 1.0, timeout_s=3.0)
    assert midi_input.alive and not midi_input.lost
    assert midi_input.mapper.ignored_count > 0


def test_port_disappearing_sets_lost_and_reopens(jack_server: object) -> None:
    import rtmidi

    store = ParameterStore()
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Gone")
    out.open_virtual_port("knobs")
    midi_input = open_midi_input("Gone:knobs", mapper=MidiMapper(store, [CcMapping(None, 21, "variation")]))
    try:
        out.close_port()  # the device is unplugged
        out.delete()
        assert wait_for(lambda: midi_input.lost, timeout_s=2.0)
        assert midi_input.alive
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Gone")  # and plugged back in
        out.open_virtual_port("knobs")
        assert wait_for(lambda: not midi_input.lost, timeout_s=2.0)
        out.send_message([CC0, 21, 127])
        assert wait_for(lambda: store.get("variation") == 1.0)
    finally:
        midi_input.close()
        out.delete()
    midi_input.close()  # idempotent
    assert not midi_input.alive
