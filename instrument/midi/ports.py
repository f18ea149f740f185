"""MIDI input ports: list them (ALSA, then JACK) and open one into a polling `MidiInput`.

Backends: the platform default API (ALSA on Linux) is tried first and may be missing (no sequencer on
the test machines: a plain `rtmidi.MidiIn()` raises); JACK is tried next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from instrument.midi import overflow as midi_overflow
from instrument.midi.clock import MidiClock
from instrument.midi.held_notes import HeldNotes
from instrument.midi.mapper import MidiMapper
from instrument.midi.polling import MidiInput
from instrument.midi.wire import is_int

logger = logging.getLogger(__name__)


class MidiError(RuntimeError):
    """A MIDI port cannot be listed or opened; the message lists the ports there are."""


@dataclass(frozen=True)
class _PortEntry:
    api: int
    api_name: str
    index: int  # index within that API's port list
    name: str


_default_api_failed = False  # remembered: each failed ALSA probe prints an alsa-lib error to stderr


def _enumerate_inputs(client_name: str = "Cascade-probe") -> list[_PortEntry]:
    """Input ports of the platform default API (ALSA may be missing: skipped), then of JACK."""
    global _default_api_failed
    import rtmidi

    entries: list[_PortEntry] = []
    seen_apis: set[int] = set()
    attempts: list[int | None] = [rtmidi.API_UNIX_JACK] if _default_api_failed else [None, rtmidi.API_UNIX_JACK]
    for api in attempts:
        try:
            probe = rtmidi.MidiIn(name=client_name) if api is None else rtmidi.MidiIn(rtapi=api, name=client_name)
        except Exception as exc:  # e.g. "error creating ALSA sequencer client object"
            logger.debug("MIDI API %s unavailable: %s", "default" if api is None else api, exc)
            if api is None:
                _default_api_failed = True
            continue
        try:
            actual = probe.get_current_api()
            if actual in seen_apis:
                continue
            seen_apis.add(actual)
            for index, name in enumerate(probe.get_ports()):
                entries.append(_PortEntry(actual, rtmidi.get_api_name(actual), index, name))
        except Exception as exc:
            logger.debug("listing MIDI ports failed: %s", exc)
        finally:
            probe.delete()
    return entries


def list_midi_inputs() -> list[str]:
    """Names of the MIDI input ports there are (default API first, then JACK); may be empty."""
    return [entry.name for entry in _enumerate_inputs()]


def open_midi_input(port: str | int | None, client_name: str = "Cascade", *, mapper: MidiMapper | None = None,
                    clock: MidiClock | None = None, held_notes: HeldNotes | None = None,
                    start: bool = True) -> MidiInput:
    """Open an input port by index into list_midi_inputs(), by name (exact, else the first
    case-insensitive substring match), or the first port for None; starts polling unless start=False.
    MidiError listing the available ports when nothing matches."""
    import rtmidi

    entries = _enumerate_inputs()
    available = ", ".join(f"{i}: {e.name!r}" for i, e in enumerate(entries)) or "none"
    chosen: _PortEntry | None = None
    if port is None:
        chosen = entries[0] if entries else None
    elif is_int(port):
        chosen = entries[port] if 0 <= port < len(entries) else None
    elif isinstance(port, str):
        exact = [e for e in entries if e.name == port]
        partial = [e for e in entries if port.casefold() in e.name.casefold()]
        chosen = (exact or partial or [None])[0]
        if not exact and len(partial) > 1:
            logger.warning("MIDI port %r matches %d ports; using %r", port, len(partial), partial[0].name)
    if chosen is None:
        raise MidiError(f"no MIDI input port matches {port!r}; available: {available}")
    overflow = midi_overflow.acquire()  # before the port opens: a flood may already be waiting
    try:
        midi_in = rtmidi.MidiIn(rtapi=chosen.api, name=client_name)
        midi_in.ignore_types(sysex=True, timing=False, active_sense=True)  # keep clock, drop sysex floods
        midi_in.open_port(chosen.index, name="midi_in")
    except Exception as exc:
        if overflow is not None:
            midi_overflow.release()
        raise MidiError(f"cannot open MIDI input {chosen.name!r} ({chosen.api_name}): {exc}; "
                        f"available: {available}") from exc
    midi_input = MidiInput(midi_in, chosen.name, mapper=mapper, clock=clock, held_notes=held_notes,
                           overflow=overflow)
    if start:
        midi_input.start()
    return midi_input

