"""engine/diffusion/device_batches.py: batches built with tensor ops draw real windows, their own clip's
captions and the conditioning dropouts at their rates, like CacheBatches; a run on them resumes exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.diffusion.controls import TRAINING_SMOOTHING_FRAMES, training_harmony
from engine.diffusion.device_batches import DeviceBatches
from engine.diffusion.latents import LatentCache, MissingChromaError, load_latent_cache
from engine.diffusion.train import CacheBatches, DiffusionTrainConfig, _DiffusionTraining, train_diffusion
from engine.vocabulary import NO_KEY
from tests.engine.diffusion.test_train import cache_path  # noqa: F401  (the module-scoped fixture)
from tests.helpers import assert_same_weights, run_killed_at_step

WINDOW = 32


def _config(cache: Path, **changes: object) -> DiffusionTrainConfig:
    return replace(DiffusionTrainConfig(cache=cache, out_dir=Path("unused"), window_frames=WINDOW), **changes)


def test_windows_captions_and_shapes_match_the_cache_batches(cache_path: Path) -> None:  # noqa: F811
    cache = load_latent_cache(cache_path)
    a = cache.arrays
    config = _config(cache_path, p_drop_text=0.0, p_drop_global=0.0)
    channels = int(a["latents"].shape[1])
    x0, cond = DeviceBatches(cache, "train", config, 0, "cpu").batch(64, channels)
    ref_x0, ref = CacheBatches(cache, "train", config, 0).batch(64, channels)
    assert x0.shape == ref_x0.shape and cond.controls.shape == ref.controls.shape
    assert cond.tokens.shape[0] == 64 and cond.tokens.shape[2] == ref.tokens.shape[2]
    for name in ("tempo_bpm", "key", "scale", "timing", "pooled", "token_mask"):
        assert getattr(cond, name).dtype == getattr(ref, name).dtype, name
    latents = a["latents"].float()
    offsets = a["clip_offsets"]
    train_clips = set(cache.clips_in_split("train").tolist())
    for row in range(64):
        # each window is WINDOW consecutive frames of one train clip, its text one of that clip's captions
        window = x0[row].T
        matches = [(clip, start) for clip in train_clips for start in range(int(offsets[clip + 1] - offsets[clip]) - WINDOW + 1)
                   if torch.equal(latents[offsets[clip] + start: offsets[clip] + start + WINDOW], window)]
        assert matches, f"row {row} is not a window of a train clip"
        clip = matches[0][0]
        count = int(cond.token_mask[row].sum())
        captions = torch.nonzero(a["caption_clip"] == clip).flatten().tolist()
        texts = [a["tokens"][a["token_offsets"][c]:a["token_offsets"][c + 1]].float() for c in captions]
        assert any(t.shape[0] == count and torch.equal(cond.tokens[row, :count], t) for t in texts)
        assert not cond.tokens[row, count:].any()


def test_dropout_rates_and_exact_resume(cache_path: Path) -> None:  # noqa: F811
    cache = load_latent_cache(cache_path)
    config = _config(cache_path)
    channels = int(cache.arrays["latents"].shape[1])
    batches = DeviceBatches(cache, "train", config, 3, "cpu")
    text = key = tempo = 0
    rows = 4000
    for _ in range(rows // 200):
        _, cond = batches.batch(200, channels)
        text += int((cond.token_mask.sum(1) == 0).sum())
        key += int((cond.key == NO_KEY).sum())
        tempo += int((cond.tempo_bpm == 0).sum())
    p_global = config.p_drop_global
    for seen, rate in ((text, p_global + (1 - p_global) * config.p_drop_text),
                       (key, p_global + (1 - p_global) * config.p_drop_key),
                       (tempo, p_global + (1 - p_global) * config.p_drop_tempo)):
        assert abs(seen / rows - rate) < 0.03, (seen / rows, rate)
    state = batches.rng_state()
    first = batches.batch(8, channels)[0]
    batches.set_rng_state(state)
    assert torch.equal(batches.batch(8, channels)[0], first)
    with pytest.raises(ValueError, match="batches='cache'"):
        batches.set_rng_state({"bit_generator": "PCG64"})


def test_training_on_device_batches_resumes_to_the_same_weights(cache_path: Path, tmp_path: Path,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = dict(cache=cache_path, model="debug", steps=8, batch_size=4, window_frames=WINDOW, learning_rate=2e-3,
                  warmup_steps=3, log_every=4, checkpoint_every=4, threads=1, batches="device")
    train_diffusion(DiffusionTrainConfig(out_dir=tmp_path / "straight", **config))
    resumed = DiffusionTrainConfig(out_dir=tmp_path / "resumed", **config)
    run_killed_at_step(monkeypatch, _DiffusionTraining, 5, lambda: train_diffusion(resumed))
    train_diffusion(resumed)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def _harmony_rate(batches: CacheBatches | DeviceBatches, cache: LatentCache, rows: int) -> float:
    """The share of `rows` windows given harmony. Each given row's harmony channels are what training_harmony
    makes of its own window of the cache's chroma at one of the training smoothings (the window found by its
    latents); a row not given has them all zero."""
    channels = int(cache.arrays["latents"].shape[1])
    start = 2 * 4 + 2 + channels + 1
    latents, chroma = cache.arrays["latents"].float(), cache.arrays["chroma"]
    given = checked = 0
    for _ in range(rows // 100):
        x0, cond = batches.batch(100, channels)
        assert cond.controls.shape[1] == start + 13
        harmony = cond.controls[:, start:]
        for row in range(100):
            if not harmony[row, 12].any():
                assert not harmony[row].any()
                continue
            given += 1
            if checked < 12:
                first = int(torch.nonzero((latents == x0[row, :, 0]).all(dim=1)).flatten()[0])
                assert torch.equal(latents[first:first + WINDOW].T, x0[row])
                window = chroma[first:first + WINDOW][None]
                made = [torch.cat([profile, mask[:, None]], 1) for profile, mask in
                        (training_harmony(window, smoothing, torch.ones(1, dtype=torch.bool))
                         for smoothing in TRAINING_SMOOTHING_FRAMES)]
                assert any(torch.allclose(harmony[row:row + 1, :12], m[:, :12]) and
                           torch.equal(harmony[row, 12], m[0, 12]) for m in made)
                checked += 1
    assert checked == 12
    return given / rows


def test_harmony_has_the_same_distribution_in_device_and_cache_batches(cache_path: Path) -> None:  # noqa: F811
    cache = load_latent_cache(cache_path)
    config = _config(cache_path, harmony=True, p_harmony=0.5)
    # every 32-frame window of the gated tones sounds somewhere, so a row is given at p_harmony
    assert abs(_harmony_rate(DeviceBatches(cache, "train", config, 1, "cpu"), cache, 1000) - 0.5) < 0.05
    assert abs(_harmony_rate(CacheBatches(cache, "train", config, 1), cache, 1000) - 0.5) < 0.05
    assert _harmony_rate(CacheBatches(cache, "train", replace(config, p_harmony=0.2), 1), cache, 1000) < 0.3
    # the harmony is drawn last: harmony on gives the same other channels as harmony off
    plain = _config(cache_path)
    a = CacheBatches(cache, "train", plain, 5).batch(8, int(cache.arrays["latents"].shape[1]))[1].controls
    b = CacheBatches(cache, "train", replace(plain, harmony=True), 5).batch(8, int(cache.arrays["latents"].shape[1]))[1]
    assert torch.equal(b.controls[:, :a.shape[1]], a)


def test_harmony_batches_need_a_cache_with_chroma(cache_path: Path) -> None:  # noqa: F811
    cache = load_latent_cache(cache_path)
    old = LatentCache(arrays={k: v for k, v in cache.arrays.items() if k != "chroma"}, metadata=cache.metadata)
    config = _config(cache_path, harmony=True)
    for build in (lambda: CacheBatches(old, "train", config, 0), lambda: DeviceBatches(old, "train", config, 0, "cpu")):
        with pytest.raises(MissingChromaError, match="cascade dataset build"):
            build()
