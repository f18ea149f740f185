"""The preset format: building a preset from the store, validating any JSON-like value, applying one.

Choice parameters are stored by label ("dpmpp_2m", "A", "minor"), so reordering a choice list in a later
version does not silently change old presets. Validation is forgiving about values (unknown names and bad
values are dropped with a warning, out-of-range values clamped with a warning) and strict about structure
(a value that is not a preset at all raises PresetError naming the source).
"""

from __future__ import annotations

import logging
import math
import numbers
import reprlib
from collections.abc import Mapping
from pathlib import Path

from engine.vocabulary import DESCRIPTORS, N_PROMPT_SLOTS
from instrument.parameters import MAX_PROMPT_CHARS, PARAMETER_SPECS, ParameterSpec, ParameterStore, clean_prompt_text

logger = logging.getLogger(__name__)

PRESET_FORMAT = "cascade-preset"
PRESET_VERSION = 2  # the newest format version this code reads and writes (2: drawn curves)
MAX_NAME_CHARS = 200

_SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETER_SPECS}
_TOP_LEVEL_KEYS = frozenset({"format", "version", "name", "description", "parameters", "prompts", "curves"})
CURVE_PARAMETERS: tuple[str, ...] = tuple(d.parameter for d in DESCRIPTORS)  # drawable: the four descriptors
CURVE_STEPS = 64  # points per drawn curve (one per 16th note of the 4-bar loop; gui.widgets.CurveLane.STEPS)
# Flat spellings of tonics (captions use them now and then); stored labels are the sharp names.
_FLAT_TONICS: dict[str, str] = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}

_short_repr = reprlib.Repr()
_short_repr.maxlevel = 2  # warnings quote bad values; a deeply nested fuzz value must not blow up repr
_short_repr.maxstring = 40
_short_repr.maxother = 40


class PresetError(ValueError):
    """A preset that cannot be used at all; the message names the file and the problem."""


# --- building and validating ------------------------------------------------------------------------


def _to_json_value(spec: ParameterSpec, value: float) -> float | int | bool | str:
    # The most readable JSON type for each kind: labels for choices, true/false, integers.
    if spec.kind == "choice":
        return spec.choice_label(value)
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "int":
        return int(value)
    return float(value)


def preset_from_store(store: ParameterStore, name: str, description: str = "",
                      curves: Mapping[str, Mapping] | None = None) -> dict:
    """The store's current state as a preset dict (every parameter, all four prompt texts, and the drawn
    `curves` when given: parameter -> {"points": [real units], "playing": bool})."""
    snapshot = store.snapshot()
    parameters = {}
    for param_name, value in snapshot.values.items():
        spec = store.spec(param_name)
        if param_name in _SPECS:  # a store built from other specs may hold names presets cannot carry
            parameters[param_name] = _to_json_value(spec, value)
    return {
        "format": PRESET_FORMAT,
        "version": PRESET_VERSION,
        "name": _clean_label(name, MAX_NAME_CHARS),
        "description": _clean_label(description, MAX_PROMPT_CHARS),
        "parameters": parameters,
        "prompts": list(snapshot.prompt_texts),
        "curves": {name: {"points": [float(p) for p in curve["points"]], "playing": bool(curve["playing"])}
                   for name, curve in (curves or {}).items()},
    }


def _clean_label(text: object, max_chars: int) -> str:
    if not isinstance(text, str):
        return ""
    try:
        return clean_prompt_text(text)[:max_chars]
    except ValueError:
        return ""


def _validate_parameter(spec: ParameterSpec, raw: object, where: str, warnings: list[str]) -> float | None:
    """The stored value for `raw`, or None (with a warning) when it must be dropped."""
    shown = _short_repr.repr(raw)
    if spec.kind == "choice":
        if not isinstance(raw, str):
            warnings.append(f"{where}: {spec.name} must be one of {list(spec.choices)}, got {shown}; ignored")
            return None
        label = _FLAT_TONICS.get(raw.strip(), raw.strip()) if spec.name == "key" else raw.strip()
        try:
            return spec.choice_index(label)
        except ValueError:
            warnings.append(f"{where}: {spec.name} has unknown choice {shown} "
                            f"(expected one of {list(spec.choices)}); ignored")
            return None
    if isinstance(raw, bool) and spec.kind != "bool":  # JSON true for a number is a mistake, not 1.0
        warnings.append(f"{where}: {spec.name} must be a number, got {shown}; ignored")
        return None
    if not isinstance(raw, numbers.Real):
        warnings.append(f"{where}: {spec.name} must be a number, got {shown}; ignored")
        return None
    try:
        number = float(raw)
    except OverflowError:
        number = math.inf if raw > 0 else -math.inf
    if not math.isfinite(number):
        warnings.append(f"{where}: {spec.name} is not a finite number ({shown}); ignored")
        return None
    stored = spec.clamp(number)
    if stored != number:
        unit = f" {spec.unit}" if spec.unit else ""
        warnings.append(f"{where}: {spec.name} = {shown} is outside [{spec.minimum:g}, {spec.maximum:g}]{unit} "
                        f"or not a valid {spec.kind}; using {stored:g}")
    return stored


def validate_curves(raw: object, source: str = "<preset>") -> tuple[dict[str, dict], list[str]]:
    """(clean curves, warnings) for a preset's "curves" value; PresetError for a broken curve.

    Clean: parameter -> {"points": CURVE_STEPS floats clamped to the parameter's range, "playing": bool}.
    Unknown parameter names are dropped with a warning (as unknown parameters are); out-of-range points are
    clamped with one warning per curve; anything else wrong is an error that names the curve and the point.
    """
    if not isinstance(raw, dict):
        raise PresetError(f"{source}: 'curves' must be an object (parameter -> curve), got {type(raw).__name__}")
    curves: dict[str, dict] = {}
    warnings: list[str] = []
    for name, curve in raw.items():
        if not isinstance(name, str) or name not in CURVE_PARAMETERS:
            warnings.append(f"{source}: curve for unknown parameter {_short_repr.repr(name)} ignored "
                            f"(curves can drive {', '.join(CURVE_PARAMETERS)})")
            continue
        curves[name] = _validate_curve(name, curve, source, warnings)
    return curves, warnings


def _validate_curve(name: str, curve: object, source: str, warnings: list[str]) -> dict:
    """One drawn curve -> {"points", "playing"}; warnings for unknown fields and clamped points."""
    spec = _SPECS[name]
    if isinstance(curve, list):  # the bare list of points is accepted too (not playing)
        curve = {"points": curve}
    if not isinstance(curve, dict):
        raise PresetError(f"{source}: curve {name} must be an object with 'points' and 'playing', "
                          f"got {_short_repr.repr(curve)}")
    for key in curve:
        if key not in ("points", "playing"):
            warnings.append(f"{source}: curve {name}: unknown field {_short_repr.repr(key)} ignored")
    points = curve.get("points")
    if not isinstance(points, list) or len(points) != CURVE_STEPS:
        count = f"{len(points)} values" if isinstance(points, list) else _short_repr.repr(points)
        raise PresetError(f"{source}: curve {name} must have {CURVE_STEPS} points, got {count}")
    clean_points, clamped = _clamped_curve_points(name, spec, points, source)
    if clamped:
        unit = f" {spec.unit}" if spec.unit else ""
        warnings.append(f"{source}: curve {name}: {clamped} point{'s' if clamped > 1 else ''} outside "
                        f"[{spec.minimum:g}, {spec.maximum:g}]{unit}; clamped")
    playing = curve.get("playing", False)
    if not isinstance(playing, bool):
        raise PresetError(f"{source}: curve {name}: 'playing' must be true or false, "
                          f"got {_short_repr.repr(playing)}")
    return {"points": clean_points, "playing": playing}


def _clamped_curve_points(name: str, spec: ParameterSpec, points: list, source: str) -> tuple[list[float], int]:
    """(the points clamped to the spec's range, how many were clamped); PresetError for a non-finite point."""
    clean_points: list[float] = []
    clamped = 0
    for index, point in enumerate(points):
        number: float | None = None
        if isinstance(point, numbers.Real) and not isinstance(point, bool):
            try:
                number = float(point)
            except OverflowError:
                number = None
        if number is None or not math.isfinite(number):
            raise PresetError(f"{source}: curve {name}, point {index + 1}: "
                              f"{_short_repr.repr(point)} is not a finite number")
        stored = spec.clamp(number)
        clamped += stored != number
        clean_points.append(float(stored))
    return clean_points, clamped


def validate_preset(data: object, source: str = "<preset>") -> tuple[dict, list[str]]:
    """(clean preset, warnings) for any JSON-like value; PresetError when it is not a usable preset.

    The clean preset has the same layout as the file, with "parameters" holding only known names and
    clamped values in real units (float; int for int parameters; bool; choice parameters as their label),
    "prompts" exactly four cleaned strings and "curves" the validated drawn curves ({} when there are none).
    Parameters a preset leaves out are not filled in here (see apply_preset).
    """
    data = _checked_header(data, source)
    warnings: list[str] = []
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            warnings.append(f"{source}: unknown field {_short_repr.repr(key)} ignored")
    raw_parameters = data.get("parameters", {})
    if not isinstance(raw_parameters, dict):
        raise PresetError(f"{source}: 'parameters' must be an object, got {type(raw_parameters).__name__}")
    prompts = _validate_prompts(data.get("prompts", []), source, warnings)
    name, description = _validate_name_and_description(data, source, warnings)
    parameters = _validate_parameters(raw_parameters, source, warnings)
    curves, curve_warnings = validate_curves(data.get("curves", {}), source)
    warnings += curve_warnings
    clean = {
        "format": PRESET_FORMAT,
        "version": PRESET_VERSION,
        "name": _clean_label(name, MAX_NAME_CHARS) or "Untitled",
        "description": _clean_label(description, MAX_PROMPT_CHARS),
        "parameters": parameters,
        "prompts": prompts,
        "curves": curves,
    }
    return clean, warnings


def _checked_header(data: object, source: str) -> dict:
    """`data` when it is a preset object of a format version this code reads; PresetError otherwise."""
    if not isinstance(data, dict):
        raise PresetError(f"{source}: a preset must be a JSON object, got {type(data).__name__}")
    if data.get("format") != PRESET_FORMAT:
        raise PresetError(f"{source}: not a Cascade preset (format is {_short_repr.repr(data.get('format'))}, "
                          f"expected {PRESET_FORMAT!r})")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PresetError(f"{source}: version must be a positive integer, got {_short_repr.repr(version)}")
    if version > PRESET_VERSION:
        raise PresetError(f"{source}: preset format version {version} is newer than this Cascade supports "
                          f"({PRESET_VERSION}); update Cascade to load it")
    return data


def _validate_prompts(raw_prompts: object, source: str, warnings: list[str]) -> list[str]:
    """Exactly N_PROMPT_SLOTS cleaned prompt texts (missing ones empty); PresetError for a non-string."""
    if not isinstance(raw_prompts, list) or len(raw_prompts) > N_PROMPT_SLOTS:
        raise PresetError(f"{source}: 'prompts' must be a list of at most {N_PROMPT_SLOTS} strings")
    prompts: list[str] = []
    for slot, text in enumerate(raw_prompts):
        if not isinstance(text, str):
            raise PresetError(f"{source}: prompt {slot + 1} must be a string, got {type(text).__name__}")
        try:
            cleaned = clean_prompt_text(text)
        except ValueError as exc:
            raise PresetError(f"{source}: prompt {slot + 1}: {exc}") from exc
        if cleaned != text.strip():
            warnings.append(f"{source}: prompt {slot + 1} had control characters or was longer than "
                            f"{MAX_PROMPT_CHARS} characters; cleaned")
        prompts.append(cleaned)
    return prompts + [""] * (N_PROMPT_SLOTS - len(prompts))


def _validate_name_and_description(data: dict, source: str, warnings: list[str]) -> tuple[str, str]:
    """(name, description) as given, or the file name / "" with a warning when they are not usable strings."""
    name = data.get("name", "")
    if not isinstance(name, str) or not _clean_label(name, MAX_NAME_CHARS):
        if "name" in data:
            warnings.append(f"{source}: 'name' must be a non-empty string; using the file name")
        name = Path(source).stem if source != "<preset>" else "Untitled"
    description = data.get("description", "")
    if not isinstance(description, str):
        warnings.append(f"{source}: 'description' must be a string; ignored")
        description = ""
    return name, description


def _validate_parameters(raw_parameters: dict, source: str,
                         warnings: list[str]) -> dict[str, float | int | bool | str]:
    """Known parameters only, each clamped and in its JSON type; unknown names and bad values dropped (warned)."""
    parameters: dict[str, float | int | bool | str] = {}
    for param_name, raw in raw_parameters.items():
        spec = _SPECS.get(param_name) if isinstance(param_name, str) else None
        if spec is None:
            warnings.append(f"{source}: unknown parameter {_short_repr.repr(param_name)} ignored")
            continue
        stored = _validate_parameter(spec, raw, source, warnings)
        if stored is not None:
            parameters[param_name] = _to_json_value(spec, stored)
    return parameters


# --- applying --------------------------------------------------------------------------------------


def apply_preset(store: ParameterStore, preset: Mapping, *, merge: bool = False, source: str = "preset") -> None:
    """Set the store from `preset`, all or nothing: it is validated first, then stored in one atomic step.

    Parameters the preset leaves out go back to their defaults (a preset is a whole sound), unless
    `merge` is true, in which case they keep their current values. Prompts the preset leaves out are
    emptied. Raises PresetError (store unchanged) when the preset is unusable; value warnings are logged.
    """
    clean, warnings = validate_preset(dict(preset) if isinstance(preset, Mapping) else preset)
    for warning in warnings:
        logger.warning("%s", warning)
    values: dict[str, float] = {}
    for name in store.specs:
        if name in clean["parameters"]:
            raw = clean["parameters"][name]
            spec = store.spec(name)
            values[name] = spec.choice_index(raw) if spec.kind == "choice" else float(raw)
        elif not merge:
            values[name] = float(store.spec(name).default)
    try:
        store.set_many(values, clean["prompts"], source=source)
    except (TypeError, ValueError, KeyError) as exc:  # set_many stores nothing when it raises
        raise PresetError(f"<preset>: cannot apply: {exc}") from exc
