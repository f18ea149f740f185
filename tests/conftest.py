"""Shared fixtures: a real JACK server (dummy driver, unique name) for audio and MIDI tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class JackServer:
    name: str
    sample_rate: int

    def ports(self) -> list[str]:
        result = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10,
                                env=os.environ | {"JACK_DEFAULT_SERVER": self.name})
        return result.stdout.split()


@pytest.fixture()
def jack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[JackServer]:
    """jackd -d dummy with a unique name, sounddevice re-initialised to see it, PortAudio terminated
    before the server stops (else PortAudio asserts at exit)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install jackd2): scripts/setup.sh installs it")
    name = f"cascade-test-{uuid.uuid4().hex[:8]}"
    sample_rate = 44100
    for key, value in {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1",
                       "JACK_NO_AUDIO_RESERVATION": "1"}.items():
        monkeypatch.setenv(key, value)
    process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(sample_rate), "-p", "512"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = JackServer(name, sample_rate)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "system:playback_1" not in server.ports():
        if process.poll() is not None:
            pytest.fail(f"jackd exited: {process.stderr.read().decode(errors='replace')[-500:]}")
        time.sleep(0.05)
    import sounddevice

    sounddevice._terminate()
    sounddevice._initialize()
    try:
        yield server
    finally:
        sounddevice._terminate()  # before the server goes, or PortAudio's JACK host API asserts
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        sounddevice._initialize()  # back to the devices there are without this server


@pytest.fixture()
def virtual_out(jack_server: JackServer) -> Iterator[object]:
    """A virtual MIDI controller: a JACK MIDI output port "Ctl:knobs" that the code under test can open."""
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Ctl")
    out.open_virtual_port("knobs")
    try:
        yield out
    finally:
        out.close_port()
        out.delete()
