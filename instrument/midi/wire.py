"""MIDI on the wire: status bytes and the one integer check every parser here uses."""

from __future__ import annotations

import numbers

# Status bytes.
NOTE_OFF, NOTE_ON, POLY_PRESSURE, CONTROL_CHANGE = 0x80, 0x90, 0xA0, 0xB0
PROGRAM_CHANGE, CHANNEL_PRESSURE, PITCH_BEND = 0xC0, 0xD0, 0xE0
SYSEX_START, MTC_QUARTER_FRAME, SONG_POSITION, SONG_SELECT, TUNE_REQUEST, SYSEX_END = (
    0xF0, 0xF1, 0xF2, 0xF3, 0xF6, 0xF7)
CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, ACTIVE_SENSING, SYSTEM_RESET = (
    0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF)
TICKS_PER_QUARTER = 24
# The messages the clock follows (MidiInput hands these to MidiClock, everything else to MidiMapper).
CLOCK_STATUSES = frozenset({CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, SONG_POSITION})


def is_int(value: object) -> bool:
    """An integer that is not a bool (JSON true must not pass as a channel or note)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
