"""The held chord (instrument/midi/held_notes.py): notes, velocity, bass weight, sustain pedal, channel filter,
all-notes-off, listeners; and over a real virtual JACK MIDI port through MidiInput."""

from __future__ import annotations

import time

import numpy as np
import pytest

from instrument.midi import HeldChange, HeldNotes, MidiMapper, open_midi_input
from instrument.midi.held_notes import BASS_WEIGHT, held_chord
from instrument.parameters import ParameterStore
from tests.helpers import wait_for

ON, OFF, CC = 0x90, 0x80, 0xB0


def test_chroma_weights_velocity_and_the_bass() -> None:
    chord = held_chord({57: 127, 60: 127, 64: 64})  # A3 C4 E4, the E softer
    assert chord.name == "Am" and chord.recognised and chord.notes == (57, 60, 64)
    chroma = np.asarray(chord.chroma)
    assert chroma[9] == 1.0  # the bass, the loudest
    assert chroma[0] == pytest.approx(1 / BASS_WEIGHT) and chroma[4] == pytest.approx(64 / 127 / BASS_WEIGHT)
    assert np.count_nonzero(chroma) == 3
    assert held_chord({52: 100, 60: 100, 67: 100}).name == "C/E"
    cluster = held_chord({60: 100, 61: 100, 62: 100})
    assert cluster.name == "C C# D" and not cluster.recognised
    assert held_chord({}).empty and held_chord({}).name == ""


def test_keys_pedal_channel_and_listeners() -> None:
    held = HeldNotes()
    changes: list[HeldChange] = []
    unsubscribe = held.add_listener(changes.append)
    for note in (57, 60, 64):
        held.handle([ON, note, 100], 1.0)
    assert held.chord().name == "Am" and [c.pressed for c in changes] == [True, True, True]
    held.handle([CC, 64, 127], 1.1)  # pedal down
    held.handle([OFF, 57, 0], 1.2)
    held.handle([ON, 64, 0], 1.3)  # note-on velocity 0 is a note-off
    assert held.chord().name == "Am", "the pedal holds what the hands let go"
    held.handle([ON, 60, 90], 1.4)  # C pressed again
    held.handle([CC, 64, 0], 1.5)  # pedal up: only the key still down sounds
    assert held.chord().notes == (60,) and held.chord().name == "C"
    assert changes[-1].pressed is False and changes[-1].arrival_s == 1.5
    held.handle([CC, 123, 0], 1.6)  # all notes off
    assert held.chord().empty and changes[-1].chord.empty
    held.channel = 2
    held.handle([ON | 0, 60, 100], 1.7)  # channel 1: not ours
    assert held.chord().empty
    held.handle([ON | 2, 62, 100], 1.8)
    assert held.chord().notes == (62,)
    count = len(changes)
    held.handle([0xE2, 0, 64], 1.9)  # pitch bend, and garbage: ignored without raising
    held.handle([ON], 1.9)
    held.handle("nonsense", 1.9)  # type: ignore[arg-type]
    assert len(changes) == count
    unsubscribe()
    held.handle([ON | 2, 65, 100], 2.0)
    assert len(changes) == count
    with pytest.raises(ValueError):
        held.channel = 16


def test_notes_over_a_real_virtual_port_reach_the_held_chord_and_the_mapper(virtual_out: object) -> None:
    store = ParameterStore()
    mapper = MidiMapper(store, note_triggers={48: 1})
    held = HeldNotes()
    midi_input = open_midi_input("Ctl:knobs", mapper=mapper, held_notes=held)
    try:
        before_s = time.monotonic()
        for note in (52, 55, 60):  # E3 G3 C4: C major over E
            virtual_out.send_message([ON, note, 110])
        assert wait_for(lambda: held.chord().notes == (52, 55, 60))
        assert held.chord().name == "C/E"
        virtual_out.send_message([ON, 48, 100])  # a note trigger still selects its prompt slot
        assert wait_for(lambda: store.get("prompt_2_weight") == 1.0)
        assert held.chord().notes == (48, 52, 55, 60) and held.chord().name == "C"
        for note in (48, 52, 55, 60):
            virtual_out.send_message([OFF, note, 0])
        assert wait_for(lambda: held.chord().empty)
        assert time.monotonic() > before_s
    finally:
        midi_input.close()
