"""What every part of the app's instrument controller shares: its state's declared types, the banner's
message queue and the operations thread (one operation at a time, in order; a failure goes to the banner)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from instrument.controller.config import AppConfig, Message
from instrument.midi import HeldNotes, MidiClock, MidiInput, MidiMapper
from instrument.parameters import ParameterStore

logger = logging.getLogger("instrument.controller")


class ControllerBase:
    """The state the parts (transport, takes, take player, presets, MIDI) share; Instrument.__init__ sets it."""

    config: AppConfig
    store: ParameterStore
    mapper: MidiMapper
    clock: MidiClock
    held_notes: HeldNotes
    midi_input: MidiInput | None
    generator: Any  # engine.generate.Generator once loaded
    session: Any  # instrument.session.LiveSession while playing
    take: Any  # the TakeWriter while recording
    takes_dir: Path
    takes_version: int
    messages: deque[Message]
    busy: bool
    _ops: ThreadPoolExecutor
    _closed: bool

    def post(self, level: str, text: str) -> None:
        """Queue a banner message (any thread)."""
        (logger.warning if level != "info" else logger.info)("%s", text)
        self.messages.append(Message(level, text, time.monotonic()))

    def _submit(self, what: str, function: Callable[[], Any]) -> Future:
        def run() -> Any:
            self.busy = True
            try:
                return function()
            except Exception as error:  # noqa: BLE001 - reported on the banner, the app keeps running
                logger.exception("%s failed", what)
                self.post("error", f"{what} failed: {error}")
                return None
            finally:
                self.busy = False

        if self._closed:
            future: Future = Future()
            future.set_result(None)
            return future
        return self._ops.submit(run)

    def _start_session(self) -> None:
        """Start playing (operations thread): the transport's (Instrument), which Record uses when stopped."""
        raise NotImplementedError
