"""A JACK dummy server for the benchmarks (the tests have their own fixtures in tests/helpers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid


def start_dummy_jack(prefix: str, period_frames: int = 512) -> tuple[subprocess.Popen | None, str | None]:
    """(jackd process, server name) of a dummy server at 44.1 kHz, made this process's (and its children's)
    default server; (None, None) when jackd is not installed or did not come up within 10 s."""
    if shutil.which("jackd") is None:
        return None, None
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    os.environ.update({"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1", "JACK_NO_AUDIO_RESERVATION": "1"})
    process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "44100", "-p", str(period_frames)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "system:playback_1" in subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout:
            return process, name
        time.sleep(0.05)
    process.terminate()
    return None, None
