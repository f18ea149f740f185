"""The preset library: the factory and user folders, listing what is there, finding one by name."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from instrument.presets.files import load_preset_file
from instrument.presets.format import PresetError

logger = logging.getLogger(__name__)

USER_DIR_ENV = "CASCADE_USER_DIR"


@dataclass(frozen=True)
class PresetInfo:
    """One entry of list_presets(): a usable preset (error is None) or a broken file with its error."""

    name: str
    path: Path
    is_factory: bool
    description: str = ""
    error: str | None = None
    warnings: tuple[str, ...] = ()


def factory_preset_dir() -> Path:
    """The repository's presets/ folder (read-only factory presets)."""
    return Path(__file__).resolve().parents[2] / "presets"


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
