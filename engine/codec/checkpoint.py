"""Autoencoder weights as safetensors, with the config and provenance in the file's metadata (as Vocos and
k-diffusion keep the config with the weights). Inference loads with no trainer code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from engine.codec.model import AutoencoderConfig, MagnitudeAutoencoder

FORMAT = "cascade-magnitude-autoencoder"
FORMAT_VERSION = 1
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "autoencoder.safetensors"


class CheckpointError(ValueError):
    """The file is not a usable Cascade autoencoder (corrupt, wrong kind, or mismatched shapes)."""


def save_autoencoder(model: MagnitudeAutoencoder, path: str | Path, *, half: bool = True,
                     extra: dict[str, Any] | None = None) -> None:
    """Write weights (fp16 when `half`, latent statistics always fp32) and metadata to `path`."""
    tensors = {}
    for name, tensor in model.state_dict().items():
        keep_fp32 = name.startswith("latent_") or not tensor.is_floating_point()
        tensors[name] = tensor.detach().to(torch.float32 if keep_fp32 or not half else torch.float16).contiguous()
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "config": json.dumps(model.config.to_dict()), "extra": json.dumps(extra or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def read_metadata(path: str | Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Cascade autoencoder (format {metadata.get('format')!r})")
    if int(metadata.get("format_version", "0")) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {metadata['format_version']} is newer than this Cascade")
    return {"config": json.loads(metadata["config"]), "extra": json.loads(metadata.get("extra", "{}"))}


def load_autoencoder(path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu",
                     expected_config: AutoencoderConfig | None = None) -> MagnitudeAutoencoder:
    """Build the model from the file's config and load its weights (as fp32); raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such autoencoder checkpoint")
    metadata = read_metadata(path)
    try:
        config = AutoencoderConfig.from_dict(metadata["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid config in metadata ({error})") from error
    if expected_config is not None and config != expected_config:
        raise CheckpointError(f"{path}: config {config} does not match the expected {expected_config}")
    model = MagnitudeAutoencoder(config)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path}: corrupt tensor data ({error})") from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors missing {missing[:5]} / unexpected {unexpected[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{path}: {name} has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: {name} contains NaN or inf")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return model.to(device).eval()
