"""The MIDI polling thread: `MidiInput` owns one open rtmidi port and hands each message to the mapper or the clock."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from instrument.midi import overflow as midi_overflow
from instrument.midi.clock import MidiClock
from instrument.midi.held_notes import HeldNotes
from instrument.midi.mapper import MidiMapper
from instrument.midi.wire import CLOCK_STATUSES

logger = logging.getLogger(__name__)


class MidiInput:
    """Owns one open rtmidi MidiIn and the daemon thread that polls it.

    The thread drains all pending messages, sleeps `poll_interval_s` when idle, and checks every
    `presence_check_s` that the source port still exists: when it vanishes (device unplugged) `lost`
    becomes True and the app keeps running; when a port of that name comes back it is reopened.
    Mapper timestamps are time.monotonic() at arrival (for latency); clock timestamps are rtmidi's own
    delta times accumulated (closer to the wire timing than a poll loop that drains bursts).
    """

    def __init__(self, midi_in: Any, port_name: str, *, mapper: MidiMapper | None = None,
                 clock: MidiClock | None = None, held_notes: HeldNotes | None = None, poll_interval_s: float = 0.001,
                 presence_check_s: float = 0.5, overflow: midi_overflow.OverflowSummary | None = None) -> None:
        self._midi_in = midi_in
        self._overflow = overflow  # RtMidi's queue-overflow lines, summarised; released on close
        self.port_name = port_name
        self.mapper = mapper
        self.clock = clock
        self.held_notes = held_notes  # notes and the sustain pedal also go here (the held chord)
        self.poll_interval_s = poll_interval_s
        self.presence_check_s = presence_check_s
        self.lost = False
        self.messages_received = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._close_lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"midi-in {self.port_name}", daemon=True)
            self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def messages_dropped(self) -> int:
        """Incoming messages RtMidi dropped because its queue was full (every input of this process)."""
        return 0 if self._overflow is None else self._overflow.dropped

    def last_change_time(self, parameter: str) -> float | None:
        """time.monotonic() when a MIDI message last moved `parameter` (None: never)."""
        return None if self.mapper is None else self.mapper.last_change_time(parameter)

    def _dispatch(self, message: list[int], arrival_s: float, timeline_s: float) -> None:
        self.messages_received += 1
        status = message[0] if message else None
        if status in CLOCK_STATUSES:
            if self.clock is not None:
                self.clock.handle(message, timeline_s, arrival_s)
        else:
            if self.mapper is not None:
                self.mapper.handle(message, arrival_s)
            if self.held_notes is not None:
                self.held_notes.handle(message, arrival_s)

    def _port_present(self) -> bool:
        try:
            return self.port_name in self._midi_in.get_ports()
        except Exception:
            return False

    def _reopen(self) -> bool:
        try:
            ports = self._midi_in.get_ports()
            if self.port_name not in ports:
                return False
            self._midi_in.close_port()
            self._midi_in.open_port(ports.index(self.port_name), name="midi_in")
            return True
        except Exception as exc:
            logger.debug("reopening MIDI port %r failed: %s", self.port_name, exc)
            return False

    def _run(self) -> None:
        timeline_s = time.monotonic()
        next_check_s = time.monotonic() + self.presence_check_s
        while not self._stop.is_set():
            drained = 0
            try:
                while drained < 10_000:  # bound one drain so the presence check still runs under a flood
                    event = self._midi_in.get_message()
                    if event is None:
                        break
                    message, delta_s = event
                    arrival_s = time.monotonic()
                    # rtmidi's delta times keep wire-like spacing even when a burst is drained at once;
                    # after a long silence (or a nonsense delta) resync to the monotonic clock.
                    if 0.0 <= delta_s <= 1.0:
                        timeline_s += delta_s
                    else:
                        timeline_s = arrival_s
                    drained += 1
                    self._dispatch(message, arrival_s, timeline_s)
            except Exception as exc:  # the backend failing mid-read: treat the port as gone
                self.errors += 1
                if not self.lost:
                    logger.warning("MIDI input %r failed: %s", self.port_name, exc)
                self.lost = True
            now_s = time.monotonic()
            if now_s >= next_check_s:
                next_check_s = now_s + self.presence_check_s
                if not self.lost and not self._port_present():
                    logger.warning("MIDI input %r disappeared", self.port_name)
                    self.lost = True
                elif self.lost and self._reopen():
                    logger.info("MIDI input %r is back", self.port_name)
                    self.lost = False
            if not drained:
                self._stop.wait(self.poll_interval_s)

    def close(self) -> None:
        """Stop the polling thread and close the port; safe to call twice."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        try:
            self._midi_in.close_port()
            self._midi_in.delete()
        except Exception as exc:
            logger.debug("closing MIDI input %r: %s", self.port_name, exc)
        if self._overflow is not None:
            midi_overflow.release()

    def __enter__(self) -> MidiInput:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
