"""The TorchScript inference path gives the eager U-Net's outputs."""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.generate import GenerationRequest, debug_generator
from engine.optimise import TracedNetwork


def test_traced_network_matches_eager_generation() -> None:
    torch.set_num_threads(1)
    generator = debug_generator(0)
    request = GenerationRequest(prompts=("lofi piano", "rain noise"), weights=(0.7, 0.3), steps=3, tempo_bpm=80.0,
                                key="C", scale="major", descriptors={"loudness": -22.0})
    eager = generator.generate_chunk(request, 32).latent
    generator.network = TracedNetwork(generator.network)
    generator.denoiser.network = generator.network
    traced = generator.generate_chunk(request, 32).latent
    assert torch.allclose(eager, traced, atol=1e-4)
    other = generator.generate_chunk(replace(request, prompts=("a much longer prompt " * 10, "x")), 32).latent
    assert torch.isfinite(other).all() and len(generator.network._traced) == 2  # a second token bucket
