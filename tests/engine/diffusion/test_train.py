"""Latent cache, diffusion trainer (debug config) and checkpoint files (CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from engine.codec.checkpoint import save_autoencoder
from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.dataset.descriptors import frame_descriptors
from engine.diffusion.checkpoint import CheckpointError, load_diffusion, read_diffusion_metadata, save_diffusion
from engine.diffusion.latents import MissingChromaError, build_latent_cache, dataset_has_chroma, load_latent_cache
from engine.diffusion.train import DiffusionTrainConfig, _DiffusionTraining, train_diffusion
from engine.diffusion.unet import MODEL_PRESETS, UNet1D
from tests.helpers import assert_same_weights, run_killed_at_step

CLIP_SECONDS = 2.0


def _tone_chroma(frequency_hz: float, frames: int) -> np.ndarray:
    """(frames, 12) the score chroma of a tone gated on for the first quarter second of every half second: its
    pitch class at 0.5 and its fifth at 0.2 while it sounds, nothing in the gaps."""
    chroma = np.zeros((frames, 12), np.float32)
    pitch_class = int(round(69 + 12 * np.log2(frequency_hz / 440.0))) % 12
    sounding = (np.arange(frames) * 1024 / 44100) % 0.5 < 0.25
    chroma[sounding, pitch_class] = 0.5
    chroma[sounding, (pitch_class + 7) % 12] = 0.2
    return chroma


def _tiny_dataset(folder: Path, clips: int = 6, chroma: bool = True) -> Path:
    """Six gated tones with their descriptors and (unless `chroma` is False, as in datasets built before it) the
    score chroma in each descriptors file."""
    (folder / "audio").mkdir(parents=True)
    (folder / "descriptors").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for index in range(clips):
        t = np.arange(int(CLIP_SECONDS * 44100)) / 44100
        tone = 0.2 * np.sin(2 * np.pi * (220 + 40 * index) * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2
        audio = np.stack([tone, tone]).astype(np.float32) + 0.01 * rng.standard_normal((2, t.size)).astype(np.float32)
        clip_id = f"p{index:06d}_c00"
        soundfile.write(folder / "audio" / f"{clip_id}.flac", audio.T, 44100)
        curves = {k: v.astype(np.float16) for k, v in frame_descriptors(audio, 44100).items()}
        if chroma:
            curves["chroma"] = _tone_chroma(220 + 40 * index, len(curves["loudness_db"])).astype(np.float16)
        np.savez(folder / "descriptors" / f"{clip_id}.npz", **curves)
        rows.append({"clip_id": clip_id, "path": f"audio/{clip_id}.flac", "descriptors": f"descriptors/{clip_id}.npz",
                     "caption": f"a test tone number {index} in A minor, 120 bpm", "style": "techno" if index % 2 else "ambient",
                     "tempo": 120.0, "key": "A", "scale": "minor", "beats_per_bar": 4, "instruments": ["piano"],
                     "energy": "low", "mood": "calm", "effects": [], "split": "valid" if index == clips - 1 else "train",
                     "seconds_start": 0.0, "seconds_total": CLIP_SECONDS})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("diffusion")
    dataset = _tiny_dataset(root / "dataset")
    torch.manual_seed(0)
    autoencoder_path = root / "ae.safetensors"
    save_autoencoder(MagnitudeAutoencoder(DEBUG_CONFIG), autoencoder_path)
    return build_latent_cache(dataset, root / "cache.safetensors", autoencoder_path, extra_captions=2, log=False)


def test_cache_holds_every_clip_aligned_with_its_descriptors(cache_path: Path) -> None:
    cache = load_latent_cache(cache_path)
    a = cache.arrays
    assert cache.clip_count == 6
    frames = int(CLIP_SECONDS * 44100) // 1024
    assert a["latents"].shape == (6 * frames, DEBUG_CONFIG.latent_channels)
    assert a["descriptors"].shape == (6 * frames, 4)
    assert torch.equal(a["clip_offsets"], torch.arange(7) * frames)
    assert torch.isfinite(a["latents"].float()).all()
    assert a["token_offsets"][-1] == a["tokens"].shape[0]
    assert a["pooled"].shape[0] == a["caption_clip"].shape[0] >= 6  # manifest caption + generated ones
    assert set(a["caption_clip"].tolist()) == set(range(6))
    assert a["key"].tolist() == [9] * 6 and a["scale"].tolist() == [1] * 6
    assert list(cache.clips_in_split("valid")) == [5]
    assert cache.metadata["styles"] == ["ambient", "techno"]


def test_training_lowers_the_loss_and_resumes(cache_path: Path, tmp_path: Path) -> None:
    config = DiffusionTrainConfig(cache=cache_path, out_dir=tmp_path / "run", model="debug", steps=60, batch_size=8,
                                  window_frames=32, learning_rate=2e-3, warmup_steps=5, log_every=10,
                                  checkpoint_every=30, threads=1)
    result = train_diffusion(config)
    losses = [h["loss"] for h in result["history"]]
    assert np.mean(losses[-2:]) < losses[0]
    network = load_diffusion(tmp_path / "run" / "diffusion.safetensors")
    assert network.config.latent_channels == DEBUG_CONFIG.latent_channels
    # a rerun with more steps continues from the saved state, not from scratch
    resumed = train_diffusion(DiffusionTrainConfig(**{**config.__dict__, "steps": 70}))
    assert [h["step"] for h in resumed["history"]] == [70]


def test_checkpoint_rejects_broken_files(tmp_path: Path) -> None:
    network = UNet1D(MODEL_PRESETS["debug"])
    path = tmp_path / "model.safetensors"
    save_diffusion(network, path)
    assert isinstance(load_diffusion(path), UNet1D)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        load_diffusion(truncated)
    with pytest.raises(CheckpointError, match="no such"):
        load_diffusion(tmp_path / "missing.safetensors")
    foreign = tmp_path / "autoencoder.safetensors"
    save_autoencoder(MagnitudeAutoencoder(DEBUG_CONFIG), foreign)
    with pytest.raises(CheckpointError, match="not a Cascade diffusion model"):
        load_diffusion(foreign)
    with torch.no_grad():
        network.output.bias.fill_(float("nan"))
    poisoned = tmp_path / "nan.safetensors"
    save_diffusion(network, poisoned)
    with pytest.raises(CheckpointError, match="NaN"):
        load_diffusion(poisoned)


def test_a_resumed_run_equals_an_uninterrupted_one(cache_path: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The train state holds the batch generator whole (saving draws nothing from it): a run killed after a
    checkpoint and rerun ends with the weights of one that was never interrupted."""
    config = dict(cache=cache_path, model="debug", steps=12, batch_size=4, window_frames=32, learning_rate=2e-3,
                  warmup_steps=3, log_every=4, checkpoint_every=4, threads=1)
    train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "straight", **config))
    resumed = DiffusionTrainConfig(out_dir=tmp_path / "resumed", **config)
    run_killed_at_step(monkeypatch, _DiffusionTraining, 6, lambda: train_diffusion(resumed))
    train_diffusion(resumed)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_cache_holds_the_score_chroma_frame_for_frame(cache_path: Path) -> None:
    a = load_latent_cache(cache_path).arrays
    frames = int(CLIP_SECONDS * 44100) // 1024
    assert a["chroma"].shape == (6 * frames, 12)
    dataset = cache_path.parent / "dataset"
    for clip in range(6):
        stored = np.load(dataset / "descriptors" / f"p{clip:06d}_c00.npz")["chroma"][:frames]
        assert np.array_equal(a["chroma"][clip * frames:(clip + 1) * frames].numpy(), stored)


def test_a_harmony_run_lowers_the_loss_and_saves_a_harmony_model(cache_path: Path, tmp_path: Path) -> None:
    config = DiffusionTrainConfig(cache=cache_path, out_dir=tmp_path / "run", model="debug", steps=40, batch_size=8,
                                  window_frames=32, learning_rate=2e-3, warmup_steps=5, log_every=10,
                                  checkpoint_every=40, threads=1, harmony=True)
    losses = [h["loss"] for h in train_diffusion(config)["history"]]
    assert np.isfinite(losses).all() and np.mean(losses[-2:]) < losses[0]
    network = load_diffusion(tmp_path / "run" / "diffusion.safetensors")
    assert network.config.harmony_channels
    assert network.input.in_channels == network.config.latent_channels + network.config.control_channels


@pytest.mark.parametrize("batches", ["cache", "device"])
def test_a_resumed_harmony_run_equals_an_uninterrupted_one(cache_path: Path, tmp_path: Path, batches: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = dict(cache=cache_path, model="debug", steps=8, batch_size=4, window_frames=32, learning_rate=2e-3,
                  warmup_steps=3, log_every=4, checkpoint_every=4, threads=1, harmony=True, batches=batches)
    train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "straight", **config))
    resumed = DiffusionTrainConfig(out_dir=tmp_path / "resumed", **config)
    run_killed_at_step(monkeypatch, _DiffusionTraining, 5, lambda: train_diffusion(resumed))
    train_diffusion(resumed)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_harmony_without_chroma_fails_at_start_naming_the_dataset(cache_path: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A cache from a dataset built before chroma: the harmony run stops before building a model, saying which
    dataset and what to do; the cache build said so too, and the CLI stops before building a cache."""
    old_dataset = _tiny_dataset(tmp_path / "old", clips=2, chroma=False)
    assert not dataset_has_chroma(old_dataset) and dataset_has_chroma(cache_path.parent / "dataset")
    old_cache = build_latent_cache(old_dataset, tmp_path / "old.safetensors",
                                   load_latent_cache(cache_path).metadata["autoencoder"], extra_captions=0)
    assert "2 of 2 clips have no chroma" in capsys.readouterr().out
    assert "chroma" not in load_latent_cache(old_cache).arrays
    out_dir = tmp_path / "run"
    config = DiffusionTrainConfig(cache=old_cache, out_dir=out_dir, model="debug", steps=2, batch_size=2,
                                  window_frames=32, threads=1, harmony=True)
    with pytest.raises(MissingChromaError, match="cascade dataset build") as error:
        train_diffusion(config)
    assert str(old_dataset) in str(error.value) and str(old_cache) in str(error.value)
    assert not out_dir.exists()
    from instrument.cli import main

    code = main(["train", "diffusion", "--cache", str(tmp_path / "new.safetensors"), "--dataset", str(old_dataset),
                 "--out", str(out_dir), "--model", "debug", "--harmony"])
    assert code == 2 and "cascade dataset build" in capsys.readouterr().err
    assert not (tmp_path / "new.safetensors").exists()
    code = main(["train", "diffusion", "--cache", str(old_cache), "--out", str(out_dir), "--model", "debug",
                 "--harmony", "--steps", "1", "--threads", "1"])
    said = capsys.readouterr().err
    assert code == 2 and str(old_dataset) in said and "Traceback" not in said


def test_a_harmony_run_warm_started_from_a_model_without_it_begins_where_that_model_is(
        cache_path: Path, tmp_path: Path) -> None:
    common = dict(cache=cache_path, model="debug", batch_size=8, window_frames=32, learning_rate=2e-3,
                  warmup_steps=5, log_every=1, checkpoint_every=100, threads=1)
    train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "plain", steps=60, **common))
    first = {"steps": 3, "harmony": True}
    fresh = train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "fresh", **first, **common))
    warm = train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "warm", **first, **common,
                                                init_from=tmp_path / "plain" / "diffusion.safetensors"))
    # the same batches (the data's generator is seeded apart from the weights): a trained start has the lower loss
    assert warm["history"][0]["loss"] < fresh["history"][0]["loss"]
    network = load_diffusion(tmp_path / "warm" / "diffusion.safetensors")
    assert network.config.harmony_channels
    # the file says where its weights started: the starting file's own provenance, steps included
    provenance = read_diffusion_metadata(tmp_path / "warm" / "diffusion.safetensors")["extra"]["init_from"]
    assert provenance["file"] == "diffusion.safetensors" and provenance["extra"]["steps"] == 60
