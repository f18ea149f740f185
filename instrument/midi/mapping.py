"""MIDI mappings: one controller (CC) -> one parameter (`CcMapping`), and the mapping files that hold them.

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
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.vocabulary import N_PROMPT_SLOTS
from instrument.midi.wire import is_int
from instrument.parameters import ParameterSpec, ParameterStore

MAPPING_FORMAT = "cascade-midi-mapping"
MAPPING_VERSION = 1  # newest mapping-file format this code reads and writes
MAX_MAPPING_BYTES = 256 * 1024  # a real mapping file is ~2 kB
CURVES: tuple[str, ...] = ("linear", "log", "exp")
_CURVE_STRENGTH = 4.0  # shape of the "log"/"exp" response: exp(4) ~ 55x slope ratio end to end
MAX_CONTROL = 119  # CC 120..127 are channel-mode messages (all notes off, reset...), never knobs


class MidiMappingError(ValueError):
    """A mapping (or mapping file) that cannot be used; the message names the file and entry."""


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
        if self.channel is not None and not (is_int(self.channel) and 0 <= self.channel <= 15):
            raise MidiMappingError(f"channel must be 0..15 or None, got {self.channel!r}")
        if not (is_int(self.control) and 0 <= self.control <= MAX_CONTROL):
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
        if channel is not None and not (is_int(channel) and 1 <= channel <= 16):
            raise MidiMappingError(f"{where}: midi_channel must be 1..16 or null, got {channel!r}")
        try:
            return cls(None if channel is None else int(channel) - 1, entry["control"], entry["parameter"],
                       entry.get("minimum"), entry.get("maximum"), entry.get("curve", "linear"),
                       entry.get("invert", False), entry.get("fourteen_bit", False))
        except MidiMappingError as exc:
            raise MidiMappingError(f"{where}: {exc}") from None


def validate_mappings(data: object, store: ParameterStore,
                      source: str = "<mapping>") -> tuple[list[CcMapping], dict[int, int], bool, list[str]]:
    """Parse a mapping-file dict: (mappings, note triggers, velocity_sensitive, warnings)."""
    if not isinstance(data, Mapping):
        raise MidiMappingError(f"{source}: not a MIDI mapping (expected a JSON object)")
    if data.get("format") != MAPPING_FORMAT:
        raise MidiMappingError(f"{source}: format is {data.get('format')!r}, expected {MAPPING_FORMAT!r}")
    version = data.get("version")
    if not is_int(version) or not 1 <= version <= MAPPING_VERSION:
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
        if not 0 <= note <= 127 or not (is_int(slot) and 0 <= slot < N_PROMPT_SLOTS):
            raise MidiMappingError(f"{source}: note_triggers: {note_text!r} -> {slot!r} "
                                   f"(need note 0..127 -> slot 0..{N_PROMPT_SLOTS - 1})")
        triggers[note] = int(slot)
    velocity_sensitive = data.get("velocity_sensitive", False)
    if not isinstance(velocity_sensitive, bool):
        raise MidiMappingError(f"{source}: 'velocity_sensitive' must be true or false")
    return mappings, triggers, velocity_sensitive, warnings


def factory_mapping_dir() -> Path:
    """The repository's presets/midi/ folder of controller mapping presets."""
    return Path(__file__).resolve().parents[2] / "presets" / "midi"


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
