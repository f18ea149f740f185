"""A piece as MIDI (pretty_midi) and its instruments' names for captions."""

from __future__ import annotations

import re

import pretty_midi

from engine.dataset.score import Piece, Track


def piece_to_pretty_midi(piece: Piece) -> pretty_midi.PrettyMIDI:
    """MIDI with the piece's constant tempo, time signature, programs (drum kit for drums) and pan."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=piece.tempo_bpm, resolution=960)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(piece.beats_per_bar, 4, 0.0))
    for track in piece.tracks:
        program = track.drum_kit if track.is_drum else track.program  # GM kit = program change on ch. 10
        inst = pretty_midi.Instrument(program=program, is_drum=track.is_drum, name=track.name)
        inst.control_changes.append(pretty_midi.ControlChange(10, int(round(track.pan * 127)), 0.0))
        for note in track.notes:
            inst.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch,
                                               start=note.start_seconds, end=note.end_seconds))
        pm.instruments.append(inst)
    return pm


_DRUM_KIT_NAMES: dict[int, str] = {0: "drum kit", 8: "room drum kit", 16: "power drum kit",
                                   24: "electronic drum kit", 25: "808 drum machine", 32: "jazz drum kit",
                                   40: "brush kit", 48: "orchestral percussion"}
_NAME_OVERRIDES: dict[int, str] = {
    0: "piano", 1: "bright piano", 4: "electric piano", 5: "electric piano", 6: "harpsichord",
    24: "nylon-string guitar", 25: "steel-string acoustic guitar", 26: "jazz guitar",
    27: "clean electric guitar", 28: "muted electric guitar", 29: "overdriven guitar",
    30: "distortion guitar", 32: "upright bass", 33: "electric bass", 34: "picked electric bass",
    35: "fretless bass", 36: "slap bass", 37: "slap bass", 38: "synth bass", 39: "synth bass",
    45: "pizzicato strings", 48: "string ensemble", 49: "string ensemble", 50: "synth strings",
    62: "synth brass", 87: "bass-and-lead synth", 16: "organ", 17: "percussive organ", 18: "rock organ", 110: "fiddle",
}


def instrument_name(track: Track) -> str:
    """Human-readable instrument name for captions."""
    if track.is_drum:
        return _DRUM_KIT_NAMES.get(track.drum_kit, "drum kit")
    if track.program in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[track.program]
    name = pretty_midi.program_to_instrument_name(track.program).lower()
    m = re.match(r"^(lead|pad|fx) \d+ \((.+)\)$", name)
    if m:  # "lead 2 (sawtooth)" -> "sawtooth lead"
        return f"{m.group(2)} {m.group(1) if m.group(1) != 'fx' else 'effect'}".strip()
    name = re.sub(r"\s*\(.*?\)", "", name)
    return re.sub(r"\s+", " ", name).strip()
