"""The shipped diffusion model: loads with its provenance, and its controls steer the audio it makes, as
measured by our descriptors on the decoded audio (a random or untrained model fails these)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.dataset.descriptors import frame_descriptors
from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS, read_diffusion_metadata
from engine.generate import Generator
from engine.request import GenerationError, GenerationRequest

SECONDS = 3.0


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.set_num_threads(2)
    return Generator.load()


def _render(generator: Generator, **change: object) -> np.ndarray:
    request = GenerationRequest(prompts=("funk groove with slap bass, clavinet and drums",), steps=8, seed=11,
                                tempo_bpm=104.0, **change)  # type: ignore[arg-type]
    audio = generator.render(request, SECONDS)
    assert np.isfinite(audio).all() and np.abs(audio).max() < 1.0
    return audio


def test_shipped_diffusion_weights_load_with_provenance(generator: Generator) -> None:
    extra = read_diffusion_metadata(DEFAULT_DIFFUSION_WEIGHTS)["extra"]
    assert extra["steps"] > 1000 and extra["train"] == "small"
    assert generator.network.config.latent_channels == generator.autoencoder.config.latent_channels


def test_loudness_control_sets_the_measured_loudness(generator: Generator) -> None:
    quiet = frame_descriptors(_render(generator, descriptors={"loudness": -32.0}))["loudness_db"]
    loud = frame_descriptors(_render(generator, descriptors={"loudness": -14.0}))["loudness_db"]
    assert np.median(loud) - np.median(quiet) > 8.0  # asked for 18 dB apart


def test_brightness_control_sets_the_measured_centroid(generator: Generator) -> None:
    dark = frame_descriptors(_render(generator, descriptors={"brightness": 700.0}))["centroid_hz"]
    bright = frame_descriptors(_render(generator, descriptors={"brightness": 5000.0}))["centroid_hz"]
    assert np.median(bright) > 1.8 * np.median(dark)  # asked for 7x apart


def test_the_shipped_model_has_no_harmony_channels_and_refuses_a_chroma_target(generator: Generator) -> None:
    """Its file predates the field (so from_dict's missing value, False), and a chord target is a clear error."""
    assert "harmony_channels" not in read_diffusion_metadata(DEFAULT_DIFFUSION_WEIGHTS)["config"]
    assert not generator.network.config.harmony_channels and not generator.harmony
    with pytest.raises(GenerationError, match="trained without the harmony control"):
        generator.generate_chunk(GenerationRequest(chroma=np.ones((64, 12), np.float32)), 64)
