"""MIDI mapping files (instrument.midi.mapping): JSON round trip, bad data and files, factory presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instrument.midi import (MAPPING_FORMAT, CcMapping, MidiMapper, MidiMappingError, factory_mapping_dir,
                            load_mapping_file, save_mapping_file)
from instrument.parameters import ParameterStore


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
