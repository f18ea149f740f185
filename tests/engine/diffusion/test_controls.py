"""Control channels shared by training and generation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.diffusion.controls import (CHROMA_SILENCE, beat_clock, build_controls, chroma_profile,
                                       denormalise_descriptors, harmony_targets, normalise_descriptors, smooth_curves,
                                       training_harmony, without_controls)


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


def test_chroma_profile_is_each_frame_over_its_loudest_pitch_class() -> None:
    energy = torch.zeros(1, 12, 4)
    energy[0, [0, 4, 7], 0] = torch.tensor([0.5, 0.25, 0.125])  # a C major triad, root loudest
    energy[0, :, 1] = energy[0, :, 0] * 40.0  # the same chord 40x louder
    energy[0, 2, 3] = CHROMA_SILENCE / 2  # below the silence threshold
    profile, mask = chroma_profile(energy)
    assert profile.shape == (1, 12, 4) and mask.shape == (1, 4)
    assert torch.allclose(profile[0, [0, 4, 7], 0], torch.tensor([1.0, 0.5, 0.25]))
    assert torch.allclose(profile[0, :, 1], profile[0, :, 0])  # loudness does not change the profile
    assert torch.equal(mask[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))  # silent frames: mask 0
    assert not profile[0, :, 2:].any()


def test_harmony_targets_slice_the_render_curve_per_window() -> None:
    rng = np.random.default_rng(0)
    chroma = rng.random((100, 12)).astype(np.float32)
    chroma[40:45] = 0.0  # silent frames
    mask = np.ones(100, np.float32)
    mask[60:70] = 0.0  # no chord
    whole, whole_mask = harmony_targets(chroma, mask, 0, 100)
    assert torch.equal(whole_mask[0, 40:45], torch.zeros(5)) and torch.equal(whole_mask[0, 60:70], torch.zeros(10))
    for start in (0, 24, 48, 72):
        window, window_mask = harmony_targets(chroma, mask, start, 32)
        end = min(start + 32, 100)
        assert torch.equal(window[..., :end - start], whole[..., start:end])
        assert torch.equal(window_mask[:, :end - start], whole_mask[:, start:end])
        assert not window_mask[:, end - start:].any()  # past the curve's end: not given
    _, no_mask = harmony_targets(chroma, None, 0, 100)
    assert no_mask[0, 60:70].all() and not no_mask[0, 40:45].any()
    with pytest.raises(ValueError, match="frames, 12"):
        harmony_targets(np.ones((10, 11)), None, 0, 8)
    with pytest.raises(ValueError, match=">= 0"):
        harmony_targets(-np.ones((10, 12)), None, 0, 8)
    with pytest.raises(ValueError, match="mask"):
        harmony_targets(np.ones((10, 12)), np.ones(9), 0, 8)


def test_training_harmony_smooths_then_normalises_and_drops_rows() -> None:
    energy = torch.zeros(2, 20, 12)
    energy[:, :10, 9] = 0.6  # A for ten frames, then silence
    profile, mask = training_harmony(energy, 1, torch.tensor([True, False]))
    assert torch.equal(mask[0], torch.tensor([1.0] * 10 + [0.0] * 10)) and not mask[1].any()
    assert torch.equal(profile[0, 9, :10], torch.ones(10))
    smoothed, smoothed_mask = training_harmony(energy, 5, torch.tensor([True, True]))
    assert smoothed_mask[0, :12].all() and not smoothed_mask[0, 12:].any()  # the window reaches 2 frames on
    assert torch.equal(smoothed, profile.new_zeros(2, 12, 20).index_fill_(1, torch.tensor([9]), 1.0) * smoothed_mask[:, None])


def test_build_controls_appends_the_harmony_channels_only_when_asked() -> None:
    latent_channels, frames = 6, 16
    base = build_controls(1, frames, latent_channels, clock=torch.full((1, 2, frames), 0.5))
    harmony = build_controls(1, frames, latent_channels, clock=torch.full((1, 2, frames), 0.5), harmony=True)
    assert harmony.shape == (1, base.shape[1] + 13, frames)
    assert torch.equal(harmony[:, :base.shape[1]], base) and not harmony[:, base.shape[1]:].any()
    chroma = torch.rand(1, 12, frames)
    chroma_mask = (torch.arange(frames) < 10).float()[None]
    given = build_controls(1, frames, latent_channels, harmony=True, chroma=chroma, chroma_mask=chroma_mask)
    start = base.shape[1]
    assert torch.equal(given[0, start:start + 12, :10], chroma[0, :, :10])
    assert not given[0, start:start + 12, 10:].any()  # not given: zeroed
    assert torch.equal(given[0, start + 12], chroma_mask[0])
    with pytest.raises(ValueError, match="harmony"):
        build_controls(1, frames, latent_channels, chroma=chroma)


def test_without_controls_is_build_controls_without_the_named_parts_and_keeps_the_context() -> None:
    latent_channels, frames = 6, 16
    parts = {"descriptors": torch.rand(1, 4, frames), "clock": torch.rand(1, 2, frames),
             "chroma": torch.rand(1, 12, frames)}
    context = torch.rand(1, latent_channels, frames)

    def built(*left_out: str) -> torch.Tensor:
        return build_controls(1, frames, latent_channels, descriptors=None if "descriptors" in left_out
                              else parts["descriptors"], clock=None if "clock" in left_out else parts["clock"],
                              context=context, context_frames=5, harmony=True,
                              chroma=None if "harmony" in left_out else parts["chroma"])

    full = built()
    for names in [(), ("descriptors",), ("clock",), ("harmony",), ("descriptors", "harmony", "clock")]:
        assert torch.equal(without_controls(full, names, latent_channels), built(*names))
    assert full.abs().sum() > built("descriptors", "harmony", "clock").abs().sum() > 0  # the context stays
    with pytest.raises(ValueError, match="context"):
        without_controls(full, ("context",), latent_channels)
