"""Procedural MIDI composer: style-typical multi-track pieces with exact tempo/key/bar metadata.

Every piece is generated from a `numpy.random.Generator` only (same seed -> identical piece). The
pieces feed the audio dataset, where independent tempo and key estimators must agree with the
metadata, so the composer deliberately keeps (a) an audible pulse in every bar (drum timekeeping
layer or an on-the-beat pitched part) and (b) a clear tonal centre (progressions start on the
tonic and return to it every 4 bars, the bass states chord roots, melodies land on chord tones).

One job per module: `styles` (the style table), `progressions` and `harmony` (chords), `patterns` (drum,
bass and chord rhythms), `arrangement` (sections and energy), one writer per part (`drums`, `bass`,
`chords`, `melody`) over the shared `context`, `assembly` (compose) and `export` (MIDI, instrument names).

Public API: STYLES, StyleSpec, compose, piece_to_pretty_midi, instrument_name.
"""

from engine.dataset.composer.assembly import compose
from engine.dataset.composer.export import instrument_name, piece_to_pretty_midi
from engine.dataset.composer.styles import STYLES, StyleSpec

__all__ = ["STYLES", "StyleSpec", "compose", "piece_to_pretty_midi", "instrument_name"]
