"""The decoder's adversarial fine-tune at debug size: discriminator shapes and losses, torch tones, the
Vorbis bundle, a few training steps that move the decoder and leave the encoder's latent bit for bit,
resuming equals continuing, and the export loads as a shipped-format autoencoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.codec.adversarial import AdversarialConfig, encoder_digest, peak_pitch_cents, train
from engine.codec.adversarial_cli import main
from engine.codec.adversarial_data import AudioBank
from engine.codec.bundle import BundleWriter, read_bundle
from engine.codec.checkpoint import load_autoencoder, read_metadata, save_autoencoder
from engine.codec.discriminator import (LOG_FLOOR, MultiBandDiscriminator, discriminator_loss, feature_matching_loss,
                                        generator_loss, low_band_bins, pool_bins, prepare)
from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.codec.synthetic_torch import ToneBatch, reference_tone
from engine.training import read_training_state
from tests.helpers import assert_same_weights

SEGMENT_FRAMES = 8  # latent frames per training segment in these tests (8 x 1024 samples)


@pytest.fixture(scope="module")
def initial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A debug-size autoencoder file with non-trivial latent statistics (the warm start)."""
    torch.manual_seed(0)
    model = MagnitudeAutoencoder(DEBUG_CONFIG)
    model.latent_mean.uniform_(-0.5, 0.5)
    model.latent_std.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("init") / "init.safetensors"
    save_autoencoder(model, path, extra={"steps": 1})
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Vorbis bundle of synthetic excerpts: 6 train (0.4 s) and 2 valid."""
    folder = tmp_path_factory.mktemp("bundle") / "data"
    tones = ToneBatch(torch.Generator().manual_seed(5)).sample(8, 17640).numpy()
    writer = BundleWriter(folder, budget_bytes=2**20, shard_seconds=1.0)
    for i, audio in enumerate(tones):
        assert writer.add(audio, split="valid" if i < 2 else "train", path=f"clip{i}")
    index = writer.close()
    assert len(index["shards"]) >= 2 and index["bytes"] <= 2**20
    return folder


def _config(out: Path, bundle: Path, initial: Path, **overrides) -> AdversarialConfig:
    settings = dict(out_dir=out, data=bundle, init=initial, batch_size=2, segment_latent_frames=SEGMENT_FRAMES,
                    disc_warmup=1, disc_channels=4, log_every=1, eval_every=2, checkpoint_every=100, threads=1,
                    device="cpu", ema_decay=0.9)
    return AdversarialConfig(**(settings | overrides))


def test_discriminator_shapes_and_losses() -> None:
    torch.manual_seed(0)
    disc = MultiBandDiscriminator(audio_channels=2, n_fft=2048, channels=4)
    frames = 24
    real = torch.randn(2, 2, 1025, frames)
    judged = disc(real)
    assert set(judged) == {"full", "low", "pooled"}
    assert low_band_bins(2048, 44100) == 71  # 0-1.51 kHz
    # full: 1025 bins, four frequency strides of 2; low: 71 bins, two strides; pooled: 129 bands, 3 time strides
    assert judged["full"].logits.shape == (2, 1, 65, frames)
    assert judged["low"].logits.shape == (2, 1, 18, frames)
    assert judged["pooled"].logits.shape == (2, 1, 129, 3)
    assert [len(j.features) for j in judged.values()] == [6, 5, 5]
    assert judged["low"].features[0].shape == (2, 8, 71, frames)  # twice the channels, full resolution
    fake = disc(real + 0.1 * torch.randn_like(real))
    loss_d, parts = discriminator_loss(judged, fake, "hinge")
    assert set(parts) == {"full", "low", "pooled"} and math.isfinite(loss_d.item())
    assert discriminator_loss(judged, fake, "lsgan")[0].item() >= 0
    assert feature_matching_loss(judged, judged).item() == 0.0
    assert feature_matching_loss(judged, fake).item() > 0
    generated = torch.randn(2, 2, 1025, frames, requires_grad=True)
    (generator_loss(disc(generated)) + feature_matching_loss(judged, disc(generated))).backward()
    assert generated.grad is not None and generated.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        generator_loss(judged, "wasserstein")


def test_inputs_are_floored_and_pooled_as_power() -> None:
    x = torch.full((1, 2, 17, 3), -20.0)  # far below the floor
    assert torch.equal(prepare(x), torch.full_like(x, LOG_FLOOR / 4.0))
    level = torch.full((1, 1, 16, 2), 1.0)
    assert torch.allclose(pool_bins(level, 8), torch.full((1, 1, 2, 2), 1.0), atol=1e-6)  # a flat band stays
    one_loud = torch.zeros(1, 1, 8, 1)
    one_loud[0, 0, 3] = 2.0  # scaled log-magnitude: log power 16 in one bin of eight
    expected = (torch.logsumexp(torch.tensor([16.0] + [0.0] * 7), 0) - math.log(8)) / 8.0
    assert torch.allclose(pool_bins(one_loud, 8)[0, 0, 0, 0], expected, atol=1e-5)


def test_tone_batch_is_deterministic_and_reference_tones_have_their_pitch() -> None:
    a = ToneBatch(torch.Generator().manual_seed(3), low_fraction=1.0).sample(3, 4096)
    b = ToneBatch(torch.Generator().manual_seed(3), low_fraction=1.0).sample(3, 4096)
    assert a.shape == (3, 2, 4096) and torch.equal(a, b) and torch.isfinite(a).all()
    assert 0.01 < a.abs().amax() <= 0.51
    tone = reference_tone(73.21, "saw", 49152)
    assert tone.shape == (2, 49152) and abs(tone.abs().max().item() - 0.3) < 1e-6
    spectrum = torch.fft.rfft(tone[0].double() * torch.hann_window(49152, dtype=torch.float64))
    assert abs(spectrum.abs().argmax().item() * 44100 / 49152 - 73.21) < 1.0


def test_peak_pitch_reads_the_true_magnitude_and_sees_a_shift() -> None:
    from engine.codec.spectral import stft_magnitude

    tone = reference_tone(233.41, "saw", 49152)
    log_magnitude = torch.log(stft_magnitude(tone, 2048, 256).clamp_min(1e-12))
    assert peak_pitch_cents(log_magnitude, 233.41, 2048) < 3.0
    assert peak_pitch_cents(log_magnitude, 233.41 * 2 ** (30 / 1200), 2048) > 25.0


def test_bundle_round_trip_and_budget(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    excerpts = [(0.1 * rng.standard_normal((2, 4410))).astype(np.float32) for _ in range(6)]
    writer = BundleWriter(tmp_path / "b", budget_bytes=10**6, fmt="flac", shard_seconds=0.2)
    for i, audio in enumerate(excerpts):
        writer.add(audio, split="train", path=str(i))
    full = writer.close()
    back = read_bundle(tmp_path / "b")["train"]
    # FLAC is 16-bit: equal to within half a step
    assert len(back) == 6 and all(np.abs(b - a).max() <= 1 / 32768 for a, b in zip(excerpts, back))
    budget = int(0.6 * full["bytes"])  # three shards of two: the second is trimmed to one, then it is full
    small = BundleWriter(tmp_path / "s", budget_bytes=budget, fmt="flac", shard_seconds=0.2)
    taken = sum(small.add(audio, split="train", path=str(i)) for i, audio in enumerate(excerpts))
    index = small.close()
    assert index["bytes"] <= budget and len(index["excerpts"]) == 3 and taken < 6


def test_audio_bank_crops_pad_short_excerpts() -> None:
    bank = AudioBank.from_excerpts([np.ones((2, 10), np.float32), 2 * np.ones((2, 30), np.float32)])
    crops = bank.crops(torch.tensor([0, 1]), torch.tensor([4, 5]), 12)
    assert crops.shape == (2, 2, 12)
    assert crops[0, :, :6].eq(1).all() and crops[0, :, 6:].eq(0).all() and crops[1].eq(2).all()
    sampled = bank.sample(5, 20, torch.Generator().manual_seed(0))
    assert sampled.shape == (5, 2, 20)


def test_steps_move_the_decoder_and_keep_the_latent(tmp_path: Path, bundle: Path, initial: Path) -> None:
    before = load_autoencoder(initial)
    result = train(_config(tmp_path / "run", bundle, initial, steps=3))
    assert result["steps"] == 3
    after = load_autoencoder(result["export"])
    assert after.config == before.config and read_metadata(result["export"])["extra"]["adversarial_fine_tune"]
    source, exported = load_file(str(initial)), load_file(str(result["export"]))
    assert set(source) == set(exported)
    for name in source:
        if name.startswith(("encoder.", "latent_")):
            assert torch.equal(source[name], exported[name]), name  # the same bits, fp16 as shipped
    assert any(not torch.equal(source[n], exported[n]) for n in source if n.startswith("decoder."))
    audio = reference_tone(110.0, "saw", SEGMENT_FRAMES * 1024)[None]
    with torch.no_grad():
        assert torch.equal(before.encode(audio), after.encode(audio))
        assert not torch.equal(before.decoder.log_magnitude(before.encode(audio)),
                               after.decoder.log_magnitude(after.encode(audio)))
    assert encoder_digest(before) == encoder_digest(after)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[-1]["event"] == "export" and log[-1]["encoder_unchanged"]
    steps = [r for r in log if "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert "adversarial" not in steps[0] and "feature_matching" in steps[1]  # after the one warm-up step
    assert "peak_cents_41.2" in steps[1] and "valid_log_l1" in steps[1]


def test_resume_equals_continuing(tmp_path: Path, bundle: Path, initial: Path) -> None:
    train(_config(tmp_path / "straight", bundle, initial, steps=4))
    train(_config(tmp_path / "resumed", bundle, initial, steps=2))
    train(_config(tmp_path / "resumed", bundle, initial, steps=4))
    straight, resumed = (read_training_state(tmp_path / name) for name in ("straight", "resumed"))
    assert straight["step"] == resumed["step"] == 4
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed", parts=("decoder", "ema", "discriminator"))
    assert torch.equal(straight["data_generator"], resumed["data_generator"])


def test_minutes_budget_stops_and_exports(tmp_path: Path, bundle: Path, initial: Path) -> None:
    result = train(_config(tmp_path / "run", bundle, initial, minutes=1e-9, steps=100))
    assert result["steps"] <= 1 and load_autoencoder(result["export"]).config == DEBUG_CONFIG


def test_snapshot_and_discriminator_weights(tmp_path: Path, bundle: Path, initial: Path) -> None:
    result = train(_config(tmp_path / "run", bundle, initial, steps=2, snapshot_minutes=1e-9,
                           disc_weights="full=0,low=2"))
    snapshot = tmp_path / "run" / "autoencoder_snapshot.safetensors"
    assert load_autoencoder(snapshot).config == DEBUG_CONFIG and read_metadata(snapshot)["extra"]["snapshot"]
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log if "event" in r] == ["start", "snapshot", "export"] and result["steps"] == 2
    assert AdversarialConfig(out_dir=tmp_path, data=bundle, disc_weights="low=3").discriminator_weights() == \
        {"full": 1.0, "low": 3.0, "pooled": 1.0}
    with pytest.raises(ValueError):
        AdversarialConfig(out_dir=tmp_path, data=bundle, disc_weights="mid=1").validate()


def test_cli_refuses_a_config_without_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "x")]) == 2
    assert "data" in capsys.readouterr().err


def test_a_fine_band_passes_through_the_adversarial_fine_tune(tmp_path: Path, bundle: Path) -> None:
    """The shipped file (v2.4) has a fine low band; the adversarial losses read the log-magnitude only, so the band
    comes out bit for bit (the runbook's claim), while the magnitude decoder moves."""
    from dataclasses import replace

    torch.manual_seed(1)
    config = replace(DEBUG_CONFIG, decoder_frequency_bins=16, decoder_frequency_dim=16, decoder_frequency_blocks=1,
                     decoder_fine_n_fft=8192, decoder_fine_bins=66)
    start = tmp_path / "fine.safetensors"
    save_autoencoder(MagnitudeAutoencoder(config), start, extra={"steps": 1})
    result = train(_config(tmp_path / "run", bundle, start, steps=2))
    source, exported = load_file(str(start)), load_file(str(result["export"]))
    band = [name for name in source if name.startswith("decoder.fine.")]
    assert band and set(source) == set(exported)
    for name in band:
        assert torch.equal(source[name], exported[name]), name
    assert any(not torch.equal(source[n], exported[n]) for n in source if n.startswith("decoder.head"))
