"""Bringing a lost audio output back by itself, and saying so in a performer's words.

When a JACK server stops, the session plays on to a software clock (instrument.session, instrument.output_process
say why the output lives in a child process). A performer restarts JACK and expects the sound back without
touching the instrument. Reopening means a fresh output process (an interpreter, numpy, PortAudio: ~0.3 s of
CPU on the engine's cores), too heavy to try blindly every second; so for JACK a much lighter probe asks
whether a server answers (a bare `python -S` opening a JACK client with JackNoStartServer, ~20 ms) and the
output is reopened only then. The probe runs in its own process on purpose: libjack prints its connection
errors to stderr and keeps global state; in this process it would mix with python-rtmidi's JACK client.
Other devices (an unplugged card) have no such probe: they are retried every `retry_s`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from instrument.output import OutputDevice

POLL_S = 1.5  # how often a lost JACK output asks whether the server is back
RETRY_S = 5.0  # how often any other lost output is reopened on spec
PROBE_TIMEOUT_S = 3.0  # a server that takes longer to answer is not back yet

# JackNoStartServer (0x01): the probe must never start a server of its own (jackdrc's autostart).
_JACK_PROBE = r"""
import ctypes, sys
try:
    jack = ctypes.CDLL("libjack.so.0")
except OSError:
    sys.exit(2)
jack.jack_client_open.restype = ctypes.c_void_p
jack.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
jack.jack_client_close.argtypes = [ctypes.c_void_p]
status = ctypes.c_int(0)
client = jack.jack_client_open(b"cascade-probe", 0x01, ctypes.byref(status))
if not client:
    sys.exit(1)
jack.jack_client_close(client)
"""


def jack_server_answers(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the JACK server this process would use ($JACK_DEFAULT_SERVER, else "default") accepts a
    client now. Never starts one; quiet (libjack's complaints go to /dev/null)."""
    try:
        result = subprocess.run([sys.executable, "-S", "-c", _JACK_PROBE], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout_s)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return result.returncode == 0


def is_jack(device: OutputDevice | None) -> bool:
    return device is not None and "JACK" in device.host_api


def lost_words(device: OutputDevice | None, reason: str) -> str:
    """What a performer reads when the output goes away (CLI line, app banner)."""
    if is_jack(device):
        return ("JACK stopped: the sound is paused, playing and recording go on; "
                "it comes back by itself when JACK is running again")
    return (f"the audio output stopped ({reason}): the sound is paused, playing and recording go on; "
            "it comes back by itself when the device returns")


def back_words(device: OutputDevice | None) -> str:
    name = "the audio output" if device is None else f"{device.name} ({device.host_api})"
    return f"sound is back on {name}"


class ReconnectSchedule:
    """When a lost output should be reopened: a JACK output as soon as its server answers the probe (asked
    every `poll_s`), any other every `retry_s`. Used by one thread (the session's output watch)."""

    def __init__(self, poll_s: float = POLL_S, retry_s: float = RETRY_S,
                 jack_answers: Callable[[], bool] = jack_server_answers) -> None:
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.jack_answers = jack_answers
        self._jack = False
        self._next_s = float("inf")  # nothing lost

    def lost(self, device: OutputDevice | None, now_s: float | None = None) -> None:
        """The output (this device) went away now: the first try waits one interval (a server that just died
        is not back yet, and a crashed one may be restarting)."""
        self._jack = is_jack(device)
        self._next_s = (time.monotonic() if now_s is None else now_s) + (self.poll_s if self._jack else self.retry_s)

    def back(self) -> None:
        self._next_s = float("inf")

    def due(self, now_s: float | None = None) -> bool:
        """Whether to reopen now (for JACK this runs the probe, ~20 ms, when its interval has passed)."""
        now_s = time.monotonic() if now_s is None else now_s
        if now_s < self._next_s:
            return False
        self._next_s = now_s + (self.poll_s if self._jack else self.retry_s)
        return self.jack_answers() if self._jack else True
