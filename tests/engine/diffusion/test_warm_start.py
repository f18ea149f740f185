"""Warm-starting a U-Net from a file, adding the harmony control through zero weights (debug config, CPU)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.diffusion.checkpoint import save_diffusion
from engine.diffusion.controls import HARMONY_CONTROL_CHANNELS
from engine.diffusion.unet import DEBUG_UNET, UNet1D
from engine.diffusion.warm_start import warm_start_network
from engine.weights_io import CheckpointError
from tests.engine.diffusion.test_unet import FRAMES, conditioning


def _saved(tmp_path: Path, harmony: bool) -> tuple[UNet1D, Path]:
    torch.manual_seed(3)
    network = UNet1D(replace(DEBUG_UNET, harmony_channels=harmony)).eval()
    with torch.no_grad():  # a fresh U-Net's output layer starts at zero: give it weights, as a trained one has
        for parameter in network.parameters():
            if not parameter.any():
                parameter.normal_(std=0.05)
    path = tmp_path / "model.safetensors"
    save_diffusion(network, path, half=False)
    return network, path


def test_the_widened_network_computes_what_the_file_computes_whatever_the_chroma(tmp_path: Path) -> None:
    source, path = _saved(tmp_path, harmony=False)
    widened = warm_start_network(path, harmony=True).eval()
    assert widened.config.harmony_channels and widened.config == replace(source.config, harmony_channels=True)
    assert widened.input.in_channels == source.input.in_channels + HARMONY_CONTROL_CHANNELS
    c = conditioning(2)
    x = torch.randn(2, DEBUG_UNET.latent_channels, FRAMES, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.3, 0.8])  # noise level as the U-Net takes it (0..1)
    with torch.no_grad():
        expected = source(x, t, c)
        for seed in (0, 1):
            chroma = torch.rand(2, HARMONY_CONTROL_CHANNELS, FRAMES, generator=torch.Generator().manual_seed(seed))
            wide = replace(c, controls=torch.cat([c.controls, chroma], dim=1))
            assert torch.equal(widened(x, t, wide), expected)
    # and the new weights are trainable: a gradient reaches them
    widened.train()
    wide = replace(c, controls=torch.cat([c.controls, torch.ones(2, HARMONY_CONTROL_CHANNELS, FRAMES)], dim=1))
    widened(x, t, wide).square().mean().backward()
    assert widened.input.weight.grad[:, -HARMONY_CONTROL_CHANNELS:].abs().sum() > 0


def test_a_file_of_the_same_kind_loads_as_it_is(tmp_path: Path) -> None:
    for harmony in (False, True):
        source, path = _saved(tmp_path, harmony)
        loaded = warm_start_network(path, harmony)
        assert loaded.training and loaded.config == source.config
        for name, tensor in source.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], tensor), name


def test_dropping_a_trained_harmony_control_is_refused(tmp_path: Path) -> None:
    _, path = _saved(tmp_path, harmony=True)
    with pytest.raises(CheckpointError, match="--harmony"):
        warm_start_network(path, harmony=False)
    with pytest.raises(CheckpointError):
        warm_start_network(tmp_path / "missing.safetensors", harmony=True)
