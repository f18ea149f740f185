"""MIDI input: controller knobs -> parameter store, MIDI learn, note triggers and MIDI clock.

Threads (ARCHITECTURE.md section 3): one daemon polling thread per open input owns the rtmidi port. It
drains every pending message each loop (then sleeps ~1 ms) and hands each one to a `MidiMapper` (CCs,
notes -> parameter store) and a `MidiClock` (0xF8 ticks, start/stop -> tempo and bar phase). Polling
`get_message()` is used instead of `set_callback` because a callback delivered duplicates under a burst
on the test machines. Nothing here raises out of the polling thread: malformed input is counted and
dropped, and a vanished port sets `MidiInput.lost` instead of taking the app down.

Backends: the platform default API (ALSA on Linux) is tried first and may be missing (no sequencer on
the test machines: a plain `rtmidi.MidiIn()` raises); JACK is tried next.

Mapping presets (per controller) are JSON files::

    {"format": "cascade-midi-mapping", "version": 1, "name": "Generic 8 knobs", "description": "...",
     "mappings": [{"midi_channel": null, "control": 21, "parameter": "cfg_scale",
                   "minimum": null, "maximum": null, "curve": "linear", "invert": false}],
     "note_triggers": {"36": 0, "37": 1}, "velocity_sensitive": false}

`midi_channel` in JSON is 1..16 as controllers display it (null = any channel); `CcMapping.channel` is
the wire value 0..15. The two spellings have different names on purpose so they cannot be confused.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instrument import midi_overflow
from instrument.parameters import CLOCK_SOURCE, ParameterSpec, ParameterStore

logger = logging.getLogger(__name__)

MAPPING_FORMAT = "cascade-midi-mapping"
MAPPING_VERSION = 1  # newest mapping-file format this code reads and writes
MAX_MAPPING_BYTES = 256 * 1024  # a real mapping file is ~2 kB
CURVES: tuple[str, ...] = ("linear", "log", "exp")
_CURVE_STRENGTH = 4.0  # shape of the "log"/"exp" response: exp(4) ~ 55x slope ratio end to end
MAX_CONTROL = 119  # CC 120..127 are channel-mode messages (all notes off, reset...), never knobs
N_PROMPT_SLOTS = 4

# Status bytes.
NOTE_OFF, NOTE_ON, POLY_PRESSURE, CONTROL_CHANGE = 0x80, 0x90, 0xA0, 0xB0
PROGRAM_CHANGE, CHANNEL_PRESSURE, PITCH_BEND = 0xC0, 0xD0, 0xE0
SYSEX_START, MTC_QUARTER_FRAME, SONG_POSITION, SONG_SELECT, TUNE_REQUEST, SYSEX_END = (
    0xF0, 0xF1, 0xF2, 0xF3, 0xF6, 0xF7)
CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, ACTIVE_SENSING, SYSTEM_RESET = (
    0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF)
TICKS_PER_QUARTER = 24
_CLOCK_STATUSES = frozenset({CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, SONG_POSITION})


class MidiError(RuntimeError):
    """A MIDI port cannot be listed or opened; the message lists the ports there are."""


class MidiMappingError(ValueError):
    """A mapping (or mapping file) that cannot be used; the message names the file and entry."""


# --- mappings ---------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _shape(position: float, curve: str) -> float:
    """Knob position 0..1 shaped by the mapping's curve (endpoints fixed)."""
    if curve == "exp":  # slow start: fine control near the minimum (an audio-taper pot)
        return math.expm1(_CURVE_STRENGTH * position) / math.expm1(_CURVE_STRENGTH)
    if curve == "log":  # fast start: fine control near the maximum (the inverse of "exp")
        return math.log1p(math.expm1(_CURVE_STRENGTH) * position) / _CURVE_STRENGTH
    return position


@dataclass(frozen=True)
class CcMapping:
    """One controller (CC) -> one parameter.

    channel: wire channel 0..15, or None for any channel. control: CC number 0..119.
    minimum/maximum: the parameter range the knob sweeps, in the parameter's real units (None = the
    parameter's own minimum/maximum; minimum > maximum is allowed and sweeps downwards).
    curve: "linear" moves along the parameter's own knob curve (so a log-curve Hz parameter stays
    logarithmic); "exp" gives fine control near `minimum`, "log" fine control near `maximum`.
    invert: knob at 0 gives `maximum`. fourteen_bit: for controls 0..31, also take CC control+32 as the
    LSB of a 14-bit value. Opt-in because many controllers use CC 32..63 as independent buttons
    (nanoKONTROL2's solo buttons are CC 32..39).
    """

    channel: int | None
    control: int
    parameter: str
    minimum: float | None = None
    maximum: float | None = None
    curve: str = "linear"
    invert: bool = False
    fourteen_bit: bool = False

    def __post_init__(self) -> None:
        if self.channel is not None and not (_is_int(self.channel) and 0 <= self.channel <= 15):
            raise MidiMappingError(f"channel must be 0..15 or None, got {self.channel!r}")
        if not (_is_int(self.control) and 0 <= self.control <= MAX_CONTROL):
            raise MidiMappingError(f"control must be an int 0..{MAX_CONTROL}, got {self.control!r}")
        if not isinstance(self.parameter, str) or not self.parameter:
            raise MidiMappingError(f"parameter must be a non-empty name, got {self.parameter!r}")
        for label in ("minimum", "maximum"):
            bound = getattr(self, label)
            if bound is not None and (not isinstance(bound, numbers.Real) or isinstance(bound, bool)
                                      or not math.isfinite(float(bound))):
                raise MidiMappingError(f"{label} must be a finite number or None, got {bound!r}")
        if self.curve not in CURVES:
            raise MidiMappingError(f"curve must be one of {CURVES}, got {self.curve!r}")
        if not isinstance(self.invert, bool) or not isinstance(self.fourteen_bit, bool):
            raise MidiMappingError("invert and fourteen_bit must be true/false")
        if self.fourteen_bit and self.control > 31:
            raise MidiMappingError(f"fourteen_bit needs an MSB control 0..31, got {self.control}")

    def matches(self, channel: int, control: int) -> bool:
        return control == self.control and (self.channel is None or self.channel == channel)

    def value_for(self, spec: ParameterSpec, position: float) -> float:
        """The parameter value (real units, clamped by the spec) for knob position 0..1."""
        position = min(1.0, max(0.0, position))
        if self.invert:
            position = 1.0 - position
        low = spec.minimum if self.minimum is None else spec.clamp(self.minimum)
        high = spec.maximum if self.maximum is None else spec.clamp(self.maximum)
        # Interpolate in the spec's normalised space: "linear" then follows the parameter's own curve.
        low_n, high_n = spec.to_normalised(low), spec.to_normalised(high)
        return spec.from_normalised(low_n + _shape(position, self.curve) * (high_n - low_n))

    def to_json(self) -> dict[str, Any]:
        return {"midi_channel": None if self.channel is None else self.channel + 1, "control": self.control,
                "parameter": self.parameter, "minimum": self.minimum, "maximum": self.maximum,
                "curve": self.curve, "invert": self.invert, "fourteen_bit": self.fourteen_bit}

    @classmethod
    def from_json(cls, entry: object, where: str) -> CcMapping:
        if not isinstance(entry, Mapping):
            raise MidiMappingError(f"{where}: a mapping must be an object, got {type(entry).__name__}")
        unknown = set(entry) - {"midi_channel", "control", "parameter", "minimum", "maximum", "curve", "invert",
                                "fourteen_bit", "label"}
        if unknown:
            raise MidiMappingError(f"{where}: unknown keys {sorted(map(str, unknown))}")
        for key in ("control", "parameter"):
            if key not in entry:
                raise MidiMappingError(f"{where}: missing {key!r}")
        channel = entry.get("midi_channel")
        if channel is not None and not (_is_int(channel) and 1 <= channel <= 16):
            raise MidiMappingError(f"{where}: midi_channel must be 1..16 or null, got {channel!r}")
        try:
            return cls(None if channel is None else int(channel) - 1, entry["control"], entry["parameter"],
                       entry.get("minimum"), entry.get("maximum"), entry.get("curve", "linear"),
                       entry.get("invert", False), entry.get("fourteen_bit", False))
        except MidiMappingError as exc:
            raise MidiMappingError(f"{where}: {exc}") from None


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
            if not (_is_int(note) and 0 <= note <= 127):
                raise MidiMappingError(f"note trigger: note must be 0..127, got {note!r}")
            if not (_is_int(slot) and 0 <= slot < N_PROMPT_SLOTS):
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
        if not _is_int(status) or not 0 <= status <= 0xFF:
            self._ignore("malformed")
            return
        if status < 0x80:  # running status or a stray data byte: rtmidi delivers whole messages
            self._ignore("stray_data")
            return
        if status >= 0xF0:
            reason = {SYSEX_START: "sysex", SYSEX_END: "sysex", ACTIVE_SENSING: "active_sensing"}.get(status)
            self._ignore(reason or ("clock" if status in _CLOCK_STATUSES else "system"))
            return
        kind, channel = status & 0xF0, status & 0x0F
        expected_length = 2 if kind in (PROGRAM_CHANGE, CHANNEL_PRESSURE) else 3
        data = message[1:]
        if len(message) != expected_length or not all(_is_int(b) and 0 <= b < 0x80 for b in data):
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


def validate_mappings(data: object, store: ParameterStore,
                      source: str = "<mapping>") -> tuple[list[CcMapping], dict[int, int], bool, list[str]]:
    """Parse a mapping-file dict: (mappings, note triggers, velocity_sensitive, warnings)."""
    if not isinstance(data, Mapping):
        raise MidiMappingError(f"{source}: not a MIDI mapping (expected a JSON object)")
    if data.get("format") != MAPPING_FORMAT:
        raise MidiMappingError(f"{source}: format is {data.get('format')!r}, expected {MAPPING_FORMAT!r}")
    version = data.get("version")
    if not _is_int(version) or not 1 <= version <= MAPPING_VERSION:
        raise MidiMappingError(f"{source}: unsupported version {version!r} (this build reads 1..{MAPPING_VERSION})")
    entries = data.get("mappings", [])
    if not isinstance(entries, list):
        raise MidiMappingError(f"{source}: 'mappings' must be a list")
    warnings: list[str] = []
    mappings: list[CcMapping] = []
    for index, entry in enumerate(entries):
        mapping = CcMapping.from_json(entry, f"{source}: mappings[{index}]")
        if mapping.parameter not in store.specs:
            warnings.append(f"{source}: mappings[{index}]: unknown parameter {mapping.parameter!r} dropped")
            continue
        mappings.append(mapping)
    raw_triggers = data.get("note_triggers", {})
    if not isinstance(raw_triggers, Mapping):
        raise MidiMappingError(f"{source}: 'note_triggers' must be an object of note -> slot")
    triggers: dict[int, int] = {}
    for note_text, slot in raw_triggers.items():
        try:
            note = int(note_text)  # JSON object keys are strings
        except (TypeError, ValueError):
            raise MidiMappingError(f"{source}: note_triggers: {note_text!r} is not a note number") from None
        if not 0 <= note <= 127 or not (_is_int(slot) and 0 <= slot < N_PROMPT_SLOTS):
            raise MidiMappingError(f"{source}: note_triggers: {note_text!r} -> {slot!r} "
                                   f"(need note 0..127 -> slot 0..{N_PROMPT_SLOTS - 1})")
        triggers[note] = int(slot)
    velocity_sensitive = data.get("velocity_sensitive", False)
    if not isinstance(velocity_sensitive, bool):
        raise MidiMappingError(f"{source}: 'velocity_sensitive' must be true or false")
    return mappings, triggers, velocity_sensitive, warnings


def factory_mapping_dir() -> Path:
    """The repository's presets/midi/ folder of controller mapping presets."""
    return Path(__file__).resolve().parent.parent / "presets" / "midi"


def load_mapping_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a mapping file as a dict (MidiMappingError for unreadable, huge or non-JSON files);
    pass it to `MidiMapper.load_mappings(data, source=str(path))` to validate and apply it."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MAPPING_BYTES:
            raise MidiMappingError(f"{path}: too large for a MIDI mapping")
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except MidiMappingError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MidiMappingError(f"{path}: cannot read MIDI mapping: {exc}") from None


def save_mapping_file(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write a mapping dict atomically (temporary file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


# --- MIDI clock -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockDisplay:
    """What the app shows of an external MIDI clock (MidiClock.display_state)."""

    running: bool
    tempo_bpm: float | None  # measured from the ticks; None until enough ticks came
    bar: int  # 1-based, bars of beats_per_bar quarter notes since song position 0
    beat: int  # 1-based within the bar
    silent_s: float | None  # seconds since the last tick (None: no tick yet)


class MidiClock:
    """Follows an external MIDI clock: tempo from 0xF8 ticks, transport from start/continue/stop.

    Tempo is the least-squares slope of tick time against tick number over the last `window_ticks`
    ticks: it uses every tick, so per-tick jitter (scheduling, JACK's period quantisation: every event
    lands on a ~5-12 ms period boundary) averages out, where a median of intervals would lock onto the
    quantisation steps. A gap longer than `gap_reset_s` (a paused clock) restarts the window.

    Phase is tick-quantised (1/24 beat). Per the MIDI spec, after start (0xFA) the *next* tick is
    beat 0; ticks while stopped update the tempo but do not advance the position. A song position
    pointer (0xF2) sets where the next tick lands. All timestamps are seconds on one monotonic timeline.

    Between ticks, `phase_anchor()` says where the beat is in time (for the engine's bar grid): the arrival
    times of the recent running ticks (`arrival_s`, time.monotonic(); the timestamp when not given) are
    fitted with the tempo's slope, so one late tick (a JACK period, a busy poll thread) moves the anchor by
    1/window of its lateness, not by all of it.
    """

    def __init__(self, store: ParameterStore | None = None, beats_per_bar: int = 4, window_ticks: int = 96,
                 min_ticks_for_tempo: int = 24, publish_threshold_bpm: float = 0.5,
                 gap_reset_s: float = 0.5, latency_offset_s: float = 0.0) -> None:
        if beats_per_bar < 1 or window_ticks < 3 or not 2 <= min_ticks_for_tempo <= window_ticks:
            raise ValueError("need beats_per_bar >= 1 and 2 <= min_ticks_for_tempo <= window_ticks")
        self._store = store
        self.latency_offset_s = latency_offset_s
        self.beats_per_bar = beats_per_bar
        self.publish_threshold_bpm = publish_threshold_bpm
        self.gap_reset_s = gap_reset_s
        self._min_ticks = min_ticks_for_tempo
        self._lock = threading.Lock()
        self._tick_times_s: deque[float] = deque(maxlen=window_ticks)
        self._tempo_bpm: float | None = None
        self._published_bpm: float | None = None
        self._running = False
        self._position_ticks = 0  # ticks since song position 0 (24 per quarter note)
        self._next_position: int | None = None  # where the next tick lands after start / SPP
        self._phase_ticks: deque[tuple[int, float]] = deque(maxlen=window_ticks)  # (position, arrival s), running
        self.tick_count = 0
        self.ignored_count = 0
        self.messages_seen = 0  # clock, transport and song position messages handled
        self._last_tick_arrival_s: float | None = None

    def display_state(self, now_s: float | None = None) -> ClockDisplay | None:
        """Transport, tempo and bar/beat for a display; None while no clock message has arrived at all.
        now_s: time.monotonic() (the arrival timeline) for `silent_s`."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            if not self.messages_seen:
                return None
            beats = self._position_ticks // TICKS_PER_QUARTER
            last = self._last_tick_arrival_s
            return ClockDisplay(self._running, self._tempo_bpm, beats // self.beats_per_bar + 1,
                                beats % self.beats_per_bar + 1, None if last is None else max(0.0, now_s - last))

    @property
    def tempo_bpm(self) -> float | None:
        with self._lock:
            return self._tempo_bpm

    @property
    def latency_offset_s(self) -> float:
        """How long a clock message takes from the sender to us (MIDI transport: JACK delivers at period
        boundaries, ~6.5 ms measured with a 512-frame period; a USB interface adds its own). The phase
        anchor is moved earlier by this much, so the sender's bar lines and ours coincide. Settable live."""
        return self._latency_offset_s

    @latency_offset_s.setter
    def latency_offset_s(self, seconds: float) -> None:
        seconds = float(seconds)
        if not math.isfinite(seconds) or not -0.5 <= seconds <= 0.5:
            raise ValueError(f"MIDI clock latency offset must be within +-500 ms, got {seconds!r}")
        self._latency_offset_s = seconds

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    @property
    def position_ticks(self) -> int:
        with self._lock:
            return self._position_ticks

    @property
    def beat_phase(self) -> float:
        """0..1 within the current quarter note."""
        with self._lock:
            return (self._position_ticks % TICKS_PER_QUARTER) / TICKS_PER_QUARTER

    @property
    def bar_phase(self) -> float:
        """0..1 within the current bar of `beats_per_bar` quarter notes."""
        ticks_per_bar = TICKS_PER_QUARTER * self.beats_per_bar
        with self._lock:
            return (self._position_ticks % ticks_per_bar) / ticks_per_bar

    def phase_anchor(self) -> tuple[float, float, float] | None:
        """(time_s, beats, beats_per_second): the clock was at `beats` (quarter notes since song position 0)
        at `time_s` on the arrival timeline and moves on at `beats_per_second`; None unless it runs with a
        known tempo and has ticked since the last start/continue/song position."""
        with self._lock:
            if not self._running or not self._tempo_bpm or not self._phase_ticks:
                return None
            seconds_per_tick = 60.0 / (self._tempo_bpm * TICKS_PER_QUARTER)
            position = self._position_ticks
            ticks = self._phase_ticks
            # Least squares for the intercept with the slope fixed: the mean of each tick's arrival moved to
            # where `position` would have arrived.
            time_s = sum(t + (position - p) * seconds_per_tick for p, t in ticks) / len(ticks)
            return time_s - self._latency_offset_s, position / TICKS_PER_QUARTER, self._tempo_bpm / 60.0

    def handle(self, message: Sequence[int], timestamp_seconds: float, arrival_s: float | None = None) -> None:
        """Apply one raw MIDI message; everything but clock/transport/SPP is ignored. Never raises.
        timestamp_seconds: the wire-like timeline (tempo); arrival_s: time.monotonic() at arrival (phase)."""
        try:
            self._handle(message, timestamp_seconds, timestamp_seconds if arrival_s is None else arrival_s)
        except Exception:
            logger.debug("MIDI clock message %r failed", message, exc_info=True)
            self.ignored_count += 1

    def _handle(self, message: Sequence[int], timestamp_seconds: float, arrival_s: float) -> None:
        if not isinstance(message, (list, tuple, bytes, bytearray)) or not message:
            return
        status = message[0]
        publish: float | None = None
        with self._lock:
            if status in (CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, SONG_POSITION):
                self.messages_seen += 1
            if status == CLOCK_TICK and len(message) == 1:
                self._last_tick_arrival_s = float(arrival_s)
                publish = self._tick(float(timestamp_seconds), float(arrival_s))
            elif status == CLOCK_START and len(message) == 1:
                self._running = True
                self._position_ticks = 0
                self._next_position = 0
                self._phase_ticks.clear()
            elif status == CLOCK_CONTINUE and len(message) == 1:
                self._running = True
                self._phase_ticks.clear()
            elif status == CLOCK_STOP and len(message) == 1:
                self._running = False
                self._phase_ticks.clear()
            elif (status == SONG_POSITION and len(message) == 3 and all(_is_int(b) and 0 <= b < 0x80
                                                                          for b in message[1:])):
                sixteenths = message[1] | (message[2] << 7)
                self._position_ticks = sixteenths * (TICKS_PER_QUARTER // 4)
                self._next_position = self._position_ticks
                self._phase_ticks.clear()
        if publish is not None and self._store is not None:
            try:
                self._store.set("tempo_bpm", publish, source=CLOCK_SOURCE)
            except KeyError:  # a store without a tempo parameter: the clock still tracks it
                pass

    def _tick(self, time_s: float, arrival_s: float) -> float | None:
        """Called under the lock; returns a tempo to publish, if any."""
        self.tick_count += 1
        times = self._tick_times_s
        if times and not 0.0 < time_s - times[-1] <= self.gap_reset_s:
            times.clear()  # a paused clock (or a timestamp going backwards): start a fresh estimate
            self._phase_ticks.clear()
        if self._running:
            if self._next_position is not None:
                self._position_ticks, self._next_position = self._next_position, None
            else:
                self._position_ticks += 1
            self._phase_ticks.append((self._position_ticks, arrival_s))
        times.append(time_s)
        if len(times) < self._min_ticks + 1:
            return None
        seconds_per_tick = _slope(times)
        if seconds_per_tick <= 0:
            return None
        tempo = 60.0 / (seconds_per_tick * TICKS_PER_QUARTER)
        self._tempo_bpm = tempo
        if self._published_bpm is None or abs(tempo - self._published_bpm) > self.publish_threshold_bpm:
            self._published_bpm = tempo
            return tempo
        return None


def _slope(times: Sequence[float]) -> float:
    """Least-squares slope of times[i] against i."""
    n = len(times)
    mean_i = (n - 1) / 2.0
    mean_t = sum(times) / n
    numerator = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times))
    denominator = n * (n * n - 1) / 12.0  # sum of (i - mean_i)^2
    return numerator / denominator


# --- ports ------------------------------------------------------------------------------------------


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
                    clock: MidiClock | None = None, start: bool = True) -> MidiInput:
    """Open an input port by index into list_midi_inputs(), by name (exact, else the first
    case-insensitive substring match), or the first port for None; starts polling unless start=False.
    MidiError listing the available ports when nothing matches."""
    import rtmidi

    entries = _enumerate_inputs()
    available = ", ".join(f"{i}: {e.name!r}" for i, e in enumerate(entries)) or "none"
    chosen: _PortEntry | None = None
    if port is None:
        chosen = entries[0] if entries else None
    elif _is_int(port):
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
    midi_input = MidiInput(midi_in, chosen.name, mapper=mapper, clock=clock, overflow=overflow)
    if start:
        midi_input.start()
    return midi_input


class MidiInput:
    """Owns one open rtmidi MidiIn and the daemon thread that polls it.

    The thread drains all pending messages, sleeps `poll_interval_s` when idle, and checks every
    `presence_check_s` that the source port still exists: when it vanishes (device unplugged) `lost`
    becomes True and the app keeps running; when a port of that name comes back it is reopened.
    Mapper timestamps are time.monotonic() at arrival (for latency); clock timestamps are rtmidi's own
    delta times accumulated (closer to the wire timing than a poll loop that drains bursts).
    """

    def __init__(self, midi_in: Any, port_name: str, *, mapper: MidiMapper | None = None,
                 clock: MidiClock | None = None, poll_interval_s: float = 0.001,
                 presence_check_s: float = 0.5, overflow: midi_overflow.OverflowSummary | None = None) -> None:
        self._midi_in = midi_in
        self._overflow = overflow  # RtMidi's queue-overflow lines, summarised; released on close
        self.port_name = port_name
        self.mapper = mapper
        self.clock = clock
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
        if status in _CLOCK_STATUSES:
            if self.clock is not None:
                self.clock.handle(message, timeline_s, arrival_s)
        elif self.mapper is not None:
            self.mapper.handle(message, arrival_s)

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
