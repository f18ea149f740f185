"""Where an offline render goes: the output file checked before any work (an unwritable folder or an unknown
extension must not throw an hour of rendering away), then written beside its target and renamed over it, so a
failure (a full disk) leaves no partial file. `cascade render` uses it; torch-free."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

# extension -> (libsndfile format, subtype): the formats a render can be written as.
OUTPUT_FORMATS: dict[str, tuple[str, str]] = {
    ".flac": ("FLAC", "PCM_24"), ".wav": ("WAV", "PCM_24"), ".aiff": ("AIFF", "PCM_24"), ".aif": ("AIFF", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III")}
# libsndfile 1.2's Vorbis encoder crashes (SIGSEGV) on one long write (~60 s of stereo): write in blocks.
WRITE_BLOCK_FRAMES = 32768


class AudioFileError(ValueError):
    """The output cannot be written: a folder, an unknown extension, or a place without write access."""


def check_output_file(path: Path) -> Path:
    """The file to write for `path` (a symlink's target, so the link stays), after proving it can be written:
    a known extension, not a folder, and a folder (created if missing) where a file can be made.
    AudioFileError naming the path and the reason otherwise; nothing is left behind."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        known = " ".join(sorted(OUTPUT_FORMATS))
        raise AudioFileError(f"{path}: cannot write {path.suffix or 'a file without an extension'} "
                             f"(formats: {known})")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a directory")
    target = Path(os.path.realpath(path))
    if target.parent.exists() and not target.parent.is_dir():
        raise AudioFileError(f"{path}: cannot write there ({target.parent} is a file, not a folder)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=f".{target.stem}.check-", dir=target.parent)
        os.close(descriptor)
        os.unlink(name)
    except OSError as error:
        raise AudioFileError(f"{path}: cannot write there ({error.strerror or error})") from error
    return target


def temporary_file_beside(target: Path) -> Path:
    """An empty file in `target`'s folder with its extension (writers pick the format from it) and the usual
    permissions, to be renamed over `target` once complete: the rename is atomic, so an error never leaves a
    partial output. Creates the folder if needed; raises OSError."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.stem}.partial-", suffix=target.suffix, dir=target.parent)
    os.close(descriptor)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes it private; give the output the usual permissions
    return Path(name)


def write_audio_file(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (channels, samples) float audio to `path` (format from the extension) atomically: a temporary file
    beside it renamed over it at the end. AudioFileError (and no file) when the write fails."""
    import soundfile

    target = check_output_file(path)
    format_name, subtype = OUTPUT_FORMATS[target.suffix.lower()]
    try:
        temporary = temporary_file_beside(target)
    except OSError as error:
        raise AudioFileError(f"{path}: cannot write there ({error.strerror or error})") from error
    try:
        frames = np.ascontiguousarray(audio.T, dtype=np.float32)
        with soundfile.SoundFile(temporary, "w", sample_rate, frames.shape[1], subtype, format=format_name) as out:
            for start in range(0, len(frames), WRITE_BLOCK_FRAMES):
                out.write(frames[start:start + WRITE_BLOCK_FRAMES])
        os.replace(temporary, target)
    except (OSError, RuntimeError) as error:  # soundfile reports a full disk as a RuntimeError
        raise AudioFileError(f"{path}: cannot write ({error})") from error
    finally:
        temporary.unlink(missing_ok=True)
