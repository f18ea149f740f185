"""The codec's spectral losses: the peak-pitch term reads cents, the output loss is the benchmark's metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.codec.spectral import (DecoderMagnitudeLoss, log_spectral_distance_db, multi_resolution_log_l1,
                                   stft_magnitude)

SAMPLE_RATE = 44100


def _tone(f0_hz: float, seconds: float = 1.0) -> torch.Tensor:
    """A sine with 0.2 s raised-cosine fades (no clicks: every frame's peak is the tone's), (1, 2, samples)."""
    t = torch.arange(int(seconds * SAMPLE_RATE), dtype=torch.float64) / SAMPLE_RATE
    fade = torch.clamp(torch.minimum(t, t[-1] - t) / 0.2, max=1.0)
    envelope = 0.5 - 0.5 * torch.cos(math.pi * fade)
    return (0.3 * envelope * torch.sin(2 * math.pi * f0_hz * t)).float()[None, None].repeat(1, 2, 1)


@pytest.mark.parametrize("f0_hz", [61.3, 1013.7])
def test_the_peak_pitch_term_reads_the_pitch_error_in_cents_at_low_and_high_notes(f0_hz: float) -> None:
    """A prediction that is the spectrum of the same tone 20 cents sharp costs ~0.2 (hundreds of cents), at 61 Hz
    as at 1 kHz: the term measures the pitch the phase integration would read, not a bin-count error."""
    loss = DecoderMagnitudeLoss(2048, 256)
    reference = _tone(f0_hz)
    sharp = stft_magnitude(_tone(f0_hz * 2 ** (20 / 1200)), 2048, 256).clamp_min(1e-12).log()
    flat = stft_magnitude(_tone(f0_hz * 2 ** (-20 / 1200)), 2048, 256).clamp_min(1e-12).log()
    same = stft_magnitude(reference, 2048, 256).clamp_min(1e-12).log()
    assert loss(reference, same)["peak_pitch_cents"].item() < 1e-6
    for moved in (sharp, flat):
        cents = 100.0 * loss(reference, moved)["peak_pitch_cents"].item()
        assert 12.0 < cents < 30.0, cents


def test_the_plain_gradient_term_does_not_see_a_low_note_that_the_peak_pitch_term_sees() -> None:
    """Why the term exists: the same 20-cent error is a far smaller slope error at 61 Hz than at 1 kHz."""
    loss = DecoderMagnitudeLoss(2048, 256)
    terms = {}
    for f0_hz in (61.3, 1013.7):
        reference = _tone(f0_hz)
        moved = stft_magnitude(_tone(f0_hz * 2 ** (20 / 1200)), 2048, 256).clamp_min(1e-12).log()
        terms[f0_hz] = loss(reference, moved)
    low, high = terms[61.3], terms[1013.7]
    assert low["frequency_gradient_l1"] < 0.3 * high["frequency_gradient_l1"]
    assert low["peak_pitch_cents"] > 0.5 * high["peak_pitch_cents"]


def test_the_output_loss_is_the_benchmarks_log_spectral_distance() -> None:
    torch.manual_seed(0)
    reference = torch.randn(2, 2, 16384) * 0.1
    decoded = reference + 0.05 * torch.randn_like(reference)
    nats = multi_resolution_log_l1(reference, decoded).item()
    metric = np.mean([log_spectral_distance_db(reference[i], decoded[i]) for i in range(2)])
    assert nats * 20 / math.log(10) == pytest.approx(metric, rel=1e-3)


def test_the_output_loss_trains_the_magnitude_through_the_fixed_phase() -> None:
    """The decoded audio is differentiable in the predicted magnitude (the integrated phase is a constant), and
    a few steps on the magnitude head lower the output loss."""
    torch.manual_seed(1)
    model = MagnitudeAutoencoder(DEBUG_CONFIG)
    decoder = model.decoder
    t = torch.arange(16 * 1024) / SAMPLE_RATE
    audio = torch.stack([0.3 * torch.sin(2 * math.pi * 220 * t), 0.2 * torch.sin(2 * math.pi * 331 * t)])[None]
    with torch.no_grad():
        latent = model.encode(audio)
    optimiser = torch.optim.Adam(decoder.head.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss = multi_resolution_log_l1(audio, decoder.synthesise(decoder.log_magnitude(latent)))
        optimiser.zero_grad()
        loss.backward()
        assert decoder.head.weight.grad.abs().sum() > 0
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3]), losses


@pytest.mark.parametrize("f0_hz", [41.2, 63.9, 250.3])
def test_instantaneous_frequency_offsets_place_a_tone_between_bin_centres(f0_hz: float) -> None:
    """The loud bins of a steady sine's main lobe read the sine's own frequency, wherever it sits between the
    21.5 Hz bin centres: on average over frames to 0.003 bin, each frame to 0.03 (below 3 bins the window's
    image at negative frequencies beats with the tone, so the frame-wise reading ripples by ~0.015 bin). What
    the oracle phase of benchmarks/codec_phase_oracle.py feeds in."""
    from engine.codec.spectral import instantaneous_frequency_offsets
    n_fft, hop = 2048, 256
    offsets = instantaneous_frequency_offsets(_tone(f0_hz)[0, 0], n_fft, hop, bins=32)  # (frames, bins)
    assert offsets.shape[-1] == 32
    true_bin = f0_hz * n_fft / SAMPLE_RATE
    steady = offsets[40:-40]  # away from the fades
    for k in [k for k in range(1, 32) if abs(k - true_bin) < 1.2]:  # the lobe's loud bins, not its edges
        read = (k + steady[:, k]).numpy()
        assert abs(read.mean() - true_bin) < 0.003, (k, read.mean(), true_bin)
        np.testing.assert_allclose(read, true_bin, atol=0.03)
