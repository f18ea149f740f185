"""A lost audio output comes back by itself (real JACK dummy servers, killed and started again), the performer
is told in words, and an output process whose parent dies leaves nothing behind: no traceback, no orphan."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

from engine.debug_models import debug_generator
from engine.generate import Generator
from engine.stream import EngineConfig, StreamGeometry
from instrument.session import LiveSession
from instrument.output import OutputDevice
from instrument.parameters import ParameterStore
from instrument.reconnect import ReconnectSchedule, jack_server_answers
from tests.helpers import jack_ports, killable_jackd, start_jackd, wait_for

ROOT = Path(__file__).resolve().parents[2]
JACK = OutputDevice(0, "system", "JACK Audio Connection Kit", 2, 44100.0)
ALSA = OutputDevice(1, "hw:0", "ALSA", 2, 44100.0)


@pytest.fixture(scope="module")
def generator() -> Generator:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield debug_generator(0)
    torch.set_num_threads(threads)


def test_the_probe_answers_only_while_a_server_runs_and_never_starts_one(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"cascade-probe-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.delenv("JACK_NO_START_SERVER", raising=False)  # the probe itself must refuse to start one
    assert jack_server_answers() is False
    assert jack_ports(name) == [], "the probe started a JACK server"
    server = start_jackd(name)
    try:
        assert jack_server_answers() is True
    finally:
        server.terminate()
        server.wait(10)
    assert wait_for(lambda: not jack_server_answers(), 5.0)


def test_the_schedule_probes_jack_every_poll_and_retries_other_devices_slower() -> None:
    answers = iter([False, True])
    probes: list[float] = []

    def probe() -> bool:
        probes.append(0.0)
        return next(answers)

    schedule = ReconnectSchedule(poll_s=1.5, retry_s=5.0, jack_answers=probe)
    assert not schedule.due(0.0), "nothing lost"
    schedule.lost(JACK, now_s=10.0)
    assert not schedule.due(11.0) and probes == []  # not before one interval
    assert not schedule.due(11.6) and len(probes) == 1  # the server does not answer yet
    assert not schedule.due(12.0) and len(probes) == 1  # the next probe waits its interval
    assert schedule.due(13.2) and len(probes) == 2  # it answers: reopen
    schedule.back()
    assert not schedule.due(100.0)
    schedule.lost(ALSA, now_s=0.0)  # no probe for other devices: retried on a slower beat
    assert not schedule.due(4.9) and schedule.due(5.0) and not schedule.due(6.0) and schedule.due(10.1)
    assert len(probes) == 2


def test_jack_killed_and_restarted_the_output_comes_back_by_itself(
        generator: Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[tuple[str, str]] = []
    with killable_jackd(monkeypatch, "cascade-back") as jack:
        store = ParameterStore()
        store.set_prompt_text(0, "warm analog pad")
        store.set("steps", 3)
        live = LiveSession(generator, store, engine_config=EngineConfig(geometry=StreamGeometry(32, 12, 4)),
                           output="auto", on_output_change=lambda level, words: told.append((level, words)))
        assert live.device is not None and "JACK" in live.device.host_api
        live.start()
        try:
            take = live.start_recording(tmp_path, "back")
            assert wait_for(lambda: live.sink.callbacks > 40, 15.0), "playing into JACK"
            jack.kill()  # the server crashes under the running stream
            assert wait_for(lambda: live.status().output_lost, 10.0)
            assert wait_for(lambda: len(told) >= 1, 2.0)
            level, words = told[0]
            assert level == "warning" and words.startswith("JACK stopped") and "comes back by itself" in words
            assert "restart_output" not in words and "()" not in words  # a performer's words, not a Python call
            assert "SOUND PAUSED" in live.status().line()
            time.sleep(2.0)  # no server: it stays on the clock, probing quietly
            assert live.status().output_lost and live.output_reconnects == 0 and len(told) == 1
            jack.restart()  # nobody calls anything: the session notices the server and reopens
            assert wait_for(lambda: not live.status().output_lost, 15.0), live.output_error
            status = live.status()
            assert "JACK" in status.output and status.output_losses == 1 and live.output_reconnects == 1
            assert told[-1][0] == "info" and told[-1][1].startswith("sound is back on system")
            callbacks = live.sink.callbacks
            assert wait_for(lambda: live.sink.callbacks > callbacks + 20, 10.0), "the new server plays us"
            assert any(port.startswith("PortAudio") for port in jack_ports(jack.name))
            live.stop_recording()
        finally:
            live.stop()
    assert take.sidecar_path.exists()


ABORTING_PARENT = """
import os, sys
sys.path.insert(0, {root!r})
from instrument.output_memory import START_REQUEST
from instrument.output_process import PreparedOutput
prepared = PreparedOutput.start("auto")
assert prepared.process is not None and prepared.process.device is not None, prepared.error
print(prepared.process.pid, flush=True)
prepared.memory.status[START_REQUEST] = 1.0  # the child starts its stream and reports it ...
os.abort()  # ... to a parent that has just died (Qt's qFatal did this to the app)
"""


def test_an_output_process_whose_parent_aborts_leaves_no_traceback_and_no_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with killable_jackd(monkeypatch, "cascade-orphan"):
        parent = subprocess.run([sys.executable, "-c", ABORTING_PARENT.format(root=str(ROOT))], capture_output=True,
                                text=True, timeout=60)  # returns once the child closed the inherited pipes too
    assert parent.returncode == -6, parent.stderr
    child_pid = int(parent.stdout.split()[0])
    assert "Traceback" not in parent.stderr and "BrokenPipe" not in parent.stderr, parent.stderr
    assert wait_for(lambda: not Path(f"/proc/{child_pid}").exists()
                    or "Z" in Path(f"/proc/{child_pid}/stat").read_text().split()[2], 5.0), "orphan output process"


PARENT_DYING_AT_ONCE = """
import os, sys, threading, time
sys.path.insert(0, {root!r})
from instrument.output_process import PreparedOutput
threading.Thread(target=PreparedOutput.start, args=("auto",), daemon=True).start()
time.sleep({delay_s})  # the child is spawned and still importing numpy, PortAudio... when its parent dies
os.abort()
"""


@pytest.mark.parametrize("delay_s", [0.05, 0.2])
def test_an_output_process_whose_parent_dies_during_its_start_leaves_too(
        delay_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child read its parent's pid after its imports: a parent killed meanwhile left it waiting for init."""
    marker = f"CASCADE_TEST_{uuid.uuid4().hex}"
    with killable_jackd(monkeypatch, "cascade-early"):
        parent = subprocess.run([sys.executable, "-c", PARENT_DYING_AT_ONCE.format(root=str(ROOT), delay_s=delay_s)],
                                capture_output=True, text=True, timeout=60, env=os.environ | {marker: "1"})
        assert parent.returncode == -6, parent.stderr

        def ours() -> list[int]:
            found = []
            for entry in Path("/proc").iterdir():
                try:
                    if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes() \
                            and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(entry.name))
                except OSError:
                    continue
            return found

        assert wait_for(lambda: not ours(), 10.0), f"orphan output process {ours()}"
    assert "Traceback" not in parent.stderr, parent.stderr
