"""The shipped diffusion model: loads with its provenance, and its controls steer the audio it makes, as
measured on the decoded audio by our descriptors and by essentia's chroma (a random or untrained model fails
these)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.dataset.descriptors import frame_descriptors
from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS, read_diffusion_metadata
from engine.essentia_chroma import mean_chroma
from engine.generate import Generator
from engine.harmony import LATENT_FRAME_RATE_HZ, parse_chord, progression_chroma
from engine.request import GenerationRequest

SECONDS = 3.0
# Measured with the shipped model (session 15), seeds 11 / 12 / 13: cosine with the held chord 0.68-0.79 (C),
# 0.76-0.89 (F#), with the other 0.10-0.46; mean margin 0.45 / 0.64 / 0.56. Without a chord: 0.32-0.54 either way.
CHORD_MARGIN = 0.25


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
    assert extra["init_from"]["extra"]["steps"] == 10500  # fine-tuned from the first shipped model (session 15)
    assert generator.network.config.latent_channels == generator.autoencoder.config.latent_channels


def test_loudness_control_sets_the_measured_loudness(generator: Generator) -> None:
    quiet = frame_descriptors(_render(generator, descriptors={"loudness": -32.0}))["loudness_db"]
    loud = frame_descriptors(_render(generator, descriptors={"loudness": -14.0}))["loudness_db"]
    assert np.median(loud) - np.median(quiet) > 8.0  # asked for 18 dB apart


def test_brightness_control_sets_the_measured_centroid(generator: Generator) -> None:
    dark = frame_descriptors(_render(generator, descriptors={"brightness": 700.0}))["centroid_hz"]
    bright = frame_descriptors(_render(generator, descriptors={"brightness": 5000.0}))["centroid_hz"]
    assert np.median(bright) > 1.8 * np.median(dark)  # asked for 7x apart


def test_the_shipped_model_follows_a_held_chord(generator: Generator) -> None:
    """The harmony control steers the pitch classes of the output: the same prompt and seed with C major and with
    F# major held (a tritone apart, no tone shared) each come out nearer their own chord than the other, by
    essentia's chroma of the decoded audio (not by our model)."""
    assert generator.harmony and read_diffusion_metadata(DEFAULT_DIFFUSION_WEIGHTS)["config"]["harmony_channels"]
    frames = int(SECONDS * LATENT_FRAME_RATE_HZ) + 1
    own, against = [], []
    for chord, other in (("C", "F#"), ("F#", "C")):
        curve = progression_chroma(chord, 104.0, frames)
        chroma = mean_chroma(_render(generator, chroma=curve.chroma, chroma_mask=curve.mask))
        own.append(_cosine(chroma, parse_chord(chord).chroma()))
        against.append(_cosine(chroma, parse_chord(other).chroma()))
    # a model that ignores the chord makes the same audio for both: one of the two comparisons fails
    assert all(a > b for a, b in zip(own, against)), (own, against)
    assert np.mean(own) - np.mean(against) > CHORD_MARGIN, (own, against)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
