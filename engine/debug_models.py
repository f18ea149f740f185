"""A Generator on tiny random models (the debug configs): what tests, smoke runs and `cascade play --debug` use.

Not for music: the weights are random. Seeded: the same seed gives the same models, so a test can compare two
runs.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.diffusion.text import PromptEncoder
from engine.diffusion.unet import MODEL_PRESETS, AdaGNResBlock, UNet1D
from engine.generate import Generator


def debug_generator(seed: int = 0, prompt_encoder: PromptEncoder | None = None,
                    device: str | torch.device = "cpu", harmony: bool = False) -> Generator:
    """A Generator on tiny random models (debug configs): for tests and smoke runs, not for music.

    The U-Net's zero-initialised output layers get small random weights so that every conditioning
    input reaches the output (a freshly initialised U-Net would ignore them all). harmony: a U-Net with the
    harmony control's chroma channels (UNetConfig.harmony_channels)."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
        torch.manual_seed(seed)
        autoencoder = MagnitudeAutoencoder(DEBUG_CONFIG)
        network = UNet1D(replace(MODEL_PRESETS["debug"], latent_channels=DEBUG_CONFIG.latent_channels,
                                 harmony_channels=harmony))
        with torch.no_grad():
            network.output.weight.normal_(0, 0.05)
            for module in network.modules():
                if isinstance(module, AdaGNResBlock):
                    module.conv2.weight.normal_(0, 0.05)
    generator = Generator(autoencoder, network, prompt_encoder or PromptEncoder(), device=device,
                          model_id=f"debug-{seed}{'-harmony' if harmony else ''}")
    generator.is_debug = True
    return generator
