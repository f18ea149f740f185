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

# One job per module: `format` (build, validate and apply a preset), `files` (read and write one),
# `library` (the folders, the list, finding one by name).
from instrument.presets.files import MAX_PRESET_BYTES, load_preset_file, save_preset_file
from instrument.presets.format import (CURVE_PARAMETERS, CURVE_STEPS, MAX_NAME_CHARS, PRESET_FORMAT, PRESET_VERSION,
                                       PresetError, apply_preset, preset_from_store, validate_curves,
                                       validate_preset)
from instrument.presets.library import (FACTORY_PREFIX, USER_DIR_ENV, USER_PREFIX, FoundPreset, PresetInfo,
                                        factory_preset_dir, find_preset, list_presets, preset_file_name,
                                        user_preset_dir)

__all__ = [
    "CURVE_PARAMETERS", "CURVE_STEPS", "FACTORY_PREFIX", "MAX_NAME_CHARS", "MAX_PRESET_BYTES", "PRESET_FORMAT",
    "PRESET_VERSION", "USER_DIR_ENV", "USER_PREFIX", "FoundPreset", "PresetError", "PresetInfo", "apply_preset",
    "factory_preset_dir", "find_preset", "list_presets", "load_preset_file", "preset_file_name",
    "preset_from_store", "save_preset_file", "user_preset_dir", "validate_curves", "validate_preset",
]
