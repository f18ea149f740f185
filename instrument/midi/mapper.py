"""The MIDI mapper: CC and note messages -> the parameter store, with MIDI learn and note triggers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.vocabulary import N_PROMPT_SLOTS
from instrument.midi.mapping import (MAPPING_FORMAT, MAPPING_VERSION, MAX_CONTROL, CcMapping, MidiMappingError,
                                     validate_mappings)
from instrument.midi.wire import (ACTIVE_SENSING, CHANNEL_PRESSURE, CLOCK_STATUSES, CONTROL_CHANGE, NOTE_OFF, NOTE_ON,
                                  PITCH_BEND, POLY_PRESSURE, PROGRAM_CHANGE, SYSEX_END, SYSEX_START, is_int)
from instrument.parameters import ParameterSpec, ParameterStore

logger = logging.getLogger(__name__)

LearnListener = Callable[[CcMapping], None]


class MidiMapper:
    """CC and note messages -> parameter store. Thread-safe: the GUI may edit mappings or arm learn while
    the MIDI thread calls `handle`; listeners run on the MIDI thread, outside the lock.

    Note triggers (`note_triggers`: note number -> prompt slot 0..3): a note-on sets that slot's
    prompt weight to 1 and the other three to 0 (velocity_sensitive: the slot's weight becomes
    velocity/127 instead of 1; the others still go to 0). Note-offs do nothing: the blend latches.
    """

    def __init__(self, store: ParameterStore, mappings: Sequence[CcMapping] = (),
                 note_triggers: Mapping[int, int] | None = None, velocity_sensitive: bool = False) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._mappings: list[CcMapping] = []
        self._note_triggers: dict[int, int] = {}
        self.velocity_sensitive = bool(velocity_sensitive)
        self._learn_parameter: str | None = None
        self._learn_listeners: list[LearnListener] = []
        self._msb: dict[tuple[int, int], int] = {}  # (channel, control 0..31) -> last MSB, for 14-bit CCs
        self._last_change_s: dict[str, float] = {}
        self._ignored: dict[str, int] = {}
        self.handled_count = 0
        for mapping in mappings:
            self.add_mapping(mapping)
        if note_triggers:
            self.set_note_triggers(note_triggers)

    # --- editing ---------------------------------------------------------------------------------------

    def _check_parameter(self, name: str) -> ParameterSpec:
        try:
            return self._store.spec(name)
        except KeyError as exc:
            raise MidiMappingError(exc.args[0] if exc.args else f"unknown parameter {name!r}") from None

    def add_mapping(self, mapping: CcMapping) -> None:
        """Add `mapping`, replacing one with the same channel, control and parameter. One CC may drive
        several parameters (a macro knob); MidiMappingError for an unknown parameter."""
        self._check_parameter(mapping.parameter)
        with self._lock:
            self._mappings = [m for m in self._mappings
                              if (m.channel, m.control, m.parameter) != (mapping.channel, mapping.control,
                                                                         mapping.parameter)]
            self._mappings.append(mapping)

    def remove_mappings(self, parameter: str | None = None, control: int | None = None) -> int:
        """Remove mappings matching the given parameter and/or control; returns how many went."""
        with self._lock:
            keep = [m for m in self._mappings
                    if not ((parameter is None or m.parameter == parameter)
                            and (control is None or m.control == control))]
            removed = len(self._mappings) - len(keep)
            self._mappings = keep
        return removed

    @property
    def mappings(self) -> tuple[CcMapping, ...]:
        with self._lock:
            return tuple(self._mappings)

    @property
    def note_triggers(self) -> dict[int, int]:
        with self._lock:
            return dict(self._note_triggers)

    def set_note_triggers(self, triggers: Mapping[int, int]) -> None:
        cleaned: dict[int, int] = {}
        for note, slot in triggers.items():
            if not (is_int(note) and 0 <= note <= 127):
                raise MidiMappingError(f"note trigger: note must be 0..127, got {note!r}")
            if not (is_int(slot) and 0 <= slot < N_PROMPT_SLOTS):
                raise MidiMappingError(f"note trigger {note}: slot must be 0..{N_PROMPT_SLOTS - 1}, got {slot!r}")
            cleaned[int(note)] = int(slot)
        with self._lock:
            self._note_triggers = cleaned

    # --- MIDI learn ------------------------------------------------------------------------------------

    def arm_learn(self, parameter: str) -> None:
        """Bind the next CC (any channel) to `parameter`; that CC's channel is recorded in the mapping.
        Earlier mappings of that parameter and of that CC (on that channel) are replaced."""
        self._check_parameter(parameter)
        with self._lock:
            self._learn_parameter = parameter

    def cancel_learn(self) -> None:
        with self._lock:
            self._learn_parameter = None

    @property
    def learning(self) -> str | None:
        """The parameter armed for learn, or None."""
        with self._lock:
            return self._learn_parameter

    def add_learn_listener(self, callback: LearnListener) -> Callable[[], None]:
        """`callback(mapping)` after each learned binding (on the MIDI thread); returns an unsubscribe."""
        with self._lock:
            self._learn_listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._learn_listeners:
                    self._learn_listeners.remove(callback)

        return unsubscribe

    # --- diagnostics -----------------------------------------------------------------------------------

    @property
    def ignored_count(self) -> int:
        with self._lock:
            return sum(self._ignored.values())

    def ignored_by_reason(self) -> dict[str, int]:
        with self._lock:
            return dict(self._ignored)

    def last_change_time(self, parameter: str) -> float | None:
        """The `timestamp_seconds` (MidiInput passes time.monotonic()) of the last CC or note that moved
        `parameter`, for knob-to-sound latency measurements; None if MIDI never touched it."""
        with self._lock:
            return self._last_change_s.get(parameter)

    def _ignore(self, reason: str) -> None:
        with self._lock:
            self._ignored[reason] = self._ignored.get(reason, 0) + 1

    # --- handling --------------------------------------------------------------------------------------

    def handle(self, message: Sequence[int], timestamp_seconds: float) -> None:
        """Apply one raw MIDI message. Never raises: anything unusable is counted and dropped."""
        try:
            self._handle(message, timestamp_seconds)
        except Exception:  # a bad message or a broken listener must not kill the MIDI thread
            logger.debug("MIDI message %r failed", message, exc_info=True)
            self._ignore("error")

    def _handle(self, message: Sequence[int], timestamp_seconds: float) -> None:
        if not isinstance(message, (list, tuple, bytes, bytearray)) or not message:
            self._ignore("malformed")
            return
        status = message[0]
        if not is_int(status) or not 0 <= status <= 0xFF:
            self._ignore("malformed")
            return
        if status < 0x80:  # running status or a stray data byte: rtmidi delivers whole messages
            self._ignore("stray_data")
            return
        if status >= 0xF0:
            reason = {SYSEX_START: "sysex", SYSEX_END: "sysex", ACTIVE_SENSING: "active_sensing"}.get(status)
            self._ignore(reason or ("clock" if status in CLOCK_STATUSES else "system"))
            return
        kind, channel = status & 0xF0, status & 0x0F
        expected_length = 2 if kind in (PROGRAM_CHANGE, CHANNEL_PRESSURE) else 3
        data = message[1:]
        if len(message) != expected_length or not all(is_int(b) and 0 <= b < 0x80 for b in data):
            self._ignore("malformed")
            return
        if kind == CONTROL_CHANGE:
            self._control_change(channel, data[0], data[1], timestamp_seconds)
        elif kind == NOTE_ON and data[1] > 0:
            self._note_on(data[0], data[1], timestamp_seconds)
        else:  # note-off, pressure, program change, pitch bend: not mapped (yet)
            self._ignore({NOTE_ON: "note_off", NOTE_OFF: "note_off", PITCH_BEND: "pitch_bend",
                          CHANNEL_PRESSURE: "channel_pressure", POLY_PRESSURE: "poly_pressure",
                          PROGRAM_CHANGE: "program_change"}[kind])

    def _control_change(self, channel: int, control: int, value: int, timestamp_seconds: float) -> None:
        if control > MAX_CONTROL:
            self._ignore("channel_mode")
            return
        learned: CcMapping | None = None
        with self._lock:
            if self._learn_parameter is not None:
                learned = CcMapping(channel, control, self._learn_parameter)
                self._mappings = [m for m in self._mappings if m.parameter != learned.parameter
                                  and not (m.control == control and m.channel == channel)]
                self._mappings.append(learned)
                self._learn_parameter = None
                listeners = list(self._learn_listeners)
            if control < 32:
                self._msb[(channel, control)] = value
            targets: list[tuple[CcMapping, float]] = []
            for mapping in self._mappings:
                if mapping.matches(channel, control):
                    targets.append((mapping, value / 127.0))
                elif (32 <= control < 64 and mapping.fourteen_bit and mapping.matches(channel, control - 32)
                      and (channel, control - 32) in self._msb):
                    # The LSB refines the value the MSB already set: 14-bit resolution.
                    targets.append((mapping, ((self._msb[(channel, control - 32)] << 7) | value) / 16383.0))
        if not targets:
            self._ignore("unmapped_cc")
        for mapping, position in targets:
            self._apply(mapping.parameter, mapping.value_for(self._store.spec(mapping.parameter), position),
                        timestamp_seconds)
        if learned is not None:
            logger.info("MIDI learn: CC %d on channel %d -> %s", control, channel + 1, learned.parameter)
            for listener in listeners:
                try:
                    listener(learned)
                except Exception:
                    logger.exception("MIDI learn listener %r failed", listener)

    def _note_on(self, note: int, velocity: int, timestamp_seconds: float) -> None:
        with self._lock:
            slot = self._note_triggers.get(note)
        if slot is None:
            self._ignore("unmapped_note")
            return
        weight = velocity / 127.0 if self.velocity_sensitive else 1.0
        # Separate store writes (not atomic): an engine snapshot taken mid-way may see a partial blend for
        # one chunk; the triggered slot is written last so the final state is always the intended one.
        for other in range(N_PROMPT_SLOTS):
            if other != slot:
                self._apply(f"prompt_{other + 1}_weight", 0.0, timestamp_seconds)
        self._apply(f"prompt_{slot + 1}_weight", weight, timestamp_seconds)

    def _apply(self, parameter: str, value: float, timestamp_seconds: float) -> None:
        self._store.set(parameter, value, source="midi")
        with self._lock:
            self._last_change_s[parameter] = timestamp_seconds
            self.handled_count += 1

    # --- mapping presets -------------------------------------------------------------------------------

    def mappings_to_json(self, name: str = "", description: str = "") -> dict[str, Any]:
        """The mappings and note triggers as a JSON-ready dict (the mapping-file format)."""
        with self._lock:
            return {"format": MAPPING_FORMAT, "version": MAPPING_VERSION, "name": name,
                    "description": description, "mappings": [m.to_json() for m in self._mappings],
                    "note_triggers": {str(note): slot for note, slot in sorted(self._note_triggers.items())},
                    "velocity_sensitive": self.velocity_sensitive}

    def load_mappings(self, data: object, source: str = "<mapping>") -> list[str]:
        """Replace all mappings and note triggers with those in `data` (a parsed mapping file).

        Strict about structure (MidiMappingError naming `source` and the entry: wrong format, bad
        channel/control/curve); mappings to parameters this build does not have are dropped with a
        warning (a file from a newer or older version). Nothing changes when it raises. Returns the
        warnings.
        """
        mappings, triggers, velocity_sensitive, warnings = validate_mappings(data, self._store, source)
        with self._lock:
            self._mappings = mappings
            self._note_triggers = triggers
            self._msb.clear()
            self.velocity_sensitive = velocity_sensitive
        for warning in warnings:
            logger.warning("%s", warning)
        return warnings
