"""engine/diffusion/cache_pack.py: a latent cache packed into parts and rebuilt from them (CPU, seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.codec.checkpoint import save_autoencoder
from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.diffusion.cache_pack import pack_latent_cache, resplit_pack, unpack_latent_cache
from engine.diffusion.controls import normalise_descriptors
from engine.diffusion.latents import build_latent_cache, load_latent_cache
from engine.diffusion.train import DiffusionTrainConfig, train_diffusion
from tests.engine.diffusion.test_train import _tiny_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pack")
    dataset = _tiny_dataset(root / "dataset")
    torch.manual_seed(0)
    save_autoencoder(MagnitudeAutoencoder(DEBUG_CONFIG), root / "ae.safetensors")
    return dataset, build_latent_cache(dataset, root / "cache.safetensors", root / "ae.safetensors", extra_captions=2,
                                       log=False)


def test_a_packed_cache_rebuilds_within_its_quantisation_and_trains(built: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, cache_path = built
    report = pack_latent_cache(cache_path, dataset, tmp_path / "pack", part_mib=2.0, log=False)
    assert len(report.parts) >= 2 and all(p.stat().st_size <= 2 * 2**20 for p in report.parts)
    # the parts may arrive in different folders (one device call each)
    spread = [tmp_path / f"call{i}" for i in range(len(report.parts))]
    for folder, part in zip(spread, report.parts):
        folder.mkdir()
        shutil.copy(part, folder)
    shutil.copy(tmp_path / "pack" / "parts.json", spread[0])
    rebuilt = load_latent_cache(unpack_latent_cache(spread, tmp_path / "rebuilt.safetensors", log=False))
    original = load_latent_cache(cache_path)
    assert rebuilt.metadata == original.metadata and set(rebuilt.arrays) == set(original.arrays)
    for name, tensor in original.arrays.items():
        again = rebuilt.arrays[name]
        assert again.shape == tensor.shape and again.dtype == tensor.dtype, name
        if name in ("latents", "descriptors", "chroma"):
            if name == "descriptors":  # quantised in the form training reads
                tensor, again = normalise_descriptors(tensor.float()), normalise_descriptors(again.float())
            span = (tensor.float().amax(0) - tensor.float().amin(0)).clamp_min(1e-6)
            error = (again.float() - tensor.float()).abs() / span
            # half a uint8 step of the channel's range (the latents' companded steps are finer near 0, up to
            # twice as coarse in the tails), plus fp16 storage of the result
            assert error.max() <= (2.0 if name == "latents" else 0.5) / 255 + 2e-3, name
            assert error.pow(2).mean().sqrt() <= 0.5 / 255, name
        elif name in ("tokens", "pooled"):
            # recomputed from the captions' word pieces by fp16 weights: within fp16's reach of the fp32 model's
            cosine = torch.nn.functional.cosine_similarity(again.float(), tensor.float(), dim=-1)
            assert cosine.min() > 0.999, (name, float(cosine.min()))
        else:
            assert torch.equal(again, tensor), name
    result = train_diffusion(DiffusionTrainConfig(cache=tmp_path / "rebuilt.safetensors", out_dir=tmp_path / "run",
                                                  model="debug", steps=2, batch_size=2, window_frames=16,
                                                  checkpoint_every=2, harmony=True, threads=1))
    assert result["steps"] == 2 and np.isfinite(result["history"][-1]["loss"])


def test_a_pack_split_again_rebuilds_the_same_cache(built: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, cache_path = built
    pack_latent_cache(cache_path, dataset, tmp_path / "pack", part_mib=2.0, log=False)
    first = unpack_latent_cache([tmp_path / "pack"], tmp_path / "a.safetensors", log=False)
    parts = resplit_pack(tmp_path / "pack", 5.0)
    assert sorted(tmp_path.joinpath("pack").glob("part_*.bin")) == parts and parts[0].stat().st_size == 5 * 2**20
    second = unpack_latent_cache([tmp_path / "pack"], tmp_path / "b.safetensors", log=False)
    assert first.read_bytes() == second.read_bytes()


def test_a_damaged_or_missing_part_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, cache_path = built
    report = pack_latent_cache(cache_path, dataset, tmp_path / "pack", part_mib=2.0, log=False)
    damaged = bytearray(report.parts[-1].read_bytes())
    damaged[10] ^= 0xFF
    report.parts[-1].write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged"):
        unpack_latent_cache([tmp_path / "pack"], tmp_path / "x.safetensors", log=False)
    report.parts[-1].unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        unpack_latent_cache([tmp_path / "pack"], tmp_path / "x.safetensors", log=False)
    assert not (tmp_path / "x.safetensors").exists()


def test_packing_refuses_a_dataset_the_cache_was_not_built_from(built: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, cache_path = built
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    rows = [json.loads(line) for line in (other / "manifest.jsonl").read_text().splitlines()]
    rows[0]["caption"] = "a much longer caption than the one the cache was built with, in D minor at 90 bpm"
    (other / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="do not match the cache"):
        pack_latent_cache(cache_path, other, tmp_path / "pack", log=False)


def test_a_run_with_a_wall_clock_limit_stops_and_exports(built: tuple[Path, Path], tmp_path: Path) -> None:
    from engine.diffusion.checkpoint import read_diffusion_metadata

    _, cache_path = built
    result = train_diffusion(DiffusionTrainConfig(cache=cache_path, out_dir=tmp_path / "run", model="debug",
                                                  steps=1_000_000, batch_size=2, window_frames=16, threads=1,
                                                  checkpoint_every=100_000, max_minutes=0.05))
    assert 0 < result["steps"] < 1_000_000 and result["seconds"] < 60
    assert result["history"][-1]["step"] == result["steps"]  # the last step is logged
    assert read_diffusion_metadata(tmp_path / "run" / "diffusion.safetensors")["extra"]["steps"] == result["steps"]
