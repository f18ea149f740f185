"""The app's presets: load (all or nothing), modified-since-loaded, revert, save and save-as, and the drawn
descriptor curves a preset keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instrument.controller.base import ControllerBase
from instrument.presets import (FoundPreset, PresetError, PresetInfo, apply_preset, find_preset, list_presets,
                                load_preset_file, preset_file_name, preset_from_store, save_preset_file,
                                user_preset_dir, validate_curves)


class PresetControl(ControllerBase):
    """Presets and drawn curves (a part of Instrument)."""

    current_preset: PresetInfo | None
    current_preset_data: dict | None
    preset_version: int  # store version right after the preset was applied or saved
    # Drawn descriptor curves (what presets save): parameter -> {"points": [real units], "playing": bool}.
    curves: dict[str, dict[str, Any]]
    curves_version: int
    _preset_curves_version: int

    def presets(self) -> list[PresetInfo]:
        return list_presets()

    def load_preset_named(self, name: str) -> None:
        """A preset by name (a user preset replaces a factory one of the same name; "factory:NAME" / "user:NAME"
        pick one) or a .json path; PresetError if none, with a broken file's own error (file, line)."""
        self._apply_found(find_preset(name))

    def load_preset(self, info: PresetInfo) -> None:
        """Apply a preset, all or nothing: a broken file raises PresetError and leaves the sound as it was."""
        preset, warnings = load_preset_file(info.path)  # a broken curve raises here: nothing changed yet
        self._apply_found(FoundPreset(info, preset, tuple(warnings)))

    def _apply_found(self, found: FoundPreset) -> None:
        preset, info = found.preset, found.info
        apply_preset(self.store, preset)
        self._set_preset_curves(preset)
        text = found.banner_text()  # every problem in one message: the banner shows one at a time
        if text is not None:
            self.post("warning" if found.warnings else "info", text)
        self.current_preset = PresetInfo(preset["name"], info.path, info.is_factory, preset["description"])
        self.current_preset_data = preset
        self.preset_version = self.store.version

    @property
    def preset_modified(self) -> bool:
        """Changed since loaded or saved: a drawn curve, or a parameter changed by anything but a playing curve
        (the curve is what the preset keeps, so its writes are the preset playing, not a change)."""
        if self.current_preset is None:
            return False
        if self.curves_version != self._preset_curves_version:
            return True
        if self.store.version == self.preset_version:
            return False
        changes = self.store.changes_since(self.preset_version)
        if not changes or changes[0].version > self.preset_version + 1:  # the history no longer reaches back
            return True
        return any(change.source != "curve" for change in changes)

    def revert_preset(self) -> None:
        if self.current_preset_data is None:
            raise PresetError("no preset loaded to revert to")
        apply_preset(self.store, self.current_preset_data)
        self._set_preset_curves(self.current_preset_data)
        self.preset_version = self.store.version

    def _set_preset_curves(self, preset: dict) -> None:
        """A preset is a whole sound: its curves replace the drawn ones (none drawn when it has none)."""
        self.curves = {name: {"points": list(curve["points"]), "playing": bool(curve["playing"])}
                       for name, curve in preset.get("curves", {}).items()}
        self.curves_version += 1
        self._preset_curves_version = self.curves_version

    def set_curve(self, name: str, points: list[float] | None = None, playing: bool | None = None) -> None:
        """A drawn curve (real units, validated and clamped as a preset's) or its play switch changed (GUI
        thread). Raises PresetError for a curve a preset could not hold; nothing changes then."""
        current = self.curves.get(name)
        curve = {"points": list(points) if points is not None else (current["points"] if current else None),
                 "playing": bool(playing) if playing is not None else bool(current and current["playing"])}
        if curve["points"] is None:  # the play switch of a lane never drawn: nothing a preset needs to keep
            return
        clean, _warnings = validate_curves({name: curve}, "<drawn curve>")
        if self.curves.get(name) == clean[name]:
            return
        self.curves = {**self.curves, name: clean[name]}
        self.curves_version += 1

    def save_preset(self) -> Path:
        """Overwrite the current user preset; a factory preset is saved as a user copy of the same name."""
        if self.current_preset is None:
            raise PresetError("no preset loaded: use Save As")
        if self.current_preset.is_factory:
            return self.save_preset_as(self.current_preset.name)
        return self._save(self.current_preset.path, self.current_preset.name, self.current_preset.description)

    def save_preset_as(self, name: str, description: str = "") -> Path:
        name = name.strip()
        if not name:
            raise PresetError("a preset needs a name")
        return self._save(user_preset_dir() / preset_file_name(name), name, description)

    def _save(self, path: Path, name: str, description: str) -> Path:
        preset = preset_from_store(self.store, name, description, curves=self.curves)
        save_preset_file(path, preset)
        self.current_preset = PresetInfo(preset["name"], path, False, preset["description"])
        self.current_preset_data = preset
        self.preset_version = self.store.version
        self._preset_curves_version = self.curves_version
        return path

