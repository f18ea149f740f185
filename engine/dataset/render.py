"""Render a `Piece` to 44.1 kHz stereo audio with FluidSynth (GM soundfont, in process), and BS.1770
loudness normalisation with a peak ceiling. Also: finding the soundfont to render with, and the held-out
rule. The training pool lives in `soundfonts`, the randomised effect chain in `effects`.

TimGM6mb (shipped by pretty_midi) is held out: the autoencoder benchmark tests on it, so the training
pool refuses it.

FluidSynth is driven through pyfluidsynth's synth object, but audio is pulled with
`fluid_synth_write_float` (ctypes) instead of pyfluidsynth's int16 `get_samples`, so a dense mix never
clips or loses resolution before the effects and the loudness stage.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm

from engine.dataset.score import DRUM_CHANNEL, Piece
from engine.vocabulary import SAMPLE_RATE

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
DRUM_BANK: int = 128
STANDARD_KIT: int = 0

# Never trained on: the autoencoder benchmark renders its unseen-soundfont clips with TimGM6mb.sf2
# (pretty_midi's copy; Debian's timgm6mb-soundfont installs a TimGM6mb.sf2 in /usr/share/sounds/sf2).
HELD_OUT_SOUNDFONT_PREFIXES: tuple[str, ...] = ("timgm6mb",)


class SoundfontMissingError(RuntimeError):
    """Raised when a requested or default General MIDI soundfont is not installed."""


class HeldOutSoundfontError(SoundfontMissingError):
    """Raised when a held-out soundfont (TimGM6mb) is asked for in the training pool. A subclass of
    SoundfontMissingError so every caller that reports soundfont problems reports this one too."""


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


def is_held_out(path: str | os.PathLike[str]) -> bool:
    """True for a soundfont we never train on: a file named TimGM6mb*, or a link to one."""
    names = {Path(path).name.lower()}
    try:
        names.add(Path(path).resolve().name.lower())
    except OSError:
        pass
    return any(name.startswith(HELD_OUT_SOUNDFONT_PREFIXES) for name in names)


def refuse_held_out(path: str | os.PathLike[str]) -> None:
    if is_held_out(path):
        raise HeldOutSoundfontError(
            f"{path} is held out from training: the autoencoder benchmark measures generalisation on "
            "TimGM6mb, so it must never be in the training pool (choose others with --soundfonts)")


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


def _import_fluidsynth():  # type: ignore[no-untyped-def]
    try:
        import fluidsynth  # pyfluidsynth; needs Debian's libfluidsynth3
    except ImportError as error:  # pragma: no cover - depends on the system install
        raise RenderError(
            "pyfluidsynth could not load libfluidsynth: `sudo apt-get install libfluidsynth3`"
        ) from error
    library = fluidsynth._fl
    signatures = {
        "fluid_synth_write_float": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "fluid_synth_get_sfont_by_id": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_void_p),
        "fluid_synth_add_sfont": ([ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int),
        "fluid_synth_remove_sfont": ([ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int),
        "fluid_synth_pin_preset": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "fluid_sfont_get_preset": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_int], ctypes.c_void_p),
        "fluid_set_log_function": ([ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p], ctypes.c_void_p),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(library, name)
        function.argtypes = argtypes
        function.restype = restype
    return fluidsynth


_FLUID_WARN = 2  # fluid_log_level


class SoundfontLoadError(SoundfontMissingError, RenderError):
    """FluidSynth could not load a soundfont file that exists."""


def _new_synth(fluidsynth, sample_rate: int):  # type: ignore[no-untyped-def]
    # FluidSynth's own reverb/chorus stay off: effects come from the randomised pedalboard chain.
    return fluidsynth.Synth(
        gain=0.4, samplerate=float(sample_rate),
        **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512,
           "synth.dynamic-sample-loading": 1})


class _LoadedSoundfont:
    """A soundfont parsed once per process and owned by a synth of its own that never plays.

    Render synths borrow it (`fluid_synth_add_sfont` / `fluid_synth_remove_sfont`), so a fresh synth per
    piece costs no reload. Sample data loads lazily (dynamic sample loading) and each preset is pinned the
    first time it is used, so an .sf3's Ogg samples are decoded once per process, not once per piece.
    """

    def __init__(self, path: Path, fluidsynth, sample_rate: int) -> None:  # type: ignore[no-untyped-def]
        self.path = path
        self._library = fluidsynth._fl
        # The owner must outlive the soundfont: its loader holds the file callbacks dynamic loading uses.
        self._owner = _new_synth(fluidsynth, sample_rate)
        soundfont_id = self._owner.sfload(str(path))
        if soundfont_id < 0:
            self._owner.delete()
            raise SoundfontLoadError(f"FluidSynth could not load soundfont {path}")
        self.pointer = self._library.fluid_synth_get_sfont_by_id(self._owner.synth, soundfont_id)
        self._presets: dict[tuple[int, int], bool] = {}
        self._pinned: set[tuple[int, int]] = set()
        # A synth that gets the soundfont selects piano (0:0) and the standard kit (128:0) on its channels.
        for bank, program in ((0, 0), (DRUM_BANK, STANDARD_KIT)):
            if self.has_preset(bank, program):
                self.pin(self._owner.synth, soundfont_id, bank, program)

    def has_preset(self, bank: int, program: int) -> bool:
        key = (bank, program)
        if key not in self._presets:
            self._presets[key] = bool(self._library.fluid_sfont_get_preset(self.pointer, bank, program))
        return self._presets[key]

    def pin(self, synth_pointer: int, soundfont_id: int, bank: int, program: int) -> None:
        if (bank, program) not in self._pinned:
            self._library.fluid_synth_pin_preset(synth_pointer, soundfont_id, bank, program)
            self._pinned.add((bank, program))


# One per soundfont file and process (keyed by pid too: a forked worker loads its own).
_LOADED: dict[tuple[int, str], _LoadedSoundfont] = {}


def _loaded_soundfont(path: Path, fluidsynth, sample_rate: int) -> _LoadedSoundfont:  # type: ignore[no-untyped-def]
    key = (os.getpid(), str(path.resolve()))
    if key not in _LOADED:
        _LOADED[key] = _LoadedSoundfont(path, fluidsynth, sample_rate)
    return _LOADED[key]


def check_soundfont_loads(path: str | os.PathLike[str]) -> None:
    """Parse `path`'s headers in a throw-away synth (milliseconds; no samples are read) or raise
    SoundfontLoadError. The build's parent process calls it before forking workers."""
    fluidsynth = _import_fluidsynth()
    synth = _new_synth(fluidsynth, SAMPLE_RATE)
    try:
        if synth.sfload(str(path)) < 0:
            raise SoundfontLoadError(f"FluidSynth could not load soundfont {path}")
    finally:
        synth.delete()


class FluidRenderer:
    """Renders pieces with FluidSynth and one GM soundfont.

    Each piece gets a fresh synth: FluidSynth reuses voice objects whose amplitude ramps start from the
    previous occupant's state, so a shared synth makes the first milliseconds of a piece depend on what
    was rendered before it. The soundfont itself is loaded once per process and lent to each new synth,
    so the dataset stays byte-for-byte reproducible whichever worker renders a piece. Not thread-safe:
    use it from one thread.
    """

    def __init__(self, soundfont_path: str | os.PathLike[str] | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        self.soundfont_path = find_soundfont(soundfont_path)
        self._fluidsynth = _import_fluidsynth()
        self._write_float = self._fluidsynth._fl.fluid_synth_write_float
        self._library = self._fluidsynth._fl
        self.sample_rate = sample_rate
        # Fails here, not mid-build, if the soundfont cannot be loaded.
        self._font = _loaded_soundfont(self.soundfont_path, self._fluidsynth, sample_rate)
        self._synth = None

    @property
    def soundfont_name(self) -> str:
        return self.soundfont_path.name

    def has_preset(self, bank: int, program: int) -> bool:
        return self._font.has_preset(bank, program)

    def adapt(self, piece: Piece) -> tuple[Piece, list[str]]:
        """`piece` with every drum kit this soundfont lacks replaced by the standard kit (so the caption
        names what is heard), and a note per replacement. GM guarantees programs and the standard kit
        only; the other kits (room, power, electronic, 808, jazz, brush) are GS extensions."""
        notes: list[str] = []
        tracks = []
        for track in piece.tracks:
            if track.is_drum and not self.has_preset(DRUM_BANK, int(track.drum_kit)) \
                    and self.has_preset(DRUM_BANK, STANDARD_KIT):
                notes.append(f"{piece.piece_id}: {self.soundfont_name} has no drum kit {track.drum_kit}; "
                             "standard kit used")
                track = replace(track, drum_kit=STANDARD_KIT)
            tracks.append(track)
        return (replace(piece, tracks=tracks) if notes else piece), notes

    def _pull(self, interleaved: np.ndarray) -> None:
        """Fill `interleaved` (frames, 2) float32 C-contiguous with synth output."""
        frames = interleaved.shape[0]
        if frames == 0:
            return
        pointer = interleaved.ctypes.data
        status = self._write_float(self._synth.synth, frames, pointer, 0, 2, pointer, 1, 2)
        if status != 0:
            raise RenderError("fluid_synth_write_float failed")

    def _select(self, channel: int, soundfont_id: int, bank: int, program: int) -> None:
        if not self._font.has_preset(bank, program):
            raise RenderError(f"soundfont {self.soundfont_name} has no preset {bank}:{program}; "
                              "FluidSynth would play another instrument than the caption names")
        self._font.pin(self._synth.synth, soundfont_id, bank, program)
        self._synth.program_select(channel, soundfont_id, bank, program)

    def render(self, piece: Piece, tail_seconds: float = TAIL_SECONDS) -> np.ndarray:
        """Render the dry mix of `piece`; returns float32 (2, frames) covering end_seconds + tail."""
        self._synth = _new_synth(self._fluidsynth, self.sample_rate)
        soundfont_id = self._library.fluid_synth_add_sfont(self._synth.synth, self._font.pointer)
        try:
            if soundfont_id < 0:
                raise RenderError(f"FluidSynth could not add soundfont {self.soundfont_path} to a synth")
            return self._render(piece, soundfont_id, tail_seconds)
        finally:
            # The soundfont belongs to its owner synth: take it back before this synth is deleted. Removing
            # it resets every channel's program, which warns once per channel that no preset is left.
            previous = self._library.fluid_set_log_function(_FLUID_WARN, None, None)
            try:
                self._library.fluid_synth_remove_sfont(self._synth.synth, self._font.pointer)
            finally:
                self._library.fluid_set_log_function(_FLUID_WARN, previous, None)
            self._synth.delete()
            self._synth = None

    def _render(self, piece: Piece, soundfont_id: int, tail_seconds: float) -> np.ndarray:
        events: list[tuple[int, int, int, int, int]] = []  # (frame, order, channel, pitch, velocity)
        pitched_channels = [c for c in range(16) if c != DRUM_CHANNEL]
        next_pitched = 0
        for track in piece.tracks:
            if track.is_drum:
                channel = DRUM_CHANNEL
                self._select(channel, soundfont_id, DRUM_BANK, int(track.drum_kit))
            else:
                channel = pitched_channels[next_pitched]
                next_pitched += 1
                self._select(channel, soundfont_id, 0, int(track.program))
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
        """Nothing to free per renderer: the soundfont stays loaded for the process's other renderers."""
