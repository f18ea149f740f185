"""engine/diffusion/guidance.py: the pinned context (the guidance formula itself: tests/engine/test_generate.py,
against plain denoiser calls of a debug model)."""

from __future__ import annotations

import torch

from engine.diffusion.guidance import pin_context


def test_pin_context_replaces_only_the_context_frames_of_the_estimate() -> None:
    context = torch.full((3, 4), 7.0)
    pinned = pin_context(lambda x, sigma, **kwargs: x * sigma, context)
    x = torch.ones(1, 3, 10)
    out = pinned(x, torch.tensor([2.0]))
    assert torch.equal(out[..., :4], context.expand(1, 3, 4))
    assert torch.equal(out[..., 4:], torch.full((1, 3, 6), 2.0))
    assert torch.equal(x, torch.ones(1, 3, 10))  # the input is left alone
