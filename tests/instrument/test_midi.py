"""MIDI input: mapping, learn, note triggers, clock, robustness; real virtual JACK MIDI ports (no mocks)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from instrument.midi import (
    MAPPING_FORMAT,
    CcMapping,
    MidiClock,
    MidiError,
    MidiInput,
    MidiMapper,
    MidiMappingError,
    factory_mapping_dir,
    list_midi_inputs,
    load_mapping_file,
    open_midi_input,
    save_mapping_file,
)
from instrument.parameters import ParameterStore
from tests.helpers import wait_for

CC0 = 0xB0  # control change, channel 1




# --- pure unit tests ----------------------------------------------------------------------------------


def test_cc_maps_onto_full_range_and_custom_range() -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(None, 21, "cfg_scale"), CcMapping(0, 22, "tempo_bpm", 60.0, 180.0)])
    mapper.handle([CC0, 21, 127], 1.0)
    assert store.get("cfg_scale") == 12.0
    mapper.handle([CC0 | 5, 21, 0], 2.0)  # channel None = any channel
    assert store.get("cfg_scale") == 1.0
    mapper.handle([CC0, 22, 127], 3.0)
    assert store.get("tempo_bpm") == 180.0
    mapper.handle([CC0 | 1, 22, 0], 4.0)  # wrong channel: not mapped
    assert store.get("tempo_bpm") == 180.0
    assert mapper.last_change_time("cfg_scale") == 2.0
    assert mapper.last_change_time("variation") is None


def test_log_parameter_follows_its_own_curve_and_curves_invert() -> None:
    store = ParameterStore()
    cutoff = store.spec("fx_filter_cutoff_hz")
    mapper = MidiMapper(store, [CcMapping(None, 1, "fx_filter_cutoff_hz"), CcMapping(None, 2, "variation", invert=True),
                                CcMapping(None, 3, "xy_x", curve="exp"), CcMapping(None, 4, "xy_y", curve="log")])
    mapper.handle([CC0, 1, 64], 0.0)
    # Geometric middle of 20 Hz..20 kHz is ~632 Hz, not the arithmetic ~10 kHz.
    assert store.get("fx_filter_cutoff_hz") == pytest.approx(cutoff.from_normalised(64 / 127))
    assert 500 < store.get("fx_filter_cutoff_hz") < 800
    mapper.handle([CC0, 2, 127], 0.0)
    assert store.get("variation") == 0.0
    mapper.handle([CC0, 3, 64], 0.0)
    mapper.handle([CC0, 4, 64], 0.0)
    assert store.get("xy_x") < 0.3 < 0.7 < store.get("xy_y")  # exp: fine near min; log: fine near max
    for curve in ("exp", "log"):  # endpoints are fixed
        mapping = CcMapping(None, 5, "variation", curve=curve)
        assert mapping.value_for(store.spec("variation"), 0.0) == 0.0
        assert mapping.value_for(store.spec("variation"), 1.0) == 1.0


def test_fourteen_bit_pair() -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(0, 1, "variation", fourteen_bit=True)])
    mapper.handle([CC0, 1, 64], 0.0)
    assert store.get("variation") == pytest.approx(64 / 127)
    mapper.handle([CC0, 33, 0], 0.0)
    assert store.get("variation") == pytest.approx(8192 / 16383)
    # Without fourteen_bit the LSB controller number stays free for other uses.
    plain = MidiMapper(store, [CcMapping(0, 2, "xy_x")])
    plain.handle([CC0, 2, 127], 0.0)
    plain.handle([CC0, 34, 0], 0.0)
    assert store.get("xy_x") == 1.0


def test_malformed_messages_never_raise_and_are_counted() -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(None, 21, "cfg_scale")])
    bad: list[object] = [[], [CC0], [CC0, 21], [21, 64], [64], [CC0, 21, 200], [CC0, 21, 64, 1], [0xF0, 1, 2, 3],
                         [0xF7], [0xFE], [0xF8], [0xD0, 40], [0xE0, 0, 64], [0xC0, 3], [0x90, 60], [0x80, 60, 0],
                         [CC0, 123, 0], [256, 1, 2], [-1], [CC0, "a", 3], [CC0, 21, None], None, "garbage",
                         [CC0, 21.5, 3], (CC0, 21), b"\xb0\x15", [True, 21, 3], [0xF2, 1, 2], [0xFF]]
    for message in bad:
        mapper.handle(message, 0.0)  # type: ignore[arg-type]
    assert store.get("cfg_scale") == 4.0
    assert mapper.ignored_count == len(bad)
    reasons = mapper.ignored_by_reason()
    assert reasons["stray_data"] >= 2 and reasons["malformed"] >= 5 and reasons["sysex"] == 2
    mapper.handle([CC0, 21, 127], 0.0)
    assert store.get("cfg_scale") == 12.0
    clock = MidiClock(store)
    for message in bad:
        clock.handle(message, 0.0)  # type: ignore[arg-type]
    assert clock.tempo_bpm is None


def test_learn_binds_next_cc_and_notifies() -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(None, 21, "variation")])
    learned: list[CcMapping] = []
    mapper.add_learn_listener(learned.append)
    with pytest.raises(MidiMappingError, match="did you mean"):
        mapper.arm_learn("variaton")
    mapper.arm_learn("variation")
    assert mapper.learning == "variation"
    mapper.handle([0xE0, 0, 64], 0.0)  # pitch bend does not consume the learn
    mapper.handle([CC0 | 2, 30, 127], 5.0)
    assert mapper.learning is None
    assert learned == [CcMapping(2, 30, "variation")]
    assert store.get("variation") == 1.0  # the learning move applies at once
    assert [m.control for m in mapper.mappings if m.parameter == "variation"] == [30]  # old knob released
    mapper.handle([CC0 | 2, 30, 0], 6.0)
    assert store.get("variation") == 0.0


def test_note_triggers_select_prompt_slots() -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, note_triggers={36: 0, 38: 2})
    mapper.handle([0x90, 38, 100], 0.0)
    assert [store.get(f"prompt_{i}_weight") for i in range(1, 5)] == [0.0, 0.0, 1.0, 0.0]
    mapper.handle([0x80, 38, 0], 0.0)  # note-off: latches
    mapper.handle([0x90, 40, 100], 0.0)  # unmapped note
    assert store.get("prompt_3_weight") == 1.0
    mapper.velocity_sensitive = True
    mapper.handle([0x90, 36, 64], 0.0)
    assert [store.get(f"prompt_{i}_weight") for i in range(1, 5)] == [pytest.approx(64 / 127), 0.0, 0.0, 0.0]


def test_mapping_json_round_trip(tmp_path: Path) -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(3, 21, "cfg_scale", 2.0, 8.0, "exp", True),
                                CcMapping(None, 1, "variation", fourteen_bit=True)],
                        note_triggers={36: 0, 37: 3}, velocity_sensitive=True)
    data = mapper.mappings_to_json("mine")
    assert data["mappings"][0]["midi_channel"] == 4  # 1-based in files
    path = tmp_path / "m.json"
    save_mapping_file(path, data)
    other = MidiMapper(store)
    assert other.load_mappings(load_mapping_file(path), str(path)) == []
    assert other.mappings == mapper.mappings
    assert other.note_triggers == {36: 0, 37: 3} and other.velocity_sensitive
    assert other.mappings_to_json("mine") == json.loads(json.dumps(data))


def _file(**overrides: object) -> dict:
    data: dict = {"format": MAPPING_FORMAT, "version": 1, "name": "t",
                  "mappings": [{"midi_channel": None, "control": 21, "parameter": "cfg_scale"}]}
    data.update(overrides)
    return data


@pytest.mark.parametrize("data, match", [
    ([1, 2], "expected a JSON object"),
    (_file(format="cascade-preset"), "format"),
    (_file(version=99), "version"),
    (_file(mappings={"a": 1}), "must be a list"),
    (_file(mappings=[5]), r"mappings\[0\].*object"),
    (_file(mappings=[{"control": 21}]), "missing 'parameter'"),
    (_file(mappings=[{"control": 200, "parameter": "cfg_scale"}]), "control"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "midi_channel": 0}]), "midi_channel"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "curve": "cubic"}]), "curve"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "minimum": "low"}]), "minimum"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "minimum": float("nan")}]), "minimum"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "invert": "yes"}]), "invert"),
    (_file(mappings=[{"control": 1, "parameter": "cfg_scale", "colour": "red"}]), "unknown keys"),
    (_file(note_triggers={"36": 4}), "note_triggers"),
    (_file(note_triggers={"C3": 0}), "note number"),
    (_file(velocity_sensitive=1), "velocity_sensitive"),
])
def test_bad_mapping_data_is_rejected_without_changes(data: object, match: str) -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, [CcMapping(None, 9, "variation")])
    with pytest.raises(MidiMappingError, match=match):
        mapper.load_mappings(data, "bad.json")
    assert mapper.mappings == (CcMapping(None, 9, "variation"),)


def test_unknown_parameters_are_dropped_with_a_warning() -> None:
    mapper = MidiMapper(ParameterStore())
    warnings = mapper.load_mappings(_file(mappings=[{"control": 1, "parameter": "wobble"},
                                                    {"control": 2, "parameter": "xy_x"}]))
    assert len(warnings) == 1 and "wobble" in warnings[0]
    assert [m.parameter for m in mapper.mappings] == ["xy_x"]


def test_bad_mapping_files(tmp_path: Path) -> None:
    for name, content in {"broken.json": b"{not json", "binary.json": b"\xff\xfe\x00",
                          "huge.json": b" " * 300_000}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(MidiMappingError, match=name):
            load_mapping_file(tmp_path / name)
    with pytest.raises(MidiMappingError, match="missing.json"):
        load_mapping_file(tmp_path / "missing.json")


def test_factory_controller_presets_load() -> None:
    files = sorted(factory_mapping_dir().glob("*.json"))
    assert {p.name for p in files} >= {"generic-8-knobs.json", "korg-nanokontrol2.json", "akai-mpk-mini.json"}
    for path in files:
        mapper = MidiMapper(ParameterStore())
        assert mapper.load_mappings(load_mapping_file(path), str(path)) == [], path
        assert len(mapper.mappings) >= 8
    nano = MidiMapper(ParameterStore())
    nano.load_mappings(load_mapping_file(factory_mapping_dir() / "korg-nanokontrol2.json"))
    assert sorted(m.control for m in nano.mappings) == [*range(8), *range(16, 24)]


def test_clock_with_synthetic_jittered_timestamps() -> None:
    store = ParameterStore()
    clock = MidiClock(store)
    rng = random.Random(1)
    period_s = 0.0116  # JACK-like quantisation of each tick onto a period boundary
    clock.handle([0xFA], 0.0)
    for i in range(96):
        t = i * 60.0 / (97.3 * 24)
        clock.handle([0xF8], t - (t % period_s) + rng.uniform(0, 0.002))
    assert clock.tempo_bpm == pytest.approx(97.3, abs=1.0)
    assert store.get("tempo_bpm") == pytest.approx(97.3, abs=1.0)
    assert clock.running and clock.position_ticks == 95
    assert clock.beat_phase == pytest.approx(23 / 24) and clock.bar_phase == pytest.approx(95 / 96)


def test_clock_phase_anchor_averages_late_arrivals() -> None:
    """Ticks on time on the wire, arriving 4-16 ms late (a JACK period, a busy poll): the phase anchor is
    the fitted arrival of the latest tick, within a millisecond of its mean lateness, not one tick's."""
    clock = MidiClock()
    rng = random.Random(3)
    period_s = 60.0 / (120.0 * 24)
    assert clock.phase_anchor() is None
    clock.handle([0xFA], 0.99)
    for i in range(96):
        wire_s = 1.0 + i * period_s
        clock.handle([0xF8], wire_s, arrival_s=wire_s + 0.004 + rng.uniform(0.0, 0.0116))
    time_s, beats, beats_per_second = clock.phase_anchor()
    assert beats == pytest.approx(95 / 24) and beats_per_second == pytest.approx(2.0, rel=1e-6)
    assert time_s == pytest.approx(1.0 + 95 * period_s + 0.004 + 0.0058, abs=0.001)
    # A known transport delay (the MIDI latency offset): the sender's beat was that much earlier.
    clock.latency_offset_s = 0.0065
    assert clock.phase_anchor()[0] == pytest.approx(time_s - 0.0065, abs=1e-9)
    with pytest.raises(ValueError):
        clock.latency_offset_s = float("nan")
    clock.handle([0xFC], 3.0)
    assert clock.phase_anchor() is None, "stopped: no phase"
    clock.handle([0xFB], 3.1)
    assert clock.phase_anchor() is None, "continued: no phase until the next tick"


def test_clock_display_state() -> None:
    clock = MidiClock()
    assert clock.display_state(0.0) is None  # no clock message yet: nothing to show
    clock.handle([0xFA], 1.0)
    state = clock.display_state(1.0)
    assert state is not None and state.running and state.tempo_bpm is None and state.silent_s is None
    assert (state.bar, state.beat) == (1, 1)
    for i in range(24 * 6 + 1):  # positions 0..144 at 100 BPM: 6 beats = bar 2, beat 3
        clock.handle([0xF8], 1.0 + i * 0.025)
    last_s = 1.0 + 144 * 0.025
    state = clock.display_state(last_s + 0.5)
    assert state.tempo_bpm == pytest.approx(100.0, abs=0.01) and (state.bar, state.beat) == (2, 3)
    assert state.silent_s == pytest.approx(0.5)
    clock.handle([0xFC], last_s + 1.0)
    state = clock.display_state(last_s + 1.0)
    assert not state.running and (state.bar, state.beat) == (2, 3)


def test_clock_transport_and_song_position() -> None:
    clock = MidiClock()
    assert clock.tempo_bpm is None and not clock.running
    for i in range(10):
        clock.handle([0xF8], i * 0.02)  # ticks while stopped: no position change
    assert clock.position_ticks == 0
    clock.handle([0xFA], 0.2)
    clock.handle([0xF8], 0.22)  # the first tick after start is beat 0
    assert clock.position_ticks == 0 and clock.running
    for i in range(30):
        clock.handle([0xF8], 0.24 + i * 0.02)
    assert clock.position_ticks == 30 and clock.beat_phase == pytest.approx(6 / 24)
    clock.handle([0xFC], 1.0)
    clock.handle([0xF8], 1.02)
    assert not clock.running and clock.position_ticks == 30
    clock.handle([0xF2, 8, 0], 1.04)  # song position: 8 sixteenths = 2 beats
    clock.handle([0xFB], 1.06)
    clock.handle([0xF8], 1.08)
    assert clock.running and clock.position_ticks == 48 and clock.bar_phase == pytest.approx(0.5)
    clock.handle([0xF8], 1.10)
    assert clock.position_ticks == 49


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
