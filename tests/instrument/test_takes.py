"""Takes: incremental 24-bit FLAC + automation log; finalised and truthful after a full disk, repairable after a
hard kill, refused up front by a folder that cannot hold them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from instrument.flac_finalise import finalise_flac, flac_total_samples, scan_flac
from instrument.takes import (DISK_FULL, AutomationEvent, RecordFolderError, TakeStatus, TakeWriter,
                              check_record_folder, read_take_audio)
from tests.takes_support import crashed_take, tmpfs, tone


def test_take_round_trip_with_automation(tmp_path: Path) -> None:
    writer = TakeWriter(tmp_path, name="t1", metadata={"model": "debug", "seed": 7})
    writer.start()
    audio = tone(2.0)
    for start in range(0, len(audio), 1024):
        writer.write(audio[start:start + 1024])
    writer.log(AutomationEvent(22050, "cfg_scale", 6.5, "midi"))
    status = writer.close()
    assert status.error is None and status.frames_written == len(audio) and status.state == "complete"
    data, rate = soundfile.read(tmp_path / "t1.flac", dtype="float32")
    info = soundfile.info(tmp_path / "t1.flac")
    assert rate == 44100 and info.subtype == "PCM_24" and data.shape == audio.shape
    np.testing.assert_allclose(data, audio, atol=1e-6)
    sidecar = json.loads((tmp_path / "t1.json").read_text())
    assert sidecar["state"] == "complete" and sidecar["seed"] == 7 and sidecar["frames"] == len(audio)
    assert sidecar["error"] is None
    events = [json.loads(line) for line in (tmp_path / "t1.automation.jsonl").read_text().splitlines()]
    assert events == [{"frame": 22050, "name": "cfg_scale", "value": 6.5, "source": "midi"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t1.automation.jsonl", "t1.flac", "t1.json"]  # no reserve


def test_take_survives_a_hard_kill(tmp_path: Path) -> None:
    sidecar = crashed_take(tmp_path, "crash", seconds=3.0)
    assert json.loads(sidecar.read_text())["state"] == "recording"
    with pytest.raises(Exception):  # what the issue saw: libsndfile cannot read a length-unknown FLAC
        soundfile.read(tmp_path / "crash.flac")
    audio, rate = read_take_audio(tmp_path / "crash.flac")
    assert rate == 44100 and audio.shape[1] >= 44100 * 2.5, "loses at most the last second"
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0.3
    frames = finalise_flac(tmp_path / "crash.flac")
    repaired, _ = soundfile.read(tmp_path / "crash.flac", dtype="float32")  # now every reader accepts it
    assert len(repaired) == frames == audio.shape[1]
    np.testing.assert_allclose(repaired.T, audio, atol=2e-7)  # the same samples (readers scale 24-bit apart by an LSB)


def test_finalise_cuts_a_partial_last_frame_in_place(tmp_path: Path) -> None:
    """What a full disk leaves: the last frame's write cut short, the length never written."""
    path = tmp_path / "cut.flac"
    soundfile.write(path, np.random.default_rng(1).uniform(-0.5, 0.5, (44100 * 2, 2)).astype(np.float32), 44100,
                    subtype="PCM_24")
    whole = scan_flac(path)
    assert whole.finalised and whole.samples == 88200
    raw = bytearray(path.read_bytes())
    raw[18:26] = (int.from_bytes(raw[18:26], "big") & ~((1 << 36) - 1)).to_bytes(8, "big")  # length: unknown
    path.write_bytes(bytes(raw[:len(raw) - 5000]))  # the last frame (and a bit) cut short
    assert flac_total_samples(path) == 0
    frames = finalise_flac(path)
    assert frames % 4096 == 0 and 88200 - 2 * 4096 <= frames < 88200  # every complete frame, no partial one
    data, _ = soundfile.read(path)
    assert len(data) == frames and scan_flac(path).finalised
    assert finalise_flac(path) == frames  # twice: nothing changes


def test_disk_full_finalises_the_take_and_says_so(tmp_path: Path) -> None:
    """A real 1 MB tmpfs: the take stops at once, the FLAC is readable up to the failure, the sidecar says
    disk_full with the frames really kept, no stray temporary or reserve file, the player is called back."""
    with tmpfs(tmp_path / "small", "1m") as mount:
        told: list[TakeStatus] = []
        told_at = threading.Event()
        writer = TakeWriter(mount, name="full", flush_seconds=0.1,
                            on_stopped=lambda status: (told.append(status), told_at.set()))
        writer.start()
        rng = np.random.default_rng(0)
        for _ in range(120):  # ~12 s of noise: far more than 1 MB of 24-bit FLAC
            writer.write((0.5 * rng.standard_normal((4410, 2))).astype(np.float32))
            writer.log(AutomationEvent(0, "cfg_scale", 5.0))
            time.sleep(0.002)
        assert told_at.wait(10), "the player is told while the take runs, not at close"
        status = writer.close()
        assert told == [status] and status.error == "disk full" and status.state == DISK_FULL
        data, rate = soundfile.read(mount / "full.flac", dtype="float32")  # libsndfile reads it: finalised
        assert rate == 44100 and len(data) == status.frames_written > 44100 * 0.5
        assert np.all(np.isfinite(data)) and np.abs(data).max() > 0.1
        sidecar = json.loads((mount / "full.json").read_text())
        assert sidecar["state"] == "disk_full" and sidecar["frames"] == len(data) and sidecar["error"] == "disk full"
        assert sidecar["seconds"] == pytest.approx(len(data) / 44100, abs=0.001)
        assert sorted(p.name for p in mount.iterdir()) == ["full.automation.jsonl", "full.flac", "full.json"]
        # Recording starts again elsewhere; and there, once there is room again.
        again = TakeWriter(tmp_path / "elsewhere", name="again")
        again.start()
        again.write(tone(0.5))
        assert again.close().state == "complete"
        (mount / "full.flac").unlink()
        there = TakeWriter(mount, name="room-again")
        there.start()
        there.write(tone(0.5))
        assert there.close().state == "complete"


def test_an_unwritable_folder_is_refused_before_anything_starts(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    with pytest.raises(RecordFolderError, match="it is a file, not a folder"):
        check_record_folder(a_file)
    with pytest.raises(RecordFolderError, match="cannot create the record folder"):
        check_record_folder(a_file / "below")
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as read_only:
        with pytest.raises(RecordFolderError, match="read-only file system"):
            check_record_folder(read_only)
        writer = TakeWriter(read_only, name="x")  # what check_record_folder prevents: start() says the same
        with pytest.raises(RecordFolderError, match="read-only file system"):
            writer.start()
    assert check_record_folder(tmp_path / "new" / "takes").is_dir()  # created when missing


def test_a_take_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "64k") as tiny:  # room for less than the reserve
        writer = TakeWriter(tiny, name="nope")
        with pytest.raises(RecordFolderError, match="disk is full"):
            writer.start()
        assert list(tiny.iterdir()) == []


def test_a_second_take_in_the_same_second_does_not_overwrite_the_first(tmp_path: Path) -> None:
    first = TakeWriter(tmp_path, name="same")
    first.start()
    second = TakeWriter(tmp_path, name="same")
    assert second.sidecar_path != first.sidecar_path and second.audio_path.name == "same-2.flac"
    first.close()
