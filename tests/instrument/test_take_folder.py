"""A folder of takes after a crash: a SIGKILLed take is recognised (not confused with one recording now),
repaired in place (readable by libsndfile, its sidecar says it was repaired), and listed truthfully."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import soundfile

from instrument.take_folder import format_table, list_folder, needs_repair, read_sidecar, repair_folder
from instrument.takes import TakeWriter
from tests.takes_support import crashed_take, tone


def test_a_crashed_take_is_repaired_and_says_so(tmp_path: Path) -> None:
    sidecar = crashed_take(tmp_path, "crash", seconds=3.0)
    assert (tmp_path / ".crash.reserve").exists()  # the kill left the reserve too
    [info] = list_folder(tmp_path)
    assert info.state.startswith("crashed") and info.seconds is None and info.prompt == "a test tone"
    results = repair_folder(tmp_path)
    assert [r.state for r in results] == ["repaired"] and results[0].error is None
    data, rate = soundfile.read(tmp_path / "crash.flac")  # libsndfile reads it now
    assert rate == 44100 and len(data) == results[0].frames >= 44100 * 2.5
    repaired = read_sidecar(sidecar)
    assert repaired["state"] == "repaired" and repaired["frames"] == len(data)
    assert repaired["repair"]["previous_state"] == "recording" and "crash" in repaired["repair"]["reason"]
    assert repaired["prompts"] == ["a test tone"]  # everything else it said is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.automation.jsonl", "crash.flac", "crash.json"]
    assert repair_folder(tmp_path) == []  # once is enough
    [info] = list_folder(tmp_path)
    assert info.state == "repaired" and abs(info.seconds - len(data) / 44100) < 1e-9


def test_a_take_being_recorded_now_is_left_alone(tmp_path: Path) -> None:
    live = TakeWriter(tmp_path, name="live")
    live.start()
    live.write(tone(0.5))
    try:
        assert not needs_repair(live.sidecar_path, read_sidecar(live.sidecar_path))
        assert repair_folder(tmp_path) == []
        assert [i.state for i in list_folder(tmp_path)] == ["recording"]
    finally:
        assert live.close().state == "complete"


def test_the_table_lists_name_state_seconds_and_prompt(tmp_path: Path) -> None:
    take = TakeWriter(tmp_path, name="one", metadata={"prompts": ["warm pads", "rain"]})
    take.start()
    take.write(tone(1.5))
    take.close()
    crashed_take(tmp_path, "two", seconds=2.0)
    (tmp_path / "notes.json").write_text(json.dumps({"not": "a take"}))  # other JSON files are not takes
    table = format_table(list_folder(tmp_path)).splitlines()
    assert table[0].split() == ["name", "state", "seconds", "prompt"] and len(table) == 3
    assert table[1].split()[:3] == ["one", "complete", "1.50"] and table[1].endswith("warm pads | rain")
    assert table[2].split()[:2] == ["two", "crashed"]


def test_an_unfinalised_disk_full_take_from_before_is_repaired(tmp_path: Path) -> None:
    """A take an older version stopped on a full disk: "stopped: disk full" and a FLAC never finalised."""
    crashed_take(tmp_path, "old", seconds=2.0)
    data = read_sidecar(tmp_path / "old.json")
    data["state"] = "stopped: disk full"
    (tmp_path / "old.json").write_text(json.dumps(data))
    shutil.copy(tmp_path / "old.json", tmp_path / "old.tmp")  # the 0-byte .tmp of the issue, or any leftover
    [result] = repair_folder(tmp_path)
    assert result.state == "repaired" and result.previous_state == "stopped: disk full"
    assert soundfile.info(tmp_path / "old.flac").frames == result.frames
    assert not (tmp_path / "old.tmp").exists()
