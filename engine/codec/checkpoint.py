"""Autoencoder weights as safetensors, config and latent statistics inside (see engine.weights_io).
Inference loads with no trainer code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.codec.model import AutoencoderConfig, MagnitudeAutoencoder
from engine.weights_io import (CheckpointError, ModelFileKind, load_model_file, read_model_metadata,
                               save_model_file)

FORMAT = "cascade-magnitude-autoencoder"
FORMAT_VERSION = 2  # 2: magnitude-only decoder, phase by RTPGHI (1 learned the phase and is refused)
AUTOENCODER_FILE = ModelFileKind(FORMAT, FORMAT_VERSION, what="autoencoder", short_name="autoencoder")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "autoencoder.safetensors"

__all__ = ["CheckpointError", "DEFAULT_WEIGHTS", "load_autoencoder", "read_metadata", "save_autoencoder"]


def save_autoencoder(model: MagnitudeAutoencoder, path: str | Path, *, half: bool = True,
                     extra: dict[str, Any] | None = None) -> None:
    """Write weights (fp16 when `half`, latent statistics always fp32) and metadata to `path`."""
    save_model_file(model, path, AUTOENCODER_FILE, half=half, extra=extra,
                    keep_fp32=lambda name: name.startswith("latent_"))


def read_metadata(path: str | Path) -> dict[str, Any]:
    return read_model_metadata(path, AUTOENCODER_FILE)


def _refuse_learned_phase(path: Path, metadata: dict[str, Any]) -> None:
    if int(metadata.get("format_version", 0)) < FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {metadata.get('format_version')} is the retired learned-phase "
                              "decoder (it snapped every pitch to a multiple of 43 Hz); this Cascade reads version "
                              f"{FORMAT_VERSION}: decode with the shipped weights or retrain")


def load_autoencoder(path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu",
                     expected_config: AutoencoderConfig | None = None) -> MagnitudeAutoencoder:
    """Build the model from the file's config and load its weights (as fp32); raises CheckpointError."""
    return load_model_file(path, AUTOENCODER_FILE, AutoencoderConfig.from_dict, MagnitudeAutoencoder, device,
                           expected_config=expected_config, check_metadata=_refuse_learned_phase)
