"""Small helpers shared by the tests (importable as tests.helpers)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.01) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes; returns its last value. Tests wait for a
    condition instead of sleeping a fixed time, so a loaded machine makes them slower, not flaky."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return predicate()


def jack_ports(server: str) -> list[str]:
    """The ports on JACK server `server` (jack_lsp)."""
    import os
    import subprocess

    result = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10,
                            env=os.environ | {"JACK_DEFAULT_SERVER": server})
    return result.stdout.split()


def start_jackd(name: str, sample_rate: int = 44100, period_frames: int = 512):  # noqa: ANN201 - subprocess.Popen
    """A JACK dummy server a test may kill. PortAudio in the test process must never see it: a process whose
    PortAudio knew a server that died aborts at exit (pa_jack.c asserts), which is why the session plays through
    an output process; so no sounddevice in such a test, only JACK's own tools. A killed server keeps its entry
    in JACK's registry (8 at most): starting and stopping one of the same name cleanly frees it."""
    import shutil
    import subprocess

    import pytest

    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install jackd2): scripts/setup.sh installs it")
    process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(sample_rate), "-p", str(period_frames)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: "system:playback_1" in jack_ports(name) or process.poll() is not None, 15.0)
    assert process.poll() is None, f"jackd {name} exited with {process.returncode}"
    return process
