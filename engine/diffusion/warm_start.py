"""Start a diffusion training run from a trained U-Net file, optionally adding the harmony control.

A model trained without the harmony control (as the shipped one) learns it fastest by fine-tuning: its
weights are kept, and the 13 harmony input channels (12-channel chroma profile + mask, appended last to the
control tensor: engine/diffusion/controls.py) enter the first convolution through zero weights, so the widened
network computes exactly what the file's network computes until training moves them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from engine.diffusion.checkpoint import load_diffusion
from engine.diffusion.controls import HARMONY_CONTROL_CHANNELS
from engine.diffusion.unet import UNet1D, UNetConfig
from engine.weights_io import CheckpointError

__all__ = ["warm_start_network"]


def warm_start_network(path: str | Path, harmony: bool) -> UNet1D:
    """The U-Net of `path` (fp32, train mode), with the harmony control's input channels added when `harmony`
    and the file has none. A file that has them and `harmony=False` is refused (dropping a control that the
    weights use would change the model silently). Raises CheckpointError for a bad file."""
    source = load_diffusion(path)
    source_config: UNetConfig = source.config
    if source_config.harmony_channels and not harmony:
        raise CheckpointError(f"{path}: this model has the harmony control; train it with --harmony")
    if source_config.harmony_channels == harmony:
        return source.train()
    config = replace(source_config, harmony_channels=True)
    network = UNet1D(config)
    state = source.state_dict()
    old_input = state["input.weight"]  # (out_channels, latent + old controls, kernel)
    new_input = torch.zeros(old_input.shape[0], old_input.shape[1] + HARMONY_CONTROL_CHANNELS, old_input.shape[2])
    new_input[:, : old_input.shape[1]] = old_input
    state["input.weight"] = new_input
    network.load_state_dict(state)  # strict: every other tensor has the file's shape
    return network.train()
