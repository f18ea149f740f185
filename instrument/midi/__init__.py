"""MIDI input: controller knobs -> parameter store, MIDI learn, note triggers and MIDI clock.

One job per module:

- `wire`: status bytes and the integer check the parsers share;
- `mapping`: `CcMapping` (one CC -> one parameter, with range and curve) and the mapping files;
- `mapper`: `MidiMapper`, CCs and notes -> the parameter store, MIDI learn, note triggers;
- `clock`: `MidiClock`, tempo and bar phase from an external MIDI clock;
- `held_notes`: `HeldNotes`, the keys held (and sustained) -> the held chord's chroma and name;
- `ports`: listing input ports (ALSA, then JACK) and opening one;
- `polling`: `MidiInput`, the thread that owns an open port;
- `overflow`: RtMidi's queue-overflow lines on stderr, summarised.

Threads. Each open input has one daemon polling thread (`MidiInput`, named "midi-in PORT") that owns the
rtmidi port: it drains every pending message each loop (at most 10,000, so the port check still runs under a
flood), then sleeps ~1 ms, and every 0.5 s checks that the port still exists. It hands each message to the
`MidiClock` (0xF8 ticks, start/continue/stop, song position -> tempo and bar phase) or else to the
`MidiMapper` (CCs, notes -> the parameter store) and to `HeldNotes` (notes, the sustain pedal); all run on that thread and take their own short locks,
so the GUI thread may edit mappings, arm learn or read the clock meanwhile. Learn listeners run on the MIDI
thread too. Polling `get_message()` is used instead of `set_callback` because a callback delivered duplicates
under a burst on the test machines. Nothing raises out of the polling thread: malformed input is counted and
dropped, and a vanished port sets `MidiInput.lost` (and is reopened when it comes back) instead of taking the
app down. The parameter store's own listeners then carry a change on to the engine and the effects pump.
While any input is open, `overflow` runs one more daemon thread ("midi-overflow-summary") that reads file
descriptor 2 through a pipe and turns RtMidi's per-message queue-overflow lines into one summary line.
"""

from instrument.midi.clock import ClockDisplay, MidiClock
from instrument.midi.held_notes import HeldChange, HeldChord, HeldNotes
from instrument.midi.mapper import LearnListener, MidiMapper
from instrument.midi.mapping import (CURVES, MAPPING_FORMAT, MAPPING_VERSION, MAX_CONTROL, MAX_MAPPING_BYTES, CcMapping,
                                     MidiMappingError, factory_mapping_dir, load_mapping_file, save_mapping_file,
                                     validate_mappings)
from instrument.midi.polling import MidiInput
from instrument.midi.ports import MidiError, list_midi_inputs, open_midi_input
from instrument.midi.wire import TICKS_PER_QUARTER

__all__ = [
    "CURVES", "MAPPING_FORMAT", "MAPPING_VERSION", "MAX_CONTROL", "MAX_MAPPING_BYTES", "TICKS_PER_QUARTER",
    "CcMapping", "ClockDisplay", "HeldChange", "HeldChord", "HeldNotes", "LearnListener", "MidiClock", "MidiError",
    "MidiInput", "MidiMapper", "MidiMappingError", "factory_mapping_dir", "list_midi_inputs", "load_mapping_file", "open_midi_input",
    "save_mapping_file", "validate_mappings",
]
