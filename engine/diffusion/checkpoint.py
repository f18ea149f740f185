"""Diffusion U-Net weights as safetensors, config inside (see engine.weights_io)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.diffusion.unet import UNet1D, UNetConfig
from engine.weights_io import (CheckpointError, ModelFileKind, load_model_file, read_model_metadata,
                               save_model_file)

FORMAT = "cascade-latent-diffusion"
FORMAT_VERSION = 1
DIFFUSION_FILE = ModelFileKind(FORMAT, FORMAT_VERSION, what="diffusion model", short_name="diffusion")
DEFAULT_DIFFUSION_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "diffusion.safetensors"

__all__ = ["CheckpointError", "DEFAULT_DIFFUSION_WEIGHTS", "load_diffusion", "read_diffusion_metadata",
           "save_diffusion"]


def save_diffusion(network: UNet1D, path: str | Path, *, half: bool = True, extra: dict[str, Any] | None = None) -> None:
    save_model_file(network, path, DIFFUSION_FILE, half=half, extra=extra)


def read_diffusion_metadata(path: str | Path) -> dict[str, Any]:
    return read_model_metadata(path, DIFFUSION_FILE)


def load_diffusion(path: str | Path = DEFAULT_DIFFUSION_WEIGHTS, device: str | torch.device = "cpu") -> UNet1D:
    """Build the U-Net from the file's config and load its weights as fp32; raises CheckpointError."""
    return load_model_file(path, DIFFUSION_FILE, UNetConfig.from_dict, UNet1D, device)
