"""Round-trip an audio file through the autoencoder (`cascade reconstruct`): hear what it keeps and loses.

The file streams through in chunks, so memory stays flat however long it is: the input is read in blocks,
encoded `chunk_frames` latent frames at a time with enough context on both sides that every kept frame sees
exactly what whole-file encoding shows it (`encoder_context_frames`), decoded by `StreamingDecoder` (exact by
construction) and written block by block to a temporary file that replaces the output only at the end.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from engine.audio_file import temporary_file_beside
from engine.codec.checkpoint import load_autoencoder
from engine.codec.model import AutoencoderConfig, MagnitudeAutoencoder
from engine.codec.streaming import StreamingDecoder

# Latent frames encoded per chunk (~12 s at 44.1 kHz): peak memory is a few hundred MB whatever the file's
# length, and the 2 * context frames recomputed per chunk cost ~5 %.
DEFAULT_CHUNK_FRAMES = 512


class AudioInputError(ValueError):
    """The input file cannot be read as audio."""


class AudioOutputError(ValueError):
    """The output cannot be written: it is the input, its directory cannot be made, or its format is unknown."""


def _stereo_checked(audio: np.ndarray, path: Path) -> np.ndarray:
    """(channels, n) -> float32 (2, n): mono duplicated, channels past two dropped; NaN/inf refused."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    elif audio.shape[0] > 2:
        audio = audio[:2]
    if not np.all(np.isfinite(audio)):
        raise AudioInputError(f"{path}: contains NaN or inf samples")
    return audio


def read_audio_44k_stereo(path: Path, sample_rate: int = 44100) -> np.ndarray:
    """Read any format pedalboard/libsndfile knows, resample to `sample_rate`, return float32 (2, samples)."""
    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as handle:
            if handle.samplerate != sample_rate:
                with handle.resampled_to(sample_rate) as resampled:
                    audio = resampled.read(resampled.frames)
            else:
                audio = handle.read(handle.frames)
    except Exception as error:  # pedalboard raises several types for unreadable files
        raise AudioInputError(f"{path}: cannot read audio ({error})") from error
    audio = _stereo_checked(audio, path)
    if audio.shape[1] == 0:
        raise AudioInputError(f"{path}: no samples")
    return audio


class InputBlocks:
    """The input file as sequential float32 (2, <= block_samples) blocks at `sample_rate` (resampled, mono
    duplicated, checked finite). A context manager: opening it checks that the file is readable audio."""

    def __init__(self, path: Path, sample_rate: int, block_samples: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.block_samples = block_samples
        self.samples = 0  # samples handed out so far
        self._handles: list[Any] = []

    def __enter__(self) -> "InputBlocks":
        from pedalboard.io import AudioFile

        try:
            handle = AudioFile(str(self.path))
            self._handles.append(handle)
            if handle.samplerate != self.sample_rate:
                self._handles.append(handle.resampled_to(self.sample_rate))
        except Exception as error:  # pedalboard raises several types for unreadable files
            self.close()
            raise AudioInputError(f"{self.path}: cannot read audio ({error})") from error
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        while self._handles:
            self._handles.pop().close()  # the resampler first, then the file under it

    def __iter__(self) -> Iterator[np.ndarray]:
        reader = self._handles[-1]
        while True:
            try:
                block = reader.read(self.block_samples)
            except Exception as error:  # a file that is corrupt further in
                raise AudioInputError(f"{self.path}: cannot read audio ({error})") from error
            if block.shape[1] == 0:
                break
            block = _stereo_checked(block, self.path)
            self.samples += block.shape[1]
            yield block
        if self.samples == 0:
            raise AudioInputError(f"{self.path}: no samples")


def encoder_context_frames(config: AutoencoderConfig) -> int:
    """Latent frames of context either side of a chunk so that its frames equal whole-file encoding.

    Frames nearer a chunk's edge than the encoder's receptive field see the chunk edge's padding (the STFT's
    reflect, the ConvNeXt blocks' replicate) instead of the neighbouring audio. A latent frame reaches
    kernel/2 latent frames per latent block, i.e. `stride` STFT frames each, then kernel/2 STFT frames per
    frame block, and an STFT frame is exact when its n_fft window lies inside the chunk (the first and last
    n_fft/2 samples are padded). The same count holds on both sides (the full config: 9 + ceil(10/4) = 12).
    """
    stride = config.hop_frames // config.encoder_hop
    half_kernel = config.kernel_size // 2  # the larger side of ConvNeXtBlock's non-causal padding
    stft_padded_frames = math.ceil(config.encoder_n_fft / 2 / config.encoder_hop)
    reach_stft_frames = half_kernel * config.encoder_frame_blocks + stft_padded_frames
    return half_kernel * config.encoder_latent_blocks + math.ceil(reach_stft_frames / stride)


def min_latent_frames(config: AutoencoderConfig) -> int:
    """The shortest encodable input: torch.stft's centred reflect padding (n_fft/2) needs a longer signal."""
    return config.encoder_n_fft // 2 // config.hop_frames + 1


class ChunkedEncoder:
    """Encode audio arriving as (2, n) blocks, `chunk_frames` latent frames at a time.

    The chunks concatenate to `model.encode` of the whole audio zero-padded to whole latent frames (and to at
    least `min_latent_frames`): each chunk is encoded with `context_frames` of audio either side, and frames
    at the file's ends see the same edges as whole-file encoding does.
    """

    def __init__(self, model: MagnitudeAutoencoder, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 context_frames: int | None = None) -> None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.model = model
        self.chunk_frames = chunk_frames
        self.context_frames = encoder_context_frames(model.config) if context_frames is None else context_frames
        self.samples = 0  # input samples received so far
        self.latent_frames = 0  # latent frames yielded so far
        self.encode_seconds = 0.0

    @torch.no_grad()
    def chunks(self, blocks: Iterable[np.ndarray]) -> Iterator[torch.Tensor]:
        """Yield latent chunks (1, latent_channels, <= chunk_frames), reading blocks only as far as needed."""
        hop = self.model.config.hop_frames
        min_frames = min_latent_frames(self.model.config)
        source = iter(blocks)
        buffer = np.zeros((2, 0), np.float32)
        buffer_frame = 0  # buffer[:, 0] is input sample buffer_frame * hop
        ended = False
        while True:
            wanted_end_frame = self.latent_frames + self.chunk_frames + self.context_frames
            pending = [buffer]
            while not ended and self.samples < wanted_end_frame * hop:
                block = next(source, None)
                if block is None:
                    ended = True
                else:
                    pending.append(block)
                    self.samples += block.shape[1]
            if len(pending) > 1:
                buffer = np.concatenate(pending, axis=1)
            end_frame = wanted_end_frame
            if ended:
                if self.samples == 0:
                    raise ValueError("no audio to encode")
                end_frame = min(end_frame, max(math.ceil(self.samples / hop), min_frames))
            count = min(self.chunk_frames, end_frame - self.latent_frames)
            if count <= 0:
                return
            start_frame = max(0, min(self.latent_frames - self.context_frames, end_frame - min_frames))
            window = buffer[:, (start_frame - buffer_frame) * hop:(end_frame - buffer_frame) * hop]
            # Past the input's end: the zeros whole-file encoding pads with.
            window = np.pad(window, ((0, 0), (0, (end_frame - start_frame) * hop - window.shape[1])))
            started = time.perf_counter()
            latent = self.model.encode(torch.from_numpy(window)[None])
            self.encode_seconds += time.perf_counter() - started
            offset = self.latent_frames - start_frame
            yield latent[..., offset:offset + count]
            self.latent_frames += count
            # Drop the audio no later chunk's window reaches back to.
            keep_frame = max(buffer_frame, self.latent_frames - max(self.context_frames, min_frames))
            buffer = buffer[:, (keep_frame - buffer_frame) * hop:]
            buffer_frame = keep_frame


def _check_output_path(input_path: Path, output_path: Path) -> Path:
    """Refuse an output that would overwrite the input or is a directory; return the file to write (a
    symlink's target, so the link stays)."""
    same = os.path.realpath(input_path) == os.path.realpath(output_path)
    try:
        same = same or os.path.samefile(input_path, output_path)  # hard links too
    except OSError:
        pass  # one of them does not exist: not the same file
    if same:
        raise AudioOutputError(f"{output_path}: is the input file; refusing to overwrite it")
    if output_path.is_dir():
        raise AudioOutputError(f"{output_path}: is a directory")
    return Path(os.path.realpath(output_path))


def _temporary_output(target: Path, output_path: Path) -> Path:
    """An empty file beside `target` (engine.audio_file.temporary_file_beside), AudioOutputError if none can be
    made there."""
    try:
        return temporary_file_beside(target)
    except OSError as error:
        raise AudioOutputError(f"{output_path}: cannot write there ({error.strerror or error})") from error


def _open_writer(path: Path, output_path: Path, sample_rate: int) -> Any:
    from pedalboard.io import AudioFile, get_supported_write_formats

    try:
        return AudioFile(str(path), "w", sample_rate, num_channels=2)
    except ValueError as error:  # pedalboard: unknown or missing extension
        formats = " ".join(sorted(get_supported_write_formats()))
        raise AudioOutputError(f"{output_path}: cannot write {output_path.suffix or 'a file without an extension'}"
                               f" (formats: {formats})") from error
    except Exception as error:
        raise AudioOutputError(f"{output_path}: cannot write ({error})") from error


def reconstruct_file(input_path: Path, output_path: Path, weights: Path,
                     chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> dict[str, Any]:
    """Encode and decode `input_path` into `output_path` (format from its extension), streaming in chunks of
    `chunk_frames` latent frames. Raises AudioOutputError before any work for an output it cannot write,
    AudioInputError for unreadable input, CheckpointError for bad weights; an error leaves no output behind."""
    input_path, output_path = Path(input_path), Path(output_path)
    target = _check_output_path(input_path, output_path)
    model = load_autoencoder(weights)
    config = model.config
    encoder = ChunkedEncoder(model, chunk_frames)
    decoder = StreamingDecoder(model.decoder)
    decode_seconds = 0.0
    written_samples = 0
    with InputBlocks(input_path, config.sample_rate, chunk_frames * config.hop_frames) as blocks:
        temporary = _temporary_output(target, output_path)
        try:
            with _open_writer(temporary, output_path, config.sample_rate) as writer:

                def write(audio: torch.Tensor) -> None:
                    # The decoder runs behind the reader, so `encoder.samples` bounds the real samples; past
                    # the input's end is the latent padding.
                    nonlocal written_samples
                    block = audio[0, :, :encoder.samples - written_samples].numpy()
                    try:
                        writer.write(np.clip(np.nan_to_num(block), -1.0, 1.0))
                    except Exception as error:  # a full disk, a vanished directory
                        raise AudioOutputError(f"{output_path}: cannot write ({error})") from error
                    written_samples += block.shape[1]

                for latent in encoder.chunks(blocks):
                    started = time.perf_counter()
                    audio = decoder.push(latent)
                    decode_seconds += time.perf_counter() - started
                    write(audio)
                started = time.perf_counter()
                audio = decoder.flush()
                decode_seconds += time.perf_counter() - started
                write(audio)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    seconds = encoder.samples / config.sample_rate
    return {"input": str(input_path), "output": str(output_path), "seconds": round(seconds, 3),
            "latent_shape": [1, config.latent_channels, encoder.latent_frames],
            "compression": config.compression_ratio,
            "encode_x_real_time": round(seconds / max(encoder.encode_seconds, 1e-9), 1),
            "decode_x_real_time": round(seconds / max(decode_seconds, 1e-9), 1)}
