"""Real hostile conditions for the take tests: a small or read-only tmpfs, and a take whose recording process
was killed with SIGKILL (importable as tests.takes_support)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def tone(seconds: float, frequency_hz: float = 440.0) -> np.ndarray:
    """(frames, 2) float32: a sine left, half as loud right."""
    t = np.arange(int(seconds * 44100)) / 44100
    left = 0.5 * np.sin(2 * np.pi * frequency_hz * t)
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


@contextmanager
def tmpfs(mount_point: Path, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs of `size` at `mount_point` (a real full disk, a real read-only file system); needs root."""
    mount_point.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tmpfs (a real full or read-only disk)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def crashed_take(directory: Path, name: str = "crash", seconds: float = 3.0) -> Path:
    """Record `seconds` of a tone with a real TakeWriter in a child process, then SIGKILL it mid-take (no
    cleanup at all); returns the sidecar, which still says "recording"."""
    script = f"""
import sys, time, numpy as np
sys.path.insert(0, {str(REPO)!r})
from instrument.takes import TakeWriter
w = TakeWriter({str(directory)!r}, name={name!r}, flush_seconds=0.25, metadata={{"prompts": ["a test tone"]}})
w.start()
t = np.arange(4410) / 44100
block = np.stack([0.4 * np.sin(2 * np.pi * 330 * t)] * 2, axis=1).astype(np.float32)
for i in range(int({seconds} * 10)):
    w.write(block)
    time.sleep(0.005)
time.sleep(0.6)
print("written", flush=True)
time.sleep(60)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "written"
    finally:
        process.kill()  # SIGKILL
        process.wait()
    return directory / f"{name}.json"


def processes_in_session(session_id: int) -> list[str]:
    """Command lines of the live processes in session `session_id` (a child started with start_new_session:
    whatever it left running, an output child included)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_for_file_bytes(path: Path, at_least_bytes: int, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= at_least_bytes:
            return True
        time.sleep(0.05)
    return False
