"""Probe cases, takes (issue 17, "a take is never lost, and never lies"): the real `cascade` command as a user
types it, on a real 2 MB tmpfs that fills mid-take, a path that is a file, a read-only mount, and a take whose
`cascade play` was killed with SIGKILL. Mounting a tmpfs needs root."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.probe.case import Case, Outcome

CASCADE = str(Path(sys.executable).with_name("cascade"))
_mounts: list[Path] = []


@functools.cache
def work() -> Path:
    """This run's scratch folder, made when a case first runs (importing the module leaves nothing behind)."""
    folder = Path(tempfile.mkdtemp(prefix="cascade-probe-takes-"))
    atexit.register(_clean_up, folder)
    return folder


def _clean_up(folder: Path) -> None:
    for mount in reversed(_mounts):
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def cascade(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASCADE, *args], capture_output=True, text=True, timeout=timeout_s)


def mount_tmpfs(name: str, options: str) -> Path:
    mount = work() / name
    mount.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs (root needed): {result.stderr.strip()}")
    _mounts.append(mount)
    return mount


def summary_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{"):]) if "{" in stdout else {}


def flac_frames(path: Path) -> int | None:
    import soundfile

    try:
        return soundfile.info(str(path)).frames
    except Exception:  # noqa: BLE001 - unreadable is what the case reports
        return None


@functools.cache
def full_disk_take() -> tuple[subprocess.CompletedProcess[str], Path]:
    """The issue's repro, once: `cascade play --headless --seconds 12 --output none --record DIR` on 2 MB, with
    6 s more to see it play on after the disk filled (at ~11 s)."""
    full = mount_tmpfs("full", "size=2m")
    return cascade("play", "--headless", "--seconds", "18", "--output", "none", "--record", str(full)), full


def disk_fills_mid_take() -> Outcome:
    played, full = full_disk_take()
    summary = summary_of(played.stdout)
    told = [line for line in played.stderr.splitlines() if line.startswith("RECORDING STOPPED:")]
    sidecar_path = Path(summary.get("take", full / "missing.json"))
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    frames = flac_frames(sidecar_path.with_suffix(".flac"))
    strays = [p.name for p in full.iterdir() if p.suffix in (".tmp", ".reserve")]
    after = played.stderr.split(told[0], 1)[1] if told else ""
    chunks_after = [int(line.split("chunks ")[1].split()[0]) for line in after.splitlines() if "chunks " in line]
    played_on = len(chunks_after) >= 2 and chunks_after[-1] > chunks_after[0]  # the engine still makes chunks
    seconds = summary.get("take_seconds")
    seen = (f"rc {played.returncode}; told: {told[0][:40] + '...' if told else 'nothing'}; JSON says {seconds} s, "
            f"FLAC reads {'unreadable' if frames is None else f'{frames / 44100:.2f} s'}; sidecar "
            f"{sidecar.get('state')!r} {sidecar.get('frames')} frames; strays {strays or 'none'}; "
            f"after it: chunks {chunks_after[0] if chunks_after else '-'} -> {chunks_after[-1] if chunks_after else '-'}")
    passed = (played.returncode == 3 and len(told) >= 1 and "disk full" in told[0] and frames is not None
              and summary.get("take_frames") == frames == sidecar.get("frames") and seconds is not None
              and abs(seconds - frames / 44100) < 0.001 and sidecar.get("state") == "disk_full" and not strays
              and played_on and "Traceback" not in played.stderr)
    return Outcome(seen, passed)


def rerender_without_room() -> Outcome:
    played, full = full_disk_take()
    sidecar = Path(summary_of(played.stdout).get("take", full / "missing.json"))
    started_s = time.monotonic()
    refused = cascade("rerender", str(sidecar), "--steps", "2", "--no-progress")
    refused_s = time.monotonic() - started_s
    left = [p.name for p in full.glob("*steps.flac")]
    elsewhere = work() / "rerendered.flac"
    rendered = cascade("rerender", str(sidecar), "--steps", "2", "--no-progress", "-o", str(elsewhere))
    frames, take_frames = flac_frames(elsewhere), flac_frames(sidecar.with_suffix(".flac"))
    last_line = (refused.stderr.strip().splitlines() or ["(nothing)"])[-1]
    seen = (f"beside it: rc {refused.returncode} in {refused_s:.0f} s, {last_line[:70]!r}, files left {left or 'none'}; "
            f"-o elsewhere: rc {rendered.returncode}, {frames} of {take_frames} frames")
    passed = (refused.returncode == 2 and "no room" in last_line and not left and "Traceback" not in refused.stderr
              and rendered.returncode == 0 and frames is not None and frames == take_frames)
    return Outcome(seen, passed)


def refused_folder(folder: Path, words: str) -> Outcome:
    """`cascade play --record FOLDER` (default output) in a session of its own: one error line, non-zero,
    quick, and nothing of it left running (an output child included)."""
    started_s = time.monotonic()
    process = subprocess.Popen([CASCADE, "play", "--headless", "--seconds", "5", "--record", str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = process.communicate(timeout=120)
    elapsed_s = time.monotonic() - started_s
    time.sleep(0.3)
    left = _session_processes(process.pid)
    lines = err.strip().splitlines()
    seen = f"rc {process.returncode} in {elapsed_s:.1f} s: {' / '.join(lines)[:90]!r}; left running: {len(left)}"
    passed = (process.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
              and not left and "Traceback" not in err and out == "")
    return Outcome(seen, passed)


def record_folder_is_a_file() -> Outcome:
    path = work() / "a-file"
    path.write_text("not a folder")
    return refused_folder(path, "not a folder")


def record_folder_is_read_only() -> Outcome:
    return refused_folder(mount_tmpfs("read-only", "size=1m,ro"), "read-only file system")


@functools.cache
def killed_take() -> Path:
    """`cascade play --record DIR` killed with SIGKILL a few seconds into its take; the folder it left."""
    folder = work() / "killed"
    process = subprocess.Popen([CASCADE, "play", "--headless", "--output", "none", "--quiet", "--record",
                                str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline_s = time.monotonic() + 120
    try:
        while time.monotonic() < deadline_s:
            flacs = list(folder.glob("*.flac")) if folder.is_dir() else []
            if flacs and flacs[0].stat().st_size > 400_000:
                break
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return folder


def copy_of_killed(name: str) -> tuple[Path, Path]:
    folder = shutil.copytree(killed_take(), work() / name)
    return folder, next(folder.glob("*.flac"))


def killed_take_listed() -> Outcome:
    folder, flac = copy_of_killed("listed")
    listed = cascade("takes", "list", str(folder))
    row = next((line for line in listed.stdout.splitlines() if line.startswith(flac.stem)), "")
    readable = flac_frames(flac) is not None and flac_frames(flac) < 1 << 40
    seen = f"rc {listed.returncode}: {' '.join(row.split()[:3])!r}; libsndfile reads the FLAC: {readable}"
    return Outcome(seen, listed.returncode == 0 and "crashed" in row and not readable)


def killed_take_repaired_by_command() -> Outcome:
    folder, flac = copy_of_killed("repaired")
    repaired = cascade("takes", "repair", str(folder))
    sidecar = json.loads(flac.with_suffix(".json").read_text())
    frames = flac_frames(flac)
    again = cascade("takes", "repair", str(folder))
    seen = (f"rc {repaired.returncode}: {repaired.stdout.strip()[:70]!r}; sidecar {sidecar.get('state')!r} "
            f"(was {sidecar.get('repair', {}).get('previous_state')!r}), {sidecar.get('frames')} frames; FLAC "
            f"{frames} frames; again: {again.stdout.strip()[:40]!r}")
    passed = (repaired.returncode == 0 and sidecar.get("state") == "repaired" and frames is not None
              and frames == sidecar.get("frames") > 0 and sidecar["repair"]["previous_state"] == "recording"
              and "nothing to repair" in again.stdout)
    return Outcome(seen, passed)


def killed_take_repaired_at_start() -> Outcome:
    folder, flac = copy_of_killed("at-start")
    played = cascade("play", "--headless", "--output", "none", "--seconds", "2", "--quiet", "--record", str(folder))
    lines = [line for line in played.stderr.splitlines() if line.startswith("repaired ")]
    sidecar = json.loads(flac.with_suffix(".json").read_text())
    frames = flac_frames(flac)
    seen = f"rc {played.returncode}: {lines[0][:70] if lines else 'no repair line'!r}; sidecar {sidecar.get('state')!r}, " \
           f"FLAC {frames} frames"
    passed = (played.returncode == 0 and len(lines) == 1 and flac.stem in lines[0]
              and sidecar.get("state") == "repaired" and frames == sidecar.get("frames"))
    return Outcome(seen, passed)


def _session_processes(session_id: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                found.append(stat.parent.name)
        except (OSError, IndexError, ValueError):
            continue
    return found


CASES: list[Case] = [
    ("disk fills mid-take (2 MB tmpfs): told at once, FLAC finalised, sidecar and JSON true", disk_fills_mid_take),
    ("rerender of that take: beside it only with room, else said before rendering", rerender_without_room),
    ("--record DIR where DIR is a file: one error line, nothing left running", record_folder_is_a_file),
    ("--record DIR on a read-only mount: one error line, nothing left running", record_folder_is_read_only),
    ("kill -9 mid-take, `cascade takes list DIR`: shown as crashed", killed_take_listed),
    ("kill -9 mid-take, `cascade takes repair DIR`: readable, sidecar says repaired", killed_take_repaired_by_command),
    ("kill -9 mid-take, next `cascade play --record DIR` repairs it, one line", killed_take_repaired_at_start),
]
