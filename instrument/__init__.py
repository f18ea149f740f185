"""The instrument: parameters, presets, MIDI, audio output, takes and the command line. No Qt widgets."""
