"""Diffusion U-Net weights as safetensors, config inside (see engine.weights_io)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.diffusion.unet import UNet1D, UNetConfig
from engine.weights_io import CheckpointError, load_weights_into, read_weights_metadata, save_weights, skipped_init

FORMAT = "cascade-latent-diffusion"
FORMAT_VERSION = 1
DEFAULT_DIFFUSION_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "diffusion.safetensors"

__all__ = ["CheckpointError", "DEFAULT_DIFFUSION_WEIGHTS", "load_diffusion", "read_diffusion_metadata",
           "save_diffusion"]


def save_diffusion(network: UNet1D, path: str | Path, *, half: bool = True, extra: dict[str, Any] | None = None) -> None:
    save_weights(network, path, file_format=FORMAT, format_version=FORMAT_VERSION, config=network.config.to_dict(),
                 extra=extra, half=half)


def read_diffusion_metadata(path: str | Path) -> dict[str, Any]:
    return read_weights_metadata(path, FORMAT, FORMAT_VERSION, "diffusion model")


def load_diffusion(path: str | Path = DEFAULT_DIFFUSION_WEIGHTS, device: str | torch.device = "cpu") -> UNet1D:
    """Build the U-Net from the file's config and load its weights as fp32; raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such diffusion checkpoint")
    metadata = read_diffusion_metadata(path)
    try:
        config = UNetConfig.from_dict(metadata["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid config in metadata ({error})") from error
    with skipped_init():  # every tensor is loaded next: the random draws would be thrown away
        model = UNet1D(config)
    return load_weights_into(model, path).to(device).eval()
