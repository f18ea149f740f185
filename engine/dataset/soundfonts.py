"""The training pool of General MIDI soundfonts: which ones (`TRAINING_SOUNDFONTS`, all packaged by
Debian), where they are installed, resolving a `--soundfonts` list, and the per-piece choice.

Training renders with several soundfonts so the models hear more than one set of timbres. TimGM6mb is held
out (see `render.is_held_out`): the pool refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.dataset.render import SoundfontMissingError, is_held_out, refuse_held_out


@dataclass(frozen=True)
class TrainingSoundfont:
    """A General MIDI soundfont of the training pool: the file name recorded in the manifest, where
    Debian installs it, and the package that provides it."""

    name: str
    paths: tuple[str, ...]
    package: str
    timbre: str


# Every one has all 128 GM programs and a standard drum kit (measured in docs/dataset.md; the .sf2 ones are
# re-checked by tests/engine/dataset/test_soundfonts.py).
# Deliberately left out: musescore-general-soundfont (the HQ build of the same instruments as the Lite
# one), fluid-soundfont-gs (FluidR3's samples again) and timgm6mb-soundfont (held out: render.HELD_OUT_SOUNDFONT_PREFIXES).
TRAINING_SOUNDFONTS: tuple[TrainingSoundfont, ...] = (
    TrainingSoundfont("FluidR3_GM.sf2", ("/usr/share/sounds/sf2/FluidR3_GM.sf2",), "fluid-soundfont-gm",
                      "Fluid R3, stereo samples, 141 MB"),
    TrainingSoundfont("FluidR3Mono_GM.sf3", ("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
                                             "/usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3"),
                      "fluidr3mono-gm-soundfont", "MuseScore 2's mono, Ogg-compressed edit of Fluid R3"),
    TrainingSoundfont("MuseScore_General_Lite.sf3", ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",),
                      "musescore-general-soundfont-small", "MuseScore 3's General, Ogg-compressed"),
    TrainingSoundfont("OPL-3_FM_128M.sf2", ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2",), "opl3-soundfont",
                      "OPL3 FM-chip emulation (one drum kit)"),
    TrainingSoundfont("sf_GMbank.sf2", ("/usr/share/sounds/sf2/sf_GMbank.sf2", "/usr/share/samples/sf_GMbank.sf2"),
                      "csound-soundfont", "Csound's 4 MB GM bank"),
)


def installed_path(font: TrainingSoundfont) -> Path | None:
    """Where `font` is installed, or None."""
    for candidate in font.paths:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def missing_training_soundfonts() -> list[TrainingSoundfont]:
    return [font for font in TRAINING_SOUNDFONTS if installed_path(font) is None]


def _known_soundfont(entry: str) -> TrainingSoundfont | None:
    """The pool member `entry` names: its file name (with or without extension), its Debian package or
    one of its install paths (case-insensitive)."""
    wanted = entry.strip().lower()
    for font in TRAINING_SOUNDFONTS:
        aliases = {font.name.lower(), Path(font.name).stem.lower(), font.package.lower()}
        aliases.update(candidate.lower() for candidate in font.paths)
        if wanted in aliases:
            return font
    return None


def resolve_soundfont_pool(spec: str | None = "all") -> list[Path]:
    """The training soundfonts for `spec`, sorted by file name (the order soundfont choice indexes).

    spec: "all" (or None) = every installed soundfont of `TRAINING_SOUNDFONTS`; otherwise a comma-separated
    list of pool names (file name, its stem or its Debian package) and/or paths to other GM soundfonts.
    Raises SoundfontMissingError naming the Debian package for a requested pool member that is not
    installed, and HeldOutSoundfontError for TimGM6mb.
    """
    if spec is None or spec.strip().lower() in ("", "all"):
        paths = _installed_pool()
    else:
        paths = _named_pool(spec)
    return _sorted_by_file_name(paths)


def _installed_pool() -> list[Path]:
    paths = [path for path in map(installed_path, TRAINING_SOUNDFONTS) if path is not None]
    if not paths:
        packages = " ".join(font.package for font in TRAINING_SOUNDFONTS)
        raise SoundfontMissingError(
            f"No training soundfont is installed. Install Debian's packages: `sudo apt-get install {packages}` "
            "(scripts/setup.sh does)")
    return paths


def _named_pool(spec: str) -> list[Path]:
    """The soundfonts a comma-separated list names; every pool member not installed is named in one error."""
    paths: list[Path] = []
    not_installed: list[TrainingSoundfont] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        if is_held_out(entry):
            refuse_held_out(entry)
        font = _known_soundfont(entry)
        if font is not None:
            path = installed_path(font)
            if path is None:
                not_installed.append(font)
                continue
        elif Path(entry).is_file():
            path = Path(entry)
        else:
            known = ", ".join(f"{f.name} ({f.package})" for f in TRAINING_SOUNDFONTS)
            raise SoundfontMissingError(
                f"Soundfont {entry} does not exist and is not a training soundfont name; known: {known}, "
                "or give the path of a .sf2/.sf3 file")
        paths.append(path)
    if not_installed:
        raise SoundfontMissingError(
            "Not installed: " + ", ".join(f"{f.name} (Debian package {f.package}, looked in "
                                          f"{', '.join(f.paths)})" for f in not_installed)
            + ". Install with `sudo apt-get install " + " ".join(f.package for f in not_installed) + "`")
    if not paths:
        raise SoundfontMissingError(f"--soundfonts {spec!r} names no soundfont")
    return paths


def _sorted_by_file_name(paths: list[Path]) -> list[Path]:
    """One path per file name (the manifest records soundfonts by name), none held out, sorted by name."""
    by_name: dict[str, Path] = {}
    for path in paths:
        refuse_held_out(path)
        other = by_name.setdefault(path.name, path)
        if other != path and other.resolve() != path.resolve():
            raise SoundfontMissingError(f"two soundfonts share the file name {path.name} ({other}, {path}); "
                                        "the manifest records soundfonts by file name")
    return [by_name[name] for name in sorted(by_name)]


def choose_soundfont(pool: list[Path], seed: int, index: int) -> Path:
    """The soundfont of piece `index`: uniform over the pool, from (seed, index) alone and from a stream of
    its own, so any worker (or a resumed build) makes the same choice, and a pool of one changes nothing
    else in the piece."""
    if len(pool) == 1:
        return pool[0]
    return pool[int(np.random.default_rng([seed, index, 0x5F]).integers(len(pool)))]
