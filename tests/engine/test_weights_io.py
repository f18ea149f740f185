"""engine/weights_io.py: loading without the random initialisation loads exactly what was saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from engine.diffusion.checkpoint import load_diffusion, save_diffusion
from engine.diffusion.unet import DEBUG_UNET, UNet1D
from engine.weights_io import CheckpointError, load_weights_into, skipped_init


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


@pytest.mark.parametrize("half", [True, False])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_value_anywhere_in_a_tensor_refuses_the_file(tmp_path: Path, half: bool, bad: float) -> None:
    torch.manual_seed(5)
    saved = UNet1D(DEBUG_UNET)
    path = tmp_path / "unet.safetensors"
    save_diffusion(saved, path, half=half)
    tensors = load_file(str(path))
    name = max(tensors, key=lambda key: tensors[key].numel())  # the largest: vectorised min/max paths
    flat = tensors[name].view(-1)
    flat[int(torch.randint(1, flat.numel() - 1, ()))] = bad
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="NaN or inf"):
        load_diffusion(path)


def test_loaded_parameters_are_the_models_own_and_keep_their_flags(tmp_path: Path) -> None:
    """load_state_dict(assign=True): the module holds the file's tensors as Parameters (requires_grad as
    built), as float32, and they are not shared with anything else."""
    saved = UNet1D(DEBUG_UNET)
    path = tmp_path / "unet.safetensors"
    save_diffusion(saved, path, half=True)
    loaded = load_diffusion(path)
    parameters = dict(loaded.named_parameters())
    assert parameters and all(isinstance(p, nn.Parameter) and p.requires_grad for p in parameters.values())
    assert {p.dtype for p in parameters.values()} == {torch.float32}
    assert len({p.data_ptr() for p in parameters.values()}) == len(parameters)


def test_a_model_with_tied_weights_stays_tied_when_loaded(tmp_path: Path) -> None:
    """Assigning the file's tensors would give each name its own copy: a tied model is copied into instead."""
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encode = nn.Linear(4, 4, bias=False)
            self.decode = nn.Linear(4, 4, bias=False)
            self.decode.weight = self.encode.weight

    saved = Tied()
    path = tmp_path / "tied.safetensors"
    save_file({name: tensor.detach().clone() for name, tensor in saved.state_dict().items()}, str(path))
    loaded = load_weights_into(Tied(), path)
    assert loaded.decode.weight is loaded.encode.weight
    assert torch.equal(loaded.encode.weight, saved.encode.weight)


def test_config_from_dict_converts_by_field_type_refuses_unknown_keys_and_fills_missing_ones() -> None:
    from engine.codec.model import AutoencoderConfig
    from engine.diffusion.unet import UNetConfig
    from engine.weights_io import config_from_dict

    data = DEBUG_UNET.to_dict() | {"channels": [16, 32], "attention_levels": [1]}  # JSON has lists
    assert UNetConfig.from_dict(data) == DEBUG_UNET
    with pytest.raises(ValueError, match="unknown U-Net config keys: \\['wings'\\]"):
        UNetConfig.from_dict(data | {"wings": 2})
    assert config_from_dict(UNetConfig, {"groups": 8}, "U-Net") == UNetConfig(groups=8)  # missing: the default
    old = AutoencoderConfig().to_dict()
    old.pop("decoder_upsample")
    assert AutoencoderConfig.from_dict(old).decoder_upsample == "subpixel"  # what files before the field meant
    with pytest.raises(ValueError, match="unknown autoencoder config keys"):
        AutoencoderConfig.from_dict(old | {"phase_head": 1})
