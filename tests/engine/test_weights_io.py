"""engine/weights_io.py: loading without the random initialisation loads exactly what was saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.diffusion.checkpoint import load_diffusion, save_diffusion
from engine.diffusion.unet import DEBUG_UNET, UNet1D
from engine.weights_io import CheckpointError, skipped_init


def test_a_model_loaded_without_its_random_init_equals_the_saved_one(tmp_path: Path) -> None:
    torch.manual_seed(3)
    saved = UNet1D(DEBUG_UNET)
    path = tmp_path / "unet.safetensors"
    save_diffusion(saved, path, half=False)
    before = {name: getattr(nn.init, name) for name in ("kaiming_uniform_", "uniform_", "zeros_")}
    loaded = load_diffusion(path)
    assert {name: getattr(nn.init, name) for name in before} == before, "torch.nn.init is itself again"
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert len(loaded.state_dict()) == len(saved.state_dict())


def test_skipped_init_really_skips_and_restores_after_an_error() -> None:
    marker = torch.full((4, 4), 7.0)
    with skipped_init():
        nn.init.kaiming_uniform_(marker)
    assert torch.all(marker == 7.0), "left as it was"
    with pytest.raises(RuntimeError), skipped_init():
        raise RuntimeError("a broken config")
    nn.init.zeros_(marker)
    assert not marker.any(), "restored"


def test_a_file_missing_a_tensor_is_refused_so_nothing_stays_uninitialised(tmp_path: Path) -> None:
    path = tmp_path / "unet.safetensors"
    save_diffusion(UNet1D(DEBUG_UNET), path, half=False)
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="missing"):
        load_diffusion(path)
