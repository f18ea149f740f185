"""Takes from the command line, as a user meets them: a disk that fills mid-take, a folder that cannot hold
takes, a take whose `cascade play` was killed with SIGKILL (subprocesses, debug model, real tmpfs mounts)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import soundfile

from tests.takes_support import processes_in_session, tmpfs, wait_for_file_bytes

ENV = os.environ | {"OMP_NUM_THREADS": "1"}
PLAY = ("play", "--headless", "--debug-model", "--output", "none", "--threads", "1")


def cascade(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def summary_of(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_a_disk_that_fills_mid_take_is_reported_and_the_take_tells_the_truth(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "1m") as full:
        played = cascade(*PLAY, "--seconds", "7", "--status-every", "0.5", "--record", str(full))
        stopped_lines = [line for line in played.stderr.splitlines()  # the line that tells, at once
                         if line.startswith("RECORDING STOPPED: disk full; the take keeps")]
        assert played.returncode == 3, played.stderr  # the take failed: not a silent success
        assert len(stopped_lines) == 1 and "Traceback" not in played.stderr
        summary = summary_of(played)
        sidecar_path = Path(summary["take"])
        frames = soundfile.info(sidecar_path.with_suffix(".flac")).frames  # libsndfile reads it: finalised
        assert summary["take_state"] == "disk_full" and summary["take_error"] == "disk full"
        assert summary["take_frames"] == frames and abs(summary["take_seconds"] - frames / 44100) < 0.001
        assert 0.5 < frames / 44100 < 6.0
        sidecar = json.loads(sidecar_path.read_text())
        assert sidecar["state"] == "disk_full" and sidecar["frames"] == frames and sidecar["error"] == "disk full"
        assert not [p.name for p in full.iterdir() if p.suffix in (".tmp", ".reserve")]
        # The engine kept playing after the take stopped: status lines go on, chunks still counting.
        after = played.stderr.split(stopped_lines[0], 1)[1]
        chunk_counts = [int(line.split("chunks ")[1].split()[0]) for line in after.splitlines() if "chunks " in line]
        assert len(chunk_counts) >= 2 and chunk_counts[-1] > chunk_counts[0], played.stderr
        assert summary["engine"]["errors"] == 0

        # Re-rendering it beside itself: no room, said before the render, no file left.
        refused = cascade("rerender", str(sidecar_path), "--steps", "2", "--debug-model", "--threads", "1",
                          "--no-progress")
        assert refused.returncode == 2 and "no room for" in refused.stderr and "Traceback" not in refused.stderr
        assert not list(full.glob("*steps.flac"))
        # Elsewhere it renders the take's full length.
        out = tmp_path / "rerendered.flac"
        rendered = cascade("rerender", str(sidecar_path), "--steps", "2", "-o", str(out), "--debug-model",
                           "--threads", "1", "--no-progress")
        assert rendered.returncode == 0, rendered.stderr
        assert soundfile.info(out).frames == frames


def test_an_unwritable_record_folder_is_one_clear_error_and_nothing_runs(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as read_only:
        for folder, words in ((a_file, "it is a file, not a folder"), (read_only, "read-only file system"),
                              (read_only / "sub", "read-only file system")):
            # The default output (JACK or a device when there is one: the output child it would spawn must not
            # be left behind), in a session of its own so whatever it leaves running can be found.
            process = subprocess.Popen([sys.executable, "-m", "instrument.cli", "play", "--headless", "--debug-model",
                                        "--threads", "1", "--seconds", "5", "--record", str(folder)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                                       start_new_session=True)
            out, err = process.communicate(timeout=60)
            assert process.returncode == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err
            assert "Traceback" not in err and out == ""
            assert "playing on" not in err, "refused before anything plays"
            time.sleep(0.3)
            assert processes_in_session(process.pid) == []


def test_a_killed_take_is_repaired_at_the_next_start_and_by_cascade_takes(tmp_path: Path) -> None:
    takes = tmp_path / "takes"
    process = subprocess.Popen([sys.executable, "-m", "instrument.cli", *PLAY, "--seconds", "120", "--quiet",
                                "--record", str(takes)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=ENV, start_new_session=True)
    try:
        assert wait_for_file_bytes(next_flac(takes), 300_000), "the take did not grow"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the whole session: no cleanup at all
        process.wait()
    [flac] = list(takes.glob("*.flac"))
    assert json.loads(flac.with_suffix(".json").read_text())["state"] == "recording"
    listed = cascade("takes", "list", str(takes))
    assert listed.returncode == 0 and "crashed" in listed.stdout and flac.stem in listed.stdout
    copy = tmp_path / "copy"
    shutil.copytree(takes, copy)

    # `cascade takes repair DIR`
    repaired = cascade("takes", "repair", str(copy))
    assert repaired.returncode == 0 and f"{flac.stem}: repaired" in repaired.stdout, repaired.stdout
    sidecar = json.loads((copy / f"{flac.stem}.json").read_text())
    assert sidecar["state"] == "repaired" and sidecar["repair"]["previous_state"] == "recording"
    assert soundfile.info(copy / flac.name).frames == sidecar["frames"] > 44100
    again = cascade("takes", "repair", str(copy))
    assert again.returncode == 0 and "nothing to repair" in again.stdout
    table = cascade("takes", "list", str(copy)).stdout.splitlines()
    assert table[0].split() == ["name", "state", "seconds", "prompt"] and table[1].split()[1] == "repaired"

    # `cascade play --record DIR` repairs it at start and says so in one line.
    played = cascade(*PLAY, "--seconds", "1", "--quiet", "--record", str(takes))
    assert played.returncode == 0, played.stderr
    lines = [line for line in played.stderr.splitlines() if line.startswith("repaired 1 take left by a crash")]
    assert len(lines) == 1 and flac.stem in lines[0]
    sidecar = json.loads(flac.with_suffix(".json").read_text())
    assert sidecar["state"] == "repaired" and soundfile.info(flac).frames == sidecar["frames"]
    assert not list(takes.glob(".*.reserve"))


def next_flac(folder: Path) -> Path:
    """The take's FLAC once `cascade play` created it (it names it from the clock)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(folder.glob("*.flac")) if folder.is_dir() else []
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no take appeared in {folder}")
