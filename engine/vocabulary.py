"""The words every part of Cascade shares: rates, keys, scales, samplers, descriptors, prompt slots.

Torch-free and import-free on purpose: the GUI, the output process and the dataset tools read it without
loading a model. One home for each value; other modules import from here instead of repeating it.
"""

from __future__ import annotations

from typing import NamedTuple

SAMPLE_RATE: int = 44100  # Hz, the codec's, the engine's and the output's
AUDIO_CHANNELS: int = 2
LATENT_HOP_FRAMES: int = 1024  # audio frames per latent frame (~43.07 latent frames per second)

# Tonics spelled as the training captions spell them (sharps); flats are read too (see tonic_index).
KEY_TONICS: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES: tuple[str, ...] = ("major", "minor", "dorian", "mixolydian")
# Semitones above the tonic of each scale (the composer's, the chroma profiles' and the harmony control's).
SCALE_INTERVALS: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# The conditioning index that means "no key" / "no scale" (one past the last real one).
NO_KEY: int = len(KEY_TONICS)
NO_SCALE: int = len(SCALES)

SAMPLER_NAMES: tuple[str, ...] = ("dpmpp_2m", "ddim", "euler")
# What a key and scale give a harmony model when no chroma is asked for (engine/harmony.key_chroma); the first is
# the default: the key's chord changes a bar at a time, its scale profile, its tonic chord, or nothing.
KEY_HARMONY_SOURCES: tuple[str, ...] = ("progression", "scale", "tonic_chord", "none")
N_PROMPT_SLOTS: int = 4
# The time-varying controls classifier-free guidance can guide: left out of its unconditional branch, the
# guidance scale then amplifies how closely the music follows them as it amplifies the text (no extra pass).
# The descriptor curves have a guidance scale of their own (GenerationRequest.descriptor_guidance): at the CFG
# scale they overshoot (a -32..-14 dB loudness gesture came out -60..-15 dB).
# "chords" guides the harmony only where the request brings its own chroma curve (`--chords`, chords held on a MIDI
# keyboard), "harmony" also the chord changes a key implies (which, guided, cost style and harmonic movement).
GUIDED_CONTROLS: tuple[str, ...] = ("chords", "harmony", "clock")
GUIDED_CONTROLS_DEFAULT: tuple[str, ...] = ("chords", "clock")
DESCRIPTOR_GUIDANCE_DEFAULT: float = 0.5  # docs/diffusion.md: how closely the music follows the curves, by scale

_FLAT_TO_SHARP: dict[str, str] = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B",
                                  "Fb": "E", "E#": "F", "B#": "C"}


class Descriptor(NamedTuple):
    """One time-varying control, under each of the names it travels by."""

    short: str  # the request's and the analysis' name (what a performer calls it)
    parameter: str  # the parameter store's name (a knob)
    model: str  # the name in the dataset and the U-Net's control channels
    label: str  # what the GUI prints


DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("loudness", "loudness_db", "loudness_db", "Loudness"),
    Descriptor("brightness", "brightness_hz", "centroid_hz", "Brightness"),
    Descriptor("noisiness", "noisiness", "flatness", "Noisiness"),
    Descriptor("density", "density", "onset_density", "Density"),
)
DESCRIPTOR_SHORT_NAMES: tuple[str, ...] = tuple(d.short for d in DESCRIPTORS)
DESCRIPTOR_MODEL_NAMES: tuple[str, ...] = tuple(d.model for d in DESCRIPTORS)


def tonic_index(tonic: str) -> int:
    """Pitch-class index 0..11 of a tonic name ("C", "c#", "Eb"); ValueError for anything else."""
    name = tonic.strip()
    name = name[0].upper() + name[1:] if name else name
    name = _FLAT_TO_SHARP.get(name, name)
    if name not in KEY_TONICS:
        raise ValueError(f"unknown key tonic {tonic!r}")
    return KEY_TONICS.index(name)


def scale_index(scale: str) -> int:
    """Index of a scale name in SCALES (case-insensitive); ValueError for anything else."""
    name = scale.strip().lower()
    if name not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    return SCALES.index(name)
