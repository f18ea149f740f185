"""Magnitude autoencoder: shapes, exact streaming, iSTFT, a training step, checkpoint safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.codec.checkpoint import CheckpointError, load_autoencoder, save_autoencoder
from engine.codec.model import DEBUG_CONFIG, AutoencoderConfig, MagnitudeAutoencoder, OverlapAddISTFT, polar_from_log
from engine.codec.streaming import StreamingDecoder
from engine.codec.spectral import DecoderMagnitudeLoss, log_spectral_distance_db


# the low bins' frequency from a predicted 8192-point magnitude of the low band (engine/codec/fine_low_band.py)
FINE_BAND = {"decoder_frequency_bins": 12, "decoder_fine_n_fft": 8192, "decoder_fine_bins": 56}


@pytest.fixture()
def model() -> MagnitudeAutoencoder:
    torch.manual_seed(0)
    return MagnitudeAutoencoder(DEBUG_CONFIG).eval()


def test_shapes_and_compression(model: MagnitudeAutoencoder) -> None:
    audio = torch.randn(3, 2, 40 * 1024) * 0.1
    latent = model.encode(audio)
    assert latent.shape == (3, 32, 40)
    assert model.decode(latent).shape == audio.shape
    assert AutoencoderConfig().compression_ratio == 64.0
    with pytest.raises(ValueError, match="multiple of hop_frames"):
        model.encode(torch.zeros(1, 2, 1000))


def test_encoder_ignores_phase(model: MagnitudeAutoencoder) -> None:
    # A sign flip keeps every STFT magnitude: the latent must not change.
    audio = torch.randn(1, 2, 16 * 1024) * 0.1
    torch.testing.assert_close(model.encode(audio), model.encode(-audio))


@pytest.mark.parametrize("config", [DEBUG_CONFIG, AutoencoderConfig(),
                                    AutoencoderConfig.from_dict(DEBUG_CONFIG.to_dict() | {"decoder_upsample": "subpixel"}),
                                    AutoencoderConfig.from_dict(DEBUG_CONFIG.to_dict() | {"decoder_frequency_bins": 12}),
                                    AutoencoderConfig.from_dict(DEBUG_CONFIG.to_dict() | FINE_BAND)],
                         ids=["debug", "default", "debug-subpixel", "debug-frequency-branch", "debug-fine-band"])
def test_streaming_decode_equals_offline(config: AutoencoderConfig) -> None:
    torch.manual_seed(1)
    model = MagnitudeAutoencoder(config).eval()
    if model.decoder.frequency is not None:  # a trained branch's corrections are not zero
        torch.nn.init.normal_(model.decoder.frequency.output.weight, std=0.05)
    latent = torch.randn(2, config.latent_channels, 70)
    with torch.no_grad():
        offline = model.decode(latent)
    streamer = StreamingDecoder(model.decoder)
    pieces, start = [], 0
    for size in (1, 9, 23, 2, 35):
        pieces.append(streamer.push(latent[..., start:start + size]))
        start += size
    pieces.append(streamer.flush())
    streamed = torch.cat(pieces, dim=-1)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("branch", [{}, {"decoder_frequency_bins": 12}, FINE_BAND],
                         ids=["plain", "frequency-branch", "fine-band"])
def test_decode_continuing_from_a_frame_boundary_equals_the_whole_decode(branch: dict) -> None:
    # The live engine decodes each chunk with its receptive field of history and the stream's phase state
    # at the splice: the audio is the uninterrupted decode's, sample for sample (with the low-bin frequency
    # branch too: its offsets of the frame before the splice travel in the state).
    from dataclasses import replace

    torch.manual_seed(0)
    model = MagnitudeAutoencoder(replace(DEBUG_CONFIG, **branch)).eval()
    if model.decoder.frequency is not None:
        torch.nn.init.normal_(model.decoder.frequency.output.weight, std=0.05)
    torch.manual_seed(4)
    history = model.decoder.receptive_field_frames
    latent = torch.randn(1, DEBUG_CONFIG.latent_channels, history + 20)
    splice = history + 7
    with torch.no_grad():
        whole, states = model.decoder.decode_continuing(latent, None)
        tail, tail_states = model.decoder.decode_continuing(latent[..., splice - history:], states[splice - 1],
                                                            skip_frames=history)
        offline = model.decode(latent)
    torch.testing.assert_close(whole, offline)
    assert len(states) == latent.shape[-1] and states[splice - 1].frames_done == splice * DEBUG_CONFIG.frames_per_latent
    torch.testing.assert_close(tail, whole[..., splice * DEBUG_CONFIG.hop_frames:], atol=1e-5, rtol=1e-4)
    assert len(tail_states) == latent.shape[-1] - splice
    np.testing.assert_allclose(tail_states[-1].previous_phase, states[-1].previous_phase, atol=1e-6)


def test_an_untrained_frequency_branch_decodes_as_the_decoder_without_it() -> None:
    """The branch corrects the frequency the phase integration reads off the magnitude, starting from zero:
    added to a trained decoder (its other tensors copied) it changes nothing until it is trained."""
    from dataclasses import replace

    torch.manual_seed(0)
    plain = MagnitudeAutoencoder(DEBUG_CONFIG).eval()
    branched = MagnitudeAutoencoder(replace(DEBUG_CONFIG, decoder_frequency_bins=12)).eval()
    missing = branched.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(name.startswith("decoder.frequency.") for name in missing)
    latent = torch.randn(1, DEBUG_CONFIG.latent_channels, 20)
    with torch.no_grad():
        torch.testing.assert_close(branched.decode(latent), plain.decode(latent), atol=0.0, rtol=0.0)
        torch.nn.init.normal_(branched.decoder.frequency.output.weight, std=0.05)
        assert not torch.equal(branched.decode(latent), plain.decode(latent))


@pytest.mark.parametrize("upsample", ["interpolate", "subpixel"])
def test_a_steady_latent_gives_a_steady_magnitude_only_without_per_position_weights(upsample: str) -> None:
    # A latent that does not change must not give a magnitude that repeats a pattern every latent frame (the
    # stamp that left lines at multiples of 43 Hz). The interpolating upsampler has no per-position weights,
    # so it cannot; the sub-pixel one (random weights here) does. Frames past the causal warm-up are compared.
    from dataclasses import replace

    torch.manual_seed(0)
    decoder = MagnitudeAutoencoder(replace(DEBUG_CONFIG, decoder_upsample=upsample)).decoder.eval()
    latent = torch.randn(1, 32, 1).expand(1, 32, 24).contiguous()
    with torch.no_grad():
        steady = decoder.log_magnitude(latent)[..., 40:]
    ripple = float((steady - steady.mean(-1, keepdim=True)).abs().max())
    if upsample == "interpolate":
        assert ripple < 1e-5
    else:
        assert ripple > 1e-2


def test_config_without_an_upsampler_field_is_the_subpixel_decoder_and_initialises_an_interpolating_one(
        tmp_path: Path) -> None:
    from dataclasses import replace

    from engine.codec.train import initialise_from

    data = DEBUG_CONFIG.to_dict()
    data.pop("decoder_upsample")  # what files written before the field hold
    assert AutoencoderConfig.from_dict(data).decoder_upsample == "subpixel"
    with pytest.raises(ValueError, match="decoder_upsample"):
        MagnitudeAutoencoder(replace(DEBUG_CONFIG, decoder_upsample="nearest"))
    torch.manual_seed(0)
    old = MagnitudeAutoencoder(replace(DEBUG_CONFIG, decoder_upsample="subpixel"))
    save_autoencoder(old, tmp_path / "old.safetensors", half=False)
    new = MagnitudeAutoencoder(DEBUG_CONFIG)
    assert initialise_from(new, tmp_path / "old.safetensors") == []
    per_position = old.decoder.upsample.weight.reshape(DEBUG_CONFIG.frames_per_latent, -1,
                                                       DEBUG_CONFIG.decoder_latent_dim)
    torch.testing.assert_close(new.decoder.upsample.weight, per_position.mean(0))


def test_overlap_add_istft_matches_torch() -> None:
    torch.manual_seed(2)
    frames = torch.randn(2, 513, 33, dtype=torch.complex64)
    ours = OverlapAddISTFT(1024, 256)(frames)
    reference = torch.istft(frames, 1024, 256, window=torch.hann_window(1024), center=True, length=33 * 256)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)


def test_debug_training_steps_lower_the_loss(model: MagnitudeAutoencoder) -> None:
    torch.manual_seed(3)
    model.train()
    t = torch.arange(24 * 1024) / 44100
    audio = torch.stack([0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.1 * torch.sin(2 * torch.pi * 1760 * t),
                         0.2 * torch.sin(2 * torch.pi * 330 * t)])[None].repeat(2, 1, 1)
    loss_fn = DecoderMagnitudeLoss(model.config.decoder_n_fft, model.config.decoder_hop)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(25):
        log_magnitude = model.decoder.log_magnitude(model.encode(audio))
        parts = loss_fn(audio, log_magnitude)
        loss = parts["magnitude_log_l1"] + parts["magnitude_convergence"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_checkpoint_round_trip_fp16(model: MagnitudeAutoencoder, tmp_path: Path) -> None:
    model.latent_mean.fill_(0.25)
    path = tmp_path / "ae.safetensors"
    save_autoencoder(model, path)
    loaded = load_autoencoder(path)
    assert loaded.config == model.config
    assert torch.equal(loaded.latent_mean, model.latent_mean)
    audio = torch.randn(1, 2, 8 * 1024) * 0.1
    with torch.no_grad():
        # fp16 weights move the magnitudes a little; the phase integration then may visit bins in another
        # order, so compare what the network predicts and the spectrum of what comes out.
        torch.testing.assert_close(loaded.decoder.log_magnitude(loaded.encode(audio)),
                                   model.decoder.log_magnitude(model.encode(audio)), atol=2e-2, rtol=2e-2)
        assert log_spectral_distance_db(model.decode(model.encode(audio))[0],
                                        loaded.decode(loaded.encode(audio))[0]) < 1.0


def test_corrupt_and_mismatched_checkpoints_are_rejected(model: MagnitudeAutoencoder, tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_autoencoder(model, good)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 7 + b"not a checkpoint")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_autoencoder(garbage)
    with pytest.raises(CheckpointError):
        load_autoencoder(truncated)
    with pytest.raises(CheckpointError, match="no such"):
        load_autoencoder(tmp_path / "missing.safetensors")

    tensors = load_file(str(good))
    config = DEBUG_CONFIG.to_dict() | {"decoder_frame_dim": 64}
    mismatched = tmp_path / "mismatched.safetensors"
    save_file(tensors, str(mismatched), metadata={"format": "cascade-magnitude-autoencoder", "format_version": "2",
                                                  "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="shape"):
        load_autoencoder(mismatched)

    retired = tmp_path / "learned_phase.safetensors"
    save_file(tensors, str(retired), metadata={"format": "cascade-magnitude-autoencoder", "format_version": "1",
                                               "config": json.dumps(DEBUG_CONFIG.to_dict())})
    with pytest.raises(CheckpointError, match="retired learned-phase decoder"):
        load_autoencoder(retired)

    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={"format": "something-else"})
    with pytest.raises(CheckpointError, match="not a Cascade autoencoder"):
        load_autoencoder(other)

    poisoned = dict(tensors)
    name = next(k for k in poisoned if k.endswith("weight"))
    poisoned[name] = torch.full_like(poisoned[name], float("nan"))
    nan_path = tmp_path / "nan.safetensors"
    save_file(poisoned, str(nan_path), metadata={"format": "cascade-magnitude-autoencoder", "format_version": "2",
                                                 "config": json.dumps(DEBUG_CONFIG.to_dict())})
    with pytest.raises(CheckpointError, match="NaN"):
        load_autoencoder(nan_path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_autoencoder(good, expected_config=AutoencoderConfig())


def test_polar_from_log_matches_torch_polar() -> None:
    log_magnitude = torch.randn(2, 50, 1025) - 2.0
    phase = torch.rand(2, 50, 1025) * 6.3 - 3.1
    expected = torch.polar(torch.exp(log_magnitude), phase)
    torch.testing.assert_close(polar_from_log(log_magnitude, phase), expected, rtol=1e-5, atol=1e-6)
