"""The app's MIDI: the input port (list, open, close), controller presets (CC mappings) and MIDI learn."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from instrument.controller.base import ControllerBase
from instrument.controller.config import user_mapping_dir
from instrument.midi import (CcMapping, MidiError, MidiMappingError, factory_mapping_dir, list_midi_inputs,
                             load_mapping_file, open_midi_input, save_mapping_file)
from instrument.presets import preset_file_name


class MidiControl(ControllerBase):
    """MIDI input and mappings (a part of Instrument)."""

    midi_ports: list[str]
    midi_ports_version: int
    mapping_version: int  # bumped when mappings change (learn, controller preset, removal)
    controller_preset: str

    def refresh_midi_ports(self) -> Future:
        def scan() -> None:
            self.midi_ports = list_midi_inputs()
            self.midi_ports_version += 1
        return self._submit("listing MIDI inputs", scan)

    def open_midi(self, port: str | int | None) -> Future:
        """Open an input port (None: the first there is; "" or "none" closes the current one)."""
        def swap() -> None:
            old, self.midi_input = self.midi_input, None
            if old is not None:
                old.close()
            if port in ("", "none"):
                return
            try:
                self.midi_input = open_midi_input(port, mapper=self.mapper, clock=self.clock,
                                                  held_notes=self.held_notes)
            except MidiError as error:
                self.post("error", str(error))
            self.midi_ports = list_midi_inputs()
            self.midi_ports_version += 1
        return self._submit("opening the MIDI input", swap)

    @property
    def midi_port_name(self) -> str | None:
        return None if self.midi_input is None else self.midi_input.port_name

    def controller_presets(self) -> list[tuple[str, Path]]:
        """(name, path) of factory then user controller mappings."""
        found = [(p.stem, p) for p in sorted(factory_mapping_dir().glob("*.json"))]
        user = user_mapping_dir()
        if user.is_dir():
            found += [(f"{p.stem} (user)", p) for p in sorted(user.glob("*.json"))]
        return found

    def load_controller_preset(self, name: str) -> bool:
        """Replace the CC mappings with a controller preset (name from controller_presets(), a stem, or a path)."""
        path = next((p for n, p in self.controller_presets() if name in (n, p.stem)), Path(name))
        try:
            self.mapper.load_mappings(load_mapping_file(path), source=str(path))
        except MidiMappingError as error:
            self.post("error", str(error))
            return False
        self.controller_preset = name
        self.mapping_version += 1
        return True

    def save_controller_preset(self, name: str) -> Path:
        path = user_mapping_dir() / preset_file_name(name)
        save_mapping_file(path, self.mapper.mappings_to_json(name=name))
        self.controller_preset = f"{path.stem} (user)"
        return path

    def arm_learn(self, parameter: str) -> None:
        self.mapper.arm_learn(parameter)
        self.mapping_version += 1

    def cancel_learn(self) -> None:
        self.mapper.cancel_learn()
        self.mapping_version += 1

    def forget_mappings(self, parameter: str) -> int:
        removed = self.mapper.remove_mappings(parameter=parameter)
        self.mapping_version += 1
        return removed

    def remove_mapping(self, mapping: CcMapping) -> None:
        self.mapper.remove_mappings(parameter=mapping.parameter, control=mapping.control)
        self.mapping_version += 1

    def _on_learned(self, mapping: CcMapping) -> None:  # MIDI thread
        channel = "any channel" if mapping.channel is None else f"channel {mapping.channel + 1}"
        self.post("info", f"MIDI learn: CC {mapping.control} ({channel}) -> {mapping.parameter}")
        self.mapping_version += 1

