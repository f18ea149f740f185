"""The MIDI mapper (instrument.midi.mapper): CC mapping, 14-bit pairs, malformed input, learn, note triggers."""

from __future__ import annotations

import pytest

from instrument.midi import CcMapping, MidiClock, MidiMapper, MidiMappingError
from instrument.parameters import ParameterStore

CC0 = 0xB0  # control change, channel 1


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
