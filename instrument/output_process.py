"""The audio output in a child process, so that losing the audio server never takes the instrument down.

Why a process. PortAudio's JACK host API (19.6, and 19.7's pa_jack.c reads the same) cannot outlive its JACK
server in the process that initialised it. Measured here (jackd -d dummy killed, SIGTERM or SIGKILL, under a
running sounddevice OutputStream):

- the callbacks just stop; `stream.active` turns False while `stream.stopped` stays False; no status flag
  and no finished_callback ever arrive (pa_jack's shutdown handler only clears the stream's active flag);
- `stream.stop()`, `abort()` and `close()`, and `Pa_Terminate` (sounddevice's atexit handler, which closes
  open streams first), block in pa_jack.c's WaitCondition for its 10-minute timeout: JACK's shutdown callback
  signalled the condition once, before anyone waited on it;
- with PortAudio initialised against a server that has gone, `Pa_Terminate` asserts in `jack_deactivate`
  (pa_jack.c:820, SIGABRT) even with no stream open; PortAudio 19.6 asserts are compiled in on Debian.

So no call sequence re-initialises PortAudio, or even exits cleanly, in that process once its server has
gone. The child owns PortAudio instead: when its stream goes inactive without being stopped it says so and
leaves with os._exit (no PortAudio call, no atexit handler); the parent kills it if it does not leave. The
parent never initialises PortAudio during a session, so its exit stays clean, and a fresh child initialises
a fresh PortAudio that sees the server running now (`LiveSession.restart_output`).

The child also runs the effects pump (instrument.effects_pump: why there, see that module): its own GIL, so
the main process's engine, MIDI and GUI threads cannot keep it from the output ring.

Shared memory (one anonymous mapping, inherited by file descriptor; its layout: instrument.output_memory)
carries requests, gain, counters, the play anchor and the rings. Events (device chosen, started, errors, lost)
come back as JSON lines on the child's stdout.

This module is the session's side (`OutputProcess`, `PreparedOutput`); `python -m instrument.output_process`
runs the child's side, instrument.output_child.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump import PumpConfig
from instrument.output import OutputDevice
from instrument.output_memory import (CALLBACKS, EXIT_LOST, GAIN, NONFINITE_BLOCKS, PEAK, PORTAUDIO_UNDERFLOWS,
                                      SHADOW_CALLBACKS, SHADOW_FRAMES, START_REQUEST, STATE, STATE_LOST,
                                      STOP_REQUEST, UNDERRUNS, SharedOutputMemory, read_anchor)

logger = logging.getLogger(__name__)


class OutputProcessError(RuntimeError):
    """The output process could not open or start its device (the message says why)."""


# --- the parent's handle ------------------------------------------------------------------------------------


class OutputProcess:
    """An audio output (the AudioOutput interface the session uses) played by a child process.

    Construction spawns the child, which initialises PortAudio, chooses the device (`device`: "auto", an
    index or a name substring, as choose_output_device) and reports it; `device` is None when there is none.
    `start()` opens and starts the stream there; `stop()` stops it, killing the child if it does not answer.
    `lost_reason` becomes a text once the stream died under it (server gone, child exited, or no callbacks
    for `stall_seconds`); the session then plays to a software clock until `restart_output`.
    """

    def __init__(self, memory: SharedOutputMemory, device: str | int | None = "auto", *, block_frames: int = 512,
                 open_timeout_s: float = 20.0, stall_seconds: float = 2.0, gain: float = 1.0,
                 pump_config: PumpConfig = PumpConfig()) -> None:
        self.memory = memory
        self.ring = memory.ring
        self.block_frames = block_frames
        self.stall_seconds = stall_seconds
        self.lost_reason: str | None = None
        self.started = False
        self._stopping = False
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._progress: tuple[float, float] = (time.monotonic(), 0.0)  # (time, callbacks) of the last progress
        memory.reset_status(gain)
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        command = [sys.executable, "-m", "instrument.output_process", "--fd", str(memory.fd), "--ring-frames",
                   str(memory.ring_frames), "--channels", str(memory.channels), "--block-frames", str(block_frames),
                   "--device", json.dumps(device), "--pump-config", json.dumps(asdict(pump_config)),
                   "--parent-pid", str(os.getpid())]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                         pass_fds=(memory.fd,), env=env)
        self._reader = threading.Thread(target=self._read_events, name="cascade-output-events", daemon=True)
        self._reader.start()
        event = self._wait_event(("device", "error"), open_timeout_s)
        if event is None:
            self._kill()
            raise OutputProcessError(f"the output process did not report a device within {open_timeout_s:.0f} s")
        if event["event"] == "error":
            self._process.wait(5.0)
            if event.get("type") == "ValueError":
                raise ValueError(event["message"])
            raise OutputProcessError(event["message"])
        self.device: OutputDevice | None = OutputDevice(**event["device"]) if event["device"] else None
        self.sample_rate = int(event.get("sample_rate") or SAMPLE_RATE)

    # --- events -------------------------------------------------------------------------------------------

    def _read_events(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                self._events.put(json.loads(line))
            except json.JSONDecodeError:
                logger.debug("output process: unreadable line %r", line)

    def _wait_event(self, kinds: tuple[str, ...], timeout_s: float) -> dict[str, Any] | None:
        deadline_s = time.monotonic() + timeout_s
        while True:
            left_s = deadline_s - time.monotonic()
            if left_s <= 0:
                return None
            try:
                event = self._events.get(timeout=min(0.05, left_s))
            except queue.Empty:
                if self._process.poll() is not None and self._events.empty():
                    self._reader.join(0.5)  # the last lines may still be on their way
                    if self._events.empty():
                        return None
                continue
            if event.get("event") == "lost":
                self.lost_reason = str(event.get("reason") or "output lost")
            if event.get("event") in kinds:
                return event

    # --- control ----------------------------------------------------------------------------------------------

    def start(self, timeout_s: float = 15.0) -> None:
        if self.device is None:
            raise OutputProcessError("no audio output device")
        self.memory.status[START_REQUEST] = 1.0
        event = self._wait_event(("started", "error"), timeout_s)
        if event is None or event["event"] == "error":
            message = "no answer" if event is None else event["message"]
            self.stop()
            raise OutputProcessError(f"cannot start {self.device.name}: {message}")
        self.started = True
        self._progress = (time.monotonic(), self.memory.status[CALLBACKS])

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop and reap the child; a child that does not leave in time (a stop stuck in PortAudio after the
        server went) is killed."""
        self._stopping = True
        self.memory.status[STOP_REQUEST] = 1.0
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("output process did not stop in %.0f s: killed", timeout_s)
            self._kill()
        self._reader.join(1.0)

    def _kill(self) -> None:
        self._process.kill()
        self._process.wait(5.0)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        """The child is still running (it may not have started its stream yet)."""
        return self._process.poll() is None

    # --- state ------------------------------------------------------------------------------------------------

    def check_lost(self) -> str | None:
        """Whether the stream died under us (and why); cheap, call it often (the session's watch thread)."""
        if self.lost_reason is not None or not self.started or self._stopping:
            return self.lost_reason
        status = self.memory.status
        code = self._process.poll()
        if status[STATE] == STATE_LOST or code == EXIT_LOST:
            if self.lost_reason is None:
                self._wait_event(("lost",), 0.5)  # the child's own words, when they come
            self.lost_reason = self.lost_reason or "the audio stream stopped (server or device gone)"
        elif code is not None:
            self.lost_reason = f"the output process exited (code {code})"
        else:
            now_s = time.monotonic()
            callbacks = status[CALLBACKS]
            if callbacks != self._progress[1]:
                self._progress = (now_s, callbacks)
            elif now_s - self._progress[0] > self.stall_seconds:
                self.lost_reason = f"no audio callbacks for {self.stall_seconds:.1f} s"
        return self.lost_reason

    @property
    def stream_lost(self) -> bool:
        return self.check_lost() is not None

    @property
    def active(self) -> bool:
        return self.started and not self._stopping and self._process.poll() is None and self.lost_reason is None

    def set_gain_db(self, gain_db: float) -> None:
        if not np.isfinite(gain_db):
            raise ValueError("gain must be finite")
        self.memory.status[GAIN] = float(10 ** (min(gain_db, 6.0) / 20))

    @property
    def play_anchor(self) -> tuple[float, int] | None:
        return read_anchor(self.memory.status)

    @property
    def callbacks(self) -> int:
        return int(self.memory.status[CALLBACKS])

    @property
    def underruns(self) -> int:
        return int(self.memory.status[UNDERRUNS])

    @property
    def shadow_callbacks(self) -> int:
        return int(self.memory.status[SHADOW_CALLBACKS])

    @property
    def shadow_frames(self) -> int:
        return int(self.memory.status[SHADOW_FRAMES])

    @property
    def portaudio_underflows(self) -> int:
        return int(self.memory.status[PORTAUDIO_UNDERFLOWS])

    @property
    def nonfinite_blocks(self) -> int:
        return int(self.memory.status[NONFINITE_BLOCKS])

    @property
    def peak(self) -> float:
        return float(self.memory.status[PEAK])


def ring_frames_for(output_block_frames: int) -> int:
    """The output ring's size for a session's output block (and the shadow ring's)."""
    return max(16384, 8 * output_block_frames)


@dataclass
class PreparedOutput:
    """An output process started before its session: the app starts one first thing, on a thread, so the
    child's interpreter, PortAudio and the JACK connection (~0.2 s) get ready on the core torch's import leaves
    idle. A LiveSession adopts it when it asks for the same output, ring size and pump configuration. Torch-free,
    so it can start before torch is imported."""

    output: str | int | None
    memory: SharedOutputMemory
    process: OutputProcess | None  # None: it could not start (the session then opens its output itself)
    pump_config: PumpConfig
    error: str | None = None

    @staticmethod
    def start(output: str | int | None = "auto", *, output_block_frames: int = 512,
              pump_config: PumpConfig = PumpConfig(), stall_seconds: float = 2.0) -> PreparedOutput:
        """Spawn the output process (blocks until it has chosen its device, ~0.15-0.3 s); never raises."""
        memory = SharedOutputMemory(ring_frames_for(output_block_frames))
        try:
            process = OutputProcess(memory, output, block_frames=output_block_frames, stall_seconds=stall_seconds,
                                    pump_config=pump_config)
        except Exception as error:  # noqa: BLE001 - the session tries again and reports it
            memory.close()
            return PreparedOutput(output, memory, None, pump_config, f"{type(error).__name__}: {error}")
        return PreparedOutput(output, memory, process, pump_config)

    def matches(self, output: str | int | None, ring_frames: int, pump_config: PumpConfig) -> bool:
        return (self.process is not None and self.output == output and self.memory.ring_frames == ring_frames
                and self.pump_config == pump_config and not self.process.started and self.process.alive
                and self.process.lost_reason is None and self.memory.fd >= 0)

    def discard(self) -> None:
        """Not adopted: stop the child and drop the memory."""
        if self.process is not None:
            self.process.stop()
        self.memory.close()


if __name__ == "__main__":
    from instrument.output_child import child_main

    sys.exit(child_main())
