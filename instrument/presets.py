"""JSON presets: the whole instrument state by parameter name, in real units, with a format version.

A preset file looks like::

    {"format": "cascade-preset", "version": 2, "name": "Default", "description": "...",
     "parameters": {"cfg_scale": 4.0, "sampler": "dpmpp_2m", "fx_limiter_enabled": true, ...},
     "prompts": ["Genre: house | ...", "", "", ""],
     "curves": {"brightness_hz": {"points": [800.0, 950.0, ...64 values], "playing": true}}}

"curves" (version 2; optional, so version 1 presets load unchanged) holds the app's drawn descriptor
curves: CURVE_STEPS points over a 4-bar loop in the parameter's real units, and whether the curve plays.
A curve value out of range is clamped with a warning; a curve that is not a list of CURVE_STEPS finite
numbers, or a play flag that is not true/false, makes the whole preset unusable (PresetError naming the
curve and the point), so nothing of it is applied.

Choice parameters are stored by label ("dpmpp_2m", "A", "minor"), so reordering a choice list in a later
version does not silently change old presets. Loading is forgiving about values (unknown names and bad
values are dropped with a warning, out-of-range values clamped with a warning) and strict about
structure (a file that is not a preset at all raises PresetError naming the file).

Factory presets live in the repository's presets/ folder; user presets in the user's data folder. By name
(`find_preset`, `--preset`), a user preset replaces a factory preset of the same name (saving a factory
preset in the app makes such a copy); "factory:NAME" and "user:NAME" reach either one. A file's problems
(wrong types, unknown keys, out-of-range values) come back as warnings that the CLI prints and the app shows
on its banner; a file that cannot be read or parsed is a PresetError naming the file, the line and the column.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import re
import reprlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from instrument.parameters import (
    MAX_PROMPT_CHARS,
    N_PROMPT_SLOTS,
    PARAMETER_SPECS,
    ParameterSpec,
    ParameterStore,
    clean_prompt_text,
)

logger = logging.getLogger(__name__)

PRESET_FORMAT = "cascade-preset"
PRESET_VERSION = 2  # the newest format version this code reads and writes (2: drawn curves)
MAX_PRESET_BYTES = 1024 * 1024  # a real preset is ~2 kB; anything huge is not a preset
MAX_NAME_CHARS = 200
USER_DIR_ENV = "CASCADE_USER_DIR"

_SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETER_SPECS}
_TOP_LEVEL_KEYS = frozenset({"format", "version", "name", "description", "parameters", "prompts", "curves"})
CURVE_PARAMETERS: tuple[str, ...] = ("loudness_db", "brightness_hz", "noisiness", "density")  # drawable
CURVE_STEPS = 64  # points per drawn curve (one per 16th note of the 4-bar loop; gui.widgets.CurveLane.STEPS)
# Flat spellings of tonics (captions use them now and then); stored labels are the sharp names.
_FLAT_TONICS: dict[str, str] = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}

_short_repr = reprlib.Repr()
_short_repr.maxlevel = 2  # warnings quote bad values; a deeply nested fuzz value must not blow up repr
_short_repr.maxstring = 40
_short_repr.maxother = 40


class PresetError(ValueError):
    """A preset that cannot be used at all; the message names the file and the problem."""


@dataclass(frozen=True)
class PresetInfo:
    """One entry of list_presets(): a usable preset (error is None) or a broken file with its error."""

    name: str
    path: Path
    is_factory: bool
    description: str = ""
    error: str | None = None
    warnings: tuple[str, ...] = ()


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
        if clamped:
            unit = f" {spec.unit}" if spec.unit else ""
            warnings.append(f"{source}: curve {name}: {clamped} point{'s' if clamped > 1 else ''} outside "
                            f"[{spec.minimum:g}, {spec.maximum:g}]{unit}; clamped")
        playing = curve.get("playing", False)
        if not isinstance(playing, bool):
            raise PresetError(f"{source}: curve {name}: 'playing' must be true or false, "
                              f"got {_short_repr.repr(playing)}")
        curves[name] = {"points": clean_points, "playing": playing}
    return curves, warnings


def validate_preset(data: object, source: str = "<preset>") -> tuple[dict, list[str]]:
    """(clean preset, warnings) for any JSON-like value; PresetError when it is not a usable preset.

    The clean preset has the same layout as the file, with "parameters" holding only known names and
    clamped values in real units (float; int for int parameters; bool; choice parameters as their label),
    "prompts" exactly four cleaned strings and "curves" the validated drawn curves ({} when there are none).
    Parameters a preset leaves out are not filled in here (see apply_preset).
    """
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

    warnings: list[str] = []
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            warnings.append(f"{source}: unknown field {_short_repr.repr(key)} ignored")

    raw_parameters = data.get("parameters", {})
    if not isinstance(raw_parameters, dict):
        raise PresetError(f"{source}: 'parameters' must be an object, got {type(raw_parameters).__name__}")
    raw_prompts = data.get("prompts", [])
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
    prompts += [""] * (N_PROMPT_SLOTS - len(prompts))

    name = data.get("name", "")
    if not isinstance(name, str) or not _clean_label(name, MAX_NAME_CHARS):
        if "name" in data:
            warnings.append(f"{source}: 'name' must be a non-empty string; using the file name")
        name = Path(source).stem if source != "<preset>" else "Untitled"
    description = data.get("description", "")
    if not isinstance(description, str):
        warnings.append(f"{source}: 'description' must be a string; ignored")
        description = ""

    parameters: dict[str, float | int | bool | str] = {}
    for param_name, raw in raw_parameters.items():
        spec = _SPECS.get(param_name) if isinstance(param_name, str) else None
        if spec is None:
            warnings.append(f"{source}: unknown parameter {_short_repr.repr(param_name)} ignored")
            continue
        stored = _validate_parameter(spec, raw, source, warnings)
        if stored is not None:
            parameters[param_name] = _to_json_value(spec, stored)

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


# --- files ------------------------------------------------------------------------------------------


def _line_column(data: bytes, position: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, position) + 1
    column = position - (data.rfind(b"\n", 0, position) + 1) + 1
    return line, column


def load_preset_file(path: str | os.PathLike[str]) -> tuple[dict, list[str]]:
    """(clean preset, warnings) from a file; PresetError naming the file for anything unusable."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PRESET_BYTES + 1)  # read no more than the limit, whatever the file says
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset ({exc.strerror or exc})") from exc
    if len(data) > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: larger than {MAX_PRESET_BYTES // 1024} KiB; not a preset")
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        line, column = _line_column(data, exc.start + offset)
        raise PresetError(f"{path}: not valid UTF-8 at line {line}, column {column} ({exc.reason})") from exc
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise PresetError(f"{path}: JSON nested too deeply") from exc
    return validate_preset(parsed, str(path))


def save_preset_file(path: str | os.PathLike[str], preset: dict) -> None:
    """Validate `preset` and write it atomically (temporary file + os.replace) as pretty UTF-8 JSON.

    A crash mid-write leaves either the old file or the new one, never half of each.
    """
    path = Path(path)
    clean, _ = validate_preset(preset, str(path))
    text = json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


# --- applying ---------------------------------------------------------------------------------------


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


# --- locations --------------------------------------------------------------------------------------


def factory_preset_dir() -> Path:
    """The repository's presets/ folder (read-only factory presets)."""
    return Path(__file__).resolve().parent.parent / "presets"


def user_preset_dir() -> Path:
    """The user's presets folder, created on demand; $CASCADE_USER_DIR replaces the platform data folder."""
    base = os.environ.get(USER_DIR_ENV) or platformdirs.user_data_dir("cascade")
    directory = Path(base) / "presets"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def preset_file_name(name: str) -> str:
    """A safe file name for a preset name: "Lo-fi Study!" -> "lo-fi-study.json"."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:80]
    return f"{slug or 'preset'}.json"


def _info(path: Path, is_factory: bool) -> PresetInfo:
    try:
        preset, warnings = load_preset_file(path)
    except PresetError as exc:
        return PresetInfo(path.stem, path, is_factory, error=str(exc))
    return PresetInfo(preset["name"], path, is_factory, preset["description"], None, tuple(warnings))


def list_presets() -> list[PresetInfo]:
    """Factory presets then user presets, each sorted by file name; broken files listed with their error."""
    infos: list[PresetInfo] = []
    factory = factory_preset_dir()
    if factory.is_dir():
        infos += [_info(p, True) for p in sorted(factory.glob("*.json"))]
    try:
        user = user_preset_dir()
    except OSError as exc:  # an unwritable data folder must not hide the factory presets
        logger.warning("cannot open the user preset folder: %s", exc)
    else:
        infos += [_info(p, False) for p in sorted(user.glob("*.json"))]
    return infos


# --- finding one by name ----------------------------------------------------------------------------

FACTORY_PREFIX = "factory:"  # "factory:Default": the factory preset, even when a user preset has its name
USER_PREFIX = "user:"  # "user:Default": only the user's own presets


@dataclass(frozen=True)
class FoundPreset:
    """A preset `find_preset` picked: its entry, its clean data, the problems its file had (each one ignored or
    clamped, the rest applied) and notes on the choice (a user preset hiding a factory one of the same name)."""

    info: PresetInfo
    preset: dict
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def banner_text(self) -> str | None:
        """One line for the app's banner (it shows one message at a time): every problem, without the file's
        path before each (the path starts the line once); None when there is nothing to say."""
        prefix = f"{self.info.path}: "
        problems = [w[len(prefix):] if w.startswith(prefix) else w for w in self.warnings]
        if not problems:
            return " ".join(self.notes) or None
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        return (f"Preset {self.preset['name']!r} ({self.info.path}): {count}, the rest applied: "
                + "; ".join(problems) + (" " + " ".join(self.notes) if self.notes else ""))


def _names(info: PresetInfo, wanted: str) -> bool:
    """`wanted` names `info`: its name (any case), its file name without .json, or the name it was saved as."""
    return (info.name.casefold() == wanted.casefold() or info.path.stem == wanted
            or info.path.name == preset_file_name(wanted))


def find_preset(name: str) -> FoundPreset:
    """The preset `name` names, loaded: a path ending in .json; "factory:NAME" or "user:NAME" (only that kind);
    or a bare NAME: the user's preset of that name when there is one (saving a factory preset in the app makes
    a user copy of the same name, which then replaces it), else the factory one, with a note saying how to
    reach the one that is hidden.

    PresetError naming the file with its own error (invalid JSON with its line and column, say) when NAME
    names only broken files, or "no preset named" with the ones there are. A broken user file that a bare
    NAME would have picked is skipped with a warning when a factory preset of that name can play instead."""
    candidate = Path(name)
    if candidate.suffix.lower() == ".json" and (candidate.exists() or os.sep in name):
        preset, warnings = load_preset_file(candidate)
        return FoundPreset(PresetInfo(preset["name"], candidate, False, preset["description"]), preset,
                           tuple(warnings))
    kinds: tuple[bool, ...] = (False, True)  # user first, then factory
    wanted = name.strip()
    for prefix, only in ((FACTORY_PREFIX, (True,)), (USER_PREFIX, (False,))):
        if wanted.casefold().startswith(prefix):
            wanted, kinds = wanted[len(prefix):].strip(), only
    infos = list_presets()
    broken: list[PresetInfo] = []
    for is_factory in kinds:
        for info in (i for i in infos if i.is_factory == is_factory and _names(i, wanted)):
            if info.error is not None:
                broken.append(info)
                continue
            try:
                preset, warnings = load_preset_file(info.path)
            except PresetError as exc:  # changed since it was listed
                broken.append(PresetInfo(info.name, info.path, info.is_factory, error=str(exc)))
                continue
            kind = "factory" if is_factory else "user"
            skipped = [f"{b.error}; using the {kind} preset {preset['name']!r} ({info.path}) instead" for b in broken]
            notes: list[str] = []
            hidden = [i for i in infos if i.is_factory and i.error is None and _names(i, wanted)]
            if not is_factory and len(kinds) == 2 and hidden:
                notes.append(f"The user preset {preset['name']!r} ({info.path}) hides the factory one of that "
                             f"name; '{FACTORY_PREFIX}{hidden[0].name}' loads the factory preset.")
            return FoundPreset(info, preset, tuple(skipped + warnings), tuple(notes))
    if broken:
        raise PresetError(broken[0].error)
    groups = {kind: ", ".join(sorted(i.path.stem for i in infos if i.is_factory == kind and i.error is None))
              for kind in (True, False)}
    raise PresetError(f"no preset named {name!r}; available: factory: {groups[True] or 'none'}; "
                      f"user: {groups[False] or 'none'} (a user preset replaces a factory one of the same name; "
                      f"'{FACTORY_PREFIX}NAME' or '{USER_PREFIX}NAME' picks one)")
