"""Round-trip an audio file through the autoencoder (`cascade reconstruct`): hear what it keeps and loses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.codec.checkpoint import load_autoencoder


class AudioInputError(ValueError):
    """The input file cannot be read as audio."""


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
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    elif audio.shape[0] > 2:
        audio = audio[:2]
    if audio.shape[1] == 0:
        raise AudioInputError(f"{path}: no samples")
    if not np.all(np.isfinite(audio)):
        raise AudioInputError(f"{path}: contains NaN or inf samples")
    return audio


@torch.no_grad()
def reconstruct_file(input_path: Path, output_path: Path, weights: Path) -> dict[str, Any]:
    from pedalboard.io import AudioFile

    model = load_autoencoder(weights)
    hop = model.config.hop_frames
    audio = read_audio_44k_stereo(input_path, model.config.sample_rate)
    samples = audio.shape[1]
    padded = np.pad(audio, ((0, 0), (0, (-samples) % hop)))
    tensor = torch.from_numpy(padded)[None]
    started = time.perf_counter()
    latent = model.encode(tensor)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    output = model.decode(latent)[0, :, :samples].numpy()
    decode_seconds = time.perf_counter() - started
    output = np.clip(np.nan_to_num(output), -1.0, 1.0)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(output_path), "w", model.config.sample_rate, num_channels=2) as handle:
        handle.write(output)
    seconds = samples / model.config.sample_rate
    return {"input": str(input_path), "output": str(output_path), "seconds": round(seconds, 3),
            "latent_shape": list(latent.shape), "compression": model.config.compression_ratio,
            "encode_x_real_time": round(seconds / encode_seconds, 1),
            "decode_x_real_time": round(seconds / decode_seconds, 1)}
