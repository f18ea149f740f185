"""RtMidi's queue-overflow lines on stderr, summarised.

For every incoming message its full input queue drops, RtMidi writes "MidiInJack: message queue limit
reached!!" (ALSA: "MidiInAlsa: ...") straight to std::cerr: not through python-rtmidi's error callback, so
`set_error_callback` never sees it, and a MIDI flood printed one line per dropped message (154,695 lines for
a 1.2 s flood of 200,000 CCs, of which Cascade's mapper read 45,000). While a MIDI input is open, file
descriptor 2 is therefore a pipe that one thread reads: everything passes through unchanged and at once,
except those lines, which are counted and reported as one line at most every REPORT_INTERVAL_S (the first at
once). Closing the last input puts the real stderr back.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import sys
import threading
import time

REPORT_INTERVAL_S = 5.0
# RtMidi's exact words (RtMidi.cpp: std::cerr << "\nMidiInJack: message queue limit reached!!\n\n").
_MESSAGES = (b"\nMidiInJack: message queue limit reached!!\n\n", b"\nMidiInAlsa: message queue limit reached!!\n\n")
_OVERFLOW = re.compile(rb"\n?MidiIn(?:Jack|Alsa): message queue limit reached!!\n?\n?")
_HOLD_S = 0.05  # how long a chunk's tail that may begin such a line waits for the rest before passing through
_READ_BYTES = 65536


def _held_tail_length(data: bytes) -> int:
    """How many trailing bytes of `data` may be the start of an overflow line split by the pipe (at least "\\nM":
    a lone trailing newline passes at once, so ordinary output never waits)."""
    longest = max(len(message) for message in _MESSAGES)
    for length in range(min(len(data), longest - 1), 1, -1):
        tail = data[-length:]
        if any(message.startswith(tail) for message in _MESSAGES):
            return length
    return 0


class OverflowSummary:
    """The pipe on fd 2 and its reader thread. `dropped` counts every overflow line seen (all inputs)."""

    def __init__(self, report_interval_s: float = REPORT_INTERVAL_S) -> None:
        self.report_interval_s = report_interval_s
        self.dropped = 0
        self._unreported = 0
        self._window_started_s = 0.0
        self._last_report_s: float | None = None
        self._saved_fd = -1
        self._read_fd = -1
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)  # the real stderr (not inherited by children: os.dup's default)
        self._read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)  # fd 2 stays inheritable: children still write to stderr, through the filter
        os.close(write_fd)
        self._thread = threading.Thread(target=self._run, name="midi-overflow-summary", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The real stderr back on fd 2; the reader drains what is left, reports the rest and ends (unless a
        child process still holds the pipe: then it keeps passing the child's output through)."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved_fd, 2)  # closes this process's last write end of the pipe: the reader sees EOF
        if self._thread is not None:
            self._thread.join(timeout=0.5)  # short: a child holding the pipe must not hold up a port change
            if not self._thread.is_alive():
                os.close(self._read_fd)
                os.close(self._saved_fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._saved_fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # the real stderr is gone (a closed terminal): nothing left to tell
            view = view[written:]

    def _report(self, now_s: float) -> None:
        if not self._unreported:
            return
        if self._last_report_s is None:
            line = (f"MIDI: incoming messages dropped ({self._unreported:,} so far): a flood faster than Cascade "
                    f"reads filled RtMidi's input queue (\"message queue limit reached\"); counted, one line every "
                    f"{self.report_interval_s:g} s at most")
        else:
            line = (f"MIDI: {self._unreported:,} more incoming messages dropped in "
                    f"{max(now_s - self._window_started_s, 0.1):.1f} s (input queue full)")
        self._write(f"{line}\n".encode())
        self._unreported = 0
        self._last_report_s = now_s

    def _count(self, data: bytes, now_s: float) -> bytes:
        kept, found = _OVERFLOW.subn(b"", data)
        if found:
            if not self._unreported:
                self._window_started_s = now_s
            self._unreported += found
            self.dropped += found
        return kept

    def _run(self) -> None:
        pending = b""
        while True:
            now_s = time.monotonic()
            due_s = (self._last_report_s or 0.0) + self.report_interval_s
            if self._unreported and now_s >= due_s:
                self._report(now_s)
            timeout_s = _HOLD_S if pending else (max(0.0, due_s - now_s) if self._unreported else None)
            readable, _, _ = select.select([self._read_fd], [], [], timeout_s)
            if not readable:  # the held tail was not the start of an overflow line after all
                self._write(pending)
                pending = b""
                continue
            chunk = os.read(self._read_fd, _READ_BYTES)
            if not chunk:  # EOF: every writer closed
                self._write(self._count(pending, time.monotonic()))
                self._report(time.monotonic())
                return
            data = self._count(pending + chunk, time.monotonic())
            held = _held_tail_length(data)
            pending = data[len(data) - held:] if held else b""
            self._write(data[:len(data) - held])


_lock = threading.Lock()
_active: OverflowSummary | None = None
_users = 0
_atexit_registered = False


def acquire() -> OverflowSummary | None:
    """Start summarising (first user) and count one more user; None when stderr cannot be replaced (no fd 2)."""
    global _active, _users, _atexit_registered
    with _lock:
        if _active is None:
            summary = OverflowSummary()
            try:
                summary.start()
            except OSError:
                return None
            _active = summary
            if not _atexit_registered:  # at exit the reader must drain what the last lines wrote
                atexit.register(_stop_all)
                _atexit_registered = True
        _users += 1
        return _active


def release() -> None:
    """One user fewer; the last one puts the real stderr back."""
    global _active, _users
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _active is not None:
            active, _active = _active, None
            active.stop()


def _stop_all() -> None:
    global _users
    with _lock:
        _users = min(_users, 1)
    release()
