"""Control channels shared by training and generation."""

from __future__ import annotations

import math

import torch

from engine.diffusion.controls import (beat_clock, build_controls, denormalise_descriptors, normalise_descriptors,
                                       smooth_curves)


def test_descriptor_normalisation_round_trips_and_centres_typical_values() -> None:
    raw = torch.tensor([[-20.0, 2000.0, 0.01, 3.0], [-35.0, 400.0, 0.3, 9.0]])
    normalised = normalise_descriptors(raw)
    assert torch.allclose(normalised[0], torch.zeros(4), atol=1e-6)
    assert torch.allclose(denormalise_descriptors(normalised), raw, rtol=1e-5)


def test_beat_clock_has_the_tempo_period_and_starts_on_the_beat() -> None:
    frame_seconds = 1024 / 44100
    clock = beat_clock(torch.tensor([0.0, 0.0]), torch.tensor([120.0, 0.0]), 200, frame_seconds)
    assert clock.shape == (2, 2, 200)
    assert torch.allclose(clock[0, :, 0], torch.tensor([0.0, 1.0]), atol=1e-6)  # phase 0: sin 0, cos 1
    assert torch.count_nonzero(clock[1]) == 0  # no tempo: no clock
    angle = torch.atan2(clock[0, 0], clock[0, 1])
    wraps = int((angle[1:] < angle[:-1] - math.pi).sum())
    seconds = 200 * frame_seconds
    assert wraps == int(seconds * 2)  # 2 beats a second at 120 BPM
    shifted = beat_clock(torch.tensor([0.0]), torch.tensor([120.0]), 4, frame_seconds, torch.tensor([0.5]))
    assert torch.allclose(shifted[0, :, 0], torch.tensor([0.0, -1.0]), atol=1e-6)  # half a beat on


def test_smoothing_keeps_constants_and_length() -> None:
    curves = torch.randn(2, 4, 50)
    assert torch.equal(smooth_curves(curves, 1), curves)
    smoothed = smooth_curves(curves, 9)
    assert smoothed.shape == curves.shape
    assert smoothed.std() < curves.std()
    constant = torch.full((1, 4, 20), 3.0)
    assert torch.allclose(smooth_curves(constant, 7), constant)


def test_build_controls_places_each_part_and_masks_absent_descriptors() -> None:
    latent_channels, frames = 6, 16
    descriptors = torch.ones(1, 4, frames)
    context = torch.full((1, latent_channels, 10), 2.0)
    controls = build_controls(1, frames, latent_channels, descriptors=descriptors,
                              descriptor_mask=torch.tensor([[1.0, 0.0, 1.0, 0.0]]),
                              clock=torch.full((1, 2, frames), 0.5), context=context, context_frames=4)
    assert controls.shape == (1, 8 + 2 + latent_channels + 1, frames)
    assert torch.equal(controls[0, :4, 0], torch.tensor([1.0, 0.0, 1.0, 0.0]))  # absent values zeroed
    assert torch.equal(controls[0, 4:8, 0], torch.tensor([1.0, 0.0, 1.0, 0.0]))  # presence mask
    assert torch.all(controls[0, 8:10] == 0.5)
    assert torch.all(controls[0, 10:16, :4] == 2.0) and torch.all(controls[0, 10:16, 4:] == 0.0)
    assert torch.equal(controls[0, 16], torch.tensor([1.0] * 4 + [0.0] * 12))
    empty = build_controls(1, frames, latent_channels)
    assert torch.count_nonzero(empty) == 0
