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


class KillableJack:
    """A JACK dummy server of its own (see start_jackd) that a test may kill and start again under the same name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process = start_jackd(name)

    def kill(self) -> None:
        """The server crashes (SIGKILL)."""
        self.process.kill()
        self.process.wait(10)

    def restart(self) -> None:
        """Start it again (the same name also frees the crashed server's entry in JACK's registry)."""
        self.process = start_jackd(self.name)

    def close(self) -> None:
        """Stop it cleanly; a server killed and never restarted leaves a registry entry (JACK holds 8), which a
        server of the same name that exits cleanly frees."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        elif self.process.returncode < 0:
            reclaim = start_jackd(self.name)
            reclaim.terminate()
            reclaim.wait(10)


def killable_jackd(monkeypatch, prefix: str):  # noqa: ANN001, ANN201 - pytest.MonkeyPatch -> Iterator[KillableJack]
    """A context manager: a KillableJack named `prefix-<random>` that this process's JACK clients (and child
    processes) use by default, closed (or its registry entry freed) at the end."""
    import contextlib
    import uuid

    @contextlib.contextmanager
    def server():  # noqa: ANN202
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        for key, value in {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1",
                           "JACK_NO_AUDIO_RESERVATION": "1"}.items():
            monkeypatch.setenv(key, value)
        jack = KillableJack(name)
        try:
            yield jack
        finally:
            jack.close()

    return server()


def run_killed_at_step(monkeypatch, trainer_class: type, step: int, run: Callable[[], object]) -> None:  # noqa: ANN001
    """Run `run()` (a training run) with `trainer_class._train_step` raising KeyboardInterrupt once the trainer
    reaches `step`, as a kill after a checkpoint would; the patch is undone afterwards."""
    import pytest

    original = trainer_class._train_step

    def killed(self):  # noqa: ANN001, ANN202
        if self.step == step:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(trainer_class, "_train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.undo()


def assert_same_weights(run_a, run_b, parts: tuple[str, ...] = ("model", "ema")) -> None:  # noqa: ANN001 - Paths
    """The tensors of `parts` in two run folders' train states are equal, every one."""
    from engine.training import read_training_state

    a, b = read_training_state(run_a), read_training_state(run_b)
    for part in parts:
        for name, tensor in a[part].items():
            assert tensor.equal(b[part][name]), f"{part}.{name}"
