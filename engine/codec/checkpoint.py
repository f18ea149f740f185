"""Autoencoder weights as safetensors, config and latent statistics inside (see engine.weights_io).
Inference loads with no trainer code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.codec.model import AutoencoderConfig, MagnitudeAutoencoder
from engine.weights_io import CheckpointError, load_weights_into, read_weights_metadata, save_weights, skipped_init

FORMAT = "cascade-magnitude-autoencoder"
FORMAT_VERSION = 2  # 2: magnitude-only decoder, phase by RTPGHI (1 learned the phase and is refused)
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "autoencoder.safetensors"

__all__ = ["CheckpointError", "DEFAULT_WEIGHTS", "load_autoencoder", "read_metadata", "save_autoencoder"]


def save_autoencoder(model: MagnitudeAutoencoder, path: str | Path, *, half: bool = True,
                     extra: dict[str, Any] | None = None) -> None:
    """Write weights (fp16 when `half`, latent statistics always fp32) and metadata to `path`."""
    save_weights(model, path, file_format=FORMAT, format_version=FORMAT_VERSION, config=model.config.to_dict(),
                 extra=extra, half=half, keep_fp32=lambda name: name.startswith("latent_"))


def read_metadata(path: str | Path) -> dict[str, Any]:
    return read_weights_metadata(path, FORMAT, FORMAT_VERSION, "autoencoder")


def load_autoencoder(path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu",
                     expected_config: AutoencoderConfig | None = None) -> MagnitudeAutoencoder:
    """Build the model from the file's config and load its weights (as fp32); raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such autoencoder checkpoint")
    metadata = read_metadata(path)
    if int(metadata.get("format_version", 0)) < FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {metadata.get('format_version')} is the retired learned-phase "
                              "decoder (it snapped every pitch to a multiple of 43 Hz); this Cascade reads version "
                              f"{FORMAT_VERSION}: decode with the shipped weights or retrain")
    try:
        config = AutoencoderConfig.from_dict(metadata["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid config in metadata ({error})") from error
    if expected_config is not None and config != expected_config:
        raise CheckpointError(f"{path}: config {config} does not match the expected {expected_config}")
    with skipped_init():  # every tensor is loaded next: the random draws would be thrown away
        model = MagnitudeAutoencoder(config)
    return load_weights_into(model, path).to(device).eval()
