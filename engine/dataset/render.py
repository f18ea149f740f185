"""Render a `Piece` to 44.1 kHz stereo audio: FluidSynth (GM soundfont, in process), a randomised
pedalboard effect chain, and BS.1770 loudness normalisation with a peak ceiling.

FluidSynth is driven through pyfluidsynth's synth object, but audio is pulled with
`fluid_synth_write_float` (ctypes) instead of pyfluidsynth's int16 `get_samples`, so a dense mix never
clips or loses resolution before the effects and the loudness stage.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard
import pyloudnorm

from engine.dataset.score import DRUM_CHANNEL, Piece

SAMPLE_RATE: int = 44100
SOUNDFONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
# Integrated loudness target: BS.1770 -20 LUFS leaves ~19 dB to full scale for peaks.
TARGET_LUFS: float = -20.0
PEAK_CEILING_DBFS: float = -1.0
# Release tails (reverb, delay, piano decay) rendered after the last bar so the final clip is not cut dry.
TAIL_SECONDS: float = 2.0

# Mix level (CC7) per role: the pulse (drums, bass) sits forward so tempo and tonic stay audible.
ROLE_VOLUME: dict[str, int] = {
    "drums": 110, "bass": 105, "chords": 88, "pad": 78, "lead": 96, "arp": 84, "melody": 100, "counter": 90,
}


class SoundfontMissingError(RuntimeError):
    """Raised when no General MIDI soundfont is installed."""


class RenderError(RuntimeError):
    """Raised when FluidSynth cannot be loaded or fails to render."""


def find_soundfont(explicit_path: str | os.PathLike[str] | None = None) -> Path:
    """Return the GM soundfont to render with, or raise with the package that provides it."""
    # A soundfont the user named must exist: silently rendering with another one would mislabel the data.
    named = explicit_path or os.environ.get("CASCADE_SOUNDFONT")
    if named:
        if Path(named).is_file():
            return Path(named)
        raise SoundfontMissingError(f"Soundfont {named} does not exist (install Debian's fluid-soundfont-gm "
                                    "for the default General MIDI soundfont)")
    candidates = list(SOUNDFONT_CANDIDATES)
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SoundfontMissingError(
        "No General MIDI soundfont found (looked for "
        + ", ".join(candidates)
        + "). Install Debian's package: `sudo apt-get install fluid-soundfont-gm` "
        "(or set CASCADE_SOUNDFONT to an .sf2 file)."
    )


@dataclass(frozen=True)
class EffectChoice:
    """One randomised effect: its caption name and the configured pedalboard plugin."""

    name: str
    plugin: pedalboard.Plugin


# Styles for which audible distortion is idiomatic; elsewhere it is rare and light.
_DRIVE_STYLES = frozenset({"rock", "techno", "drum and bass", "synthwave"})


def random_effect_chain(style: str, tempo_bpm: float, rng: np.random.Generator) -> list[EffectChoice]:
    """A per-piece effect chain in a fixed, sensible order, with randomised presence and parameters.

    Tempo-synced delay times keep the echoes on the grid, so they do not blur the tempo estimate.
    """
    beat_seconds = 60.0 / tempo_bpm
    chain: list[EffectChoice] = []
    if rng.random() < (0.45 if style in _DRIVE_STYLES else 0.08):
        drive_db = float(rng.uniform(6.0, 18.0) if style in _DRIVE_STYLES else rng.uniform(3.0, 8.0))
        chain.append(EffectChoice("distortion", pedalboard.Distortion(drive_db=drive_db)))
    if rng.random() < 0.3:
        chain.append(EffectChoice("chorus", pedalboard.Chorus(
            rate_hz=float(rng.uniform(0.3, 1.5)), depth=float(rng.uniform(0.15, 0.45)),
            mix=float(rng.uniform(0.25, 0.5)))))
    roll = rng.random()
    if roll < 0.2:
        chain.append(EffectChoice("low-pass filter", pedalboard.LowpassFilter(
            cutoff_frequency_hz=float(rng.uniform(2500.0, 8000.0)))))
    elif roll < 0.3:
        chain.append(EffectChoice("high-pass filter", pedalboard.HighpassFilter(
            cutoff_frequency_hz=float(rng.uniform(60.0, 200.0)))))
    if rng.random() < 0.3:
        delay_beats = float(rng.choice([0.5, 0.75, 1.0]))
        chain.append(EffectChoice("delay", pedalboard.Delay(
            delay_seconds=delay_beats * beat_seconds, feedback=float(rng.uniform(0.15, 0.4)),
            mix=float(rng.uniform(0.1, 0.25)))))
    if rng.random() < 0.7:
        chain.append(EffectChoice("reverb", pedalboard.Reverb(
            room_size=float(rng.uniform(0.2, 0.85)), damping=float(rng.uniform(0.2, 0.7)),
            wet_level=float(rng.uniform(0.08, 0.3)), dry_level=float(rng.uniform(0.7, 0.9)),
            width=float(rng.uniform(0.7, 1.0)))))
    if rng.random() < 0.5:
        chain.append(EffectChoice("compression", pedalboard.Compressor(
            threshold_db=float(rng.uniform(-24.0, -12.0)), ratio=float(rng.uniform(2.0, 5.0)),
            attack_ms=float(rng.uniform(3.0, 20.0)), release_ms=float(rng.uniform(60.0, 250.0)))))
    return chain


def apply_effects(audio: np.ndarray, chain: list[EffectChoice], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Run `audio` (channels, frames) float32 through the chain; returns the same shape."""
    if not chain:
        return audio
    board = pedalboard.Pedalboard([choice.plugin for choice in chain])
    return np.ascontiguousarray(board(audio, sample_rate), dtype=np.float32)


def normalise_loudness(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    target_lufs: float = TARGET_LUFS,
    peak_ceiling_dbfs: float = PEAK_CEILING_DBFS,
) -> tuple[np.ndarray, float]:
    """Gain `audio` (channels, frames) to `target_lufs` (ITU-R BS.1770 via pyloudnorm), then lower the
    gain further if the sample peak would pass `peak_ceiling_dbfs`. Returns (audio, measured LUFS).

    Silent input is returned unchanged with loudness -inf.
    """
    meter = pyloudnorm.Meter(sample_rate)
    loudness = float(meter.integrated_loudness(audio.T.astype(np.float64)))
    if not np.isfinite(loudness):
        return audio, float("-inf")
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    ceiling = 10.0 ** (peak_ceiling_dbfs / 20.0)
    if peak > ceiling:
        gain *= ceiling / peak
    out = (audio * gain).astype(np.float32)
    return out, loudness + 20.0 * float(np.log10(gain))


class FluidRenderer:
    """Renders pieces with FluidSynth and a GM soundfont.

    Each piece gets a fresh synth: FluidSynth reuses voice objects whose amplitude ramps start from the
    previous occupant's state, so a shared synth makes the first milliseconds of a piece depend on what
    was rendered before it. With dynamic sample loading a new synth costs ~20 ms, and the dataset stays
    byte-for-byte reproducible whichever worker renders a piece. Not thread-safe: one per process.
    """

    def __init__(self, soundfont_path: str | os.PathLike[str] | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        self.soundfont_path = find_soundfont(soundfont_path)
        try:
            import fluidsynth  # pyfluidsynth; needs Debian's libfluidsynth3
        except ImportError as error:  # pragma: no cover - depends on the system install
            raise RenderError(
                "pyfluidsynth could not load libfluidsynth: `sudo apt-get install libfluidsynth3`"
            ) from error
        self._fluidsynth = fluidsynth
        self.sample_rate = sample_rate
        write_float = fluidsynth._fl.fluid_synth_write_float
        write_float.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        write_float.restype = ctypes.c_int
        self._write_float = write_float
        self._synth = None
        self._new_synth()  # fail here, not mid-build, if the soundfont cannot be loaded

    def _new_synth(self) -> None:
        if self._synth is not None:
            self._synth.delete()
        # FluidSynth's own reverb/chorus stay off: effects come from the randomised pedalboard chain.
        self._synth = self._fluidsynth.Synth(
            gain=0.4, samplerate=float(self.sample_rate),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512,
               "synth.dynamic-sample-loading": 1})
        self._soundfont_id = self._synth.sfload(str(self.soundfont_path))
        if self._soundfont_id < 0:
            raise RenderError(f"FluidSynth could not load soundfont {self.soundfont_path}")

    def _pull(self, interleaved: np.ndarray) -> None:
        """Fill `interleaved` (frames, 2) float32 C-contiguous with synth output."""
        frames = interleaved.shape[0]
        if frames == 0:
            return
        pointer = interleaved.ctypes.data
        status = self._write_float(self._synth.synth, frames, pointer, 0, 2, pointer, 1, 2)
        if status != 0:
            raise RenderError("fluid_synth_write_float failed")

    def render(self, piece: Piece, tail_seconds: float = TAIL_SECONDS) -> np.ndarray:
        """Render the dry mix of `piece`; returns float32 (2, frames) covering end_seconds + tail."""
        self._new_synth()
        events: list[tuple[int, int, int, int, int]] = []  # (frame, order, channel, pitch, velocity)
        pitched_channels = [c for c in range(16) if c != DRUM_CHANNEL]
        next_pitched = 0
        for track in piece.tracks:
            if track.is_drum:
                channel = DRUM_CHANNEL
                self._synth.program_select(channel, self._soundfont_id, 128, int(track.drum_kit))
            else:
                channel = pitched_channels[next_pitched]
                next_pitched += 1
                self._synth.program_select(channel, self._soundfont_id, 0, int(track.program))
            self._synth.cc(channel, 7, ROLE_VOLUME.get(track.role, 95))
            self._synth.cc(channel, 10, int(round(np.clip(track.pan, 0.0, 1.0) * 127)))
            for note in track.notes:
                start = int(round(note.start_seconds * self.sample_rate))
                end = max(start + 1, int(round(note.end_seconds * self.sample_rate)))
                # order 0 = note-off first, so a repeated pitch at the same instant re-strikes.
                events.append((start, 1, channel, note.pitch, note.velocity))
                events.append((end, 0, channel, note.pitch, 0))
        events.sort()
        total_frames = int(round((piece.end_seconds + tail_seconds) * self.sample_rate))
        interleaved = np.zeros((total_frames, 2), dtype=np.float32)
        cursor = 0
        for frame, kind, channel, pitch, velocity in events:
            frame = min(frame, total_frames)
            if frame > cursor:
                self._pull(interleaved[cursor:frame])
                cursor = frame
            if kind == 1:
                self._synth.noteon(channel, pitch, velocity)
            else:
                self._synth.noteoff(channel, pitch)
        self._pull(interleaved[cursor:])
        audio = np.ascontiguousarray(interleaved.T)
        if not np.all(np.isfinite(audio)):
            raise RenderError(f"{piece.piece_id}: FluidSynth produced non-finite samples")
        return audio

    def close(self) -> None:
        if self._synth is not None:
            self._synth.delete()
            self._synth = None
