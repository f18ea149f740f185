"""The guided denoiser a request asks for, composed from sampling.py's wrappers: classifier-free guidance; a
negative prompt pushed away and the descriptor curves' own guidance as composable guidance terms; and the
continuation context pinned (the denoised estimate there is the known context).

Every denoiser here keeps k-diffusion's contract `denoiser(x, sigma, **extra) -> denoised`, x and denoised
(batch, latent_channels, frames); `extra` (returned beside it) names the conditioning dicts it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from engine.diffusion.conditioning import Conditioning
from engine.diffusion.controls import descriptors_given, without_controls
from engine.diffusion.sampling import classifier_free_guidance, composable_guidance

Denoiser = Callable[..., torch.Tensor]


def guided_denoiser(denoiser: Denoiser, cond: Conditioning, uncond: Conditioning, negative: Conditioning | None, *,
                    cfg_scale: float, negative_scale: float, descriptor_guidance: float, latent_channels: int
                    ) -> tuple[Denoiser, dict]:
    """The denoiser and its extra arguments: uncond + cfg * (cond - uncond) [- negative_scale * (negative -
    uncond)] [+ descriptor_guidance * (cond - cond without its descriptor curves)]; the last written as the prompt
    at cfg + s and the curve-less prompt at -s (Liu et al.'s composable guidance: one batched pass of 3 or 4)."""
    conds, scales = [cond], [cfg_scale]
    if negative is not None:
        conds.append(negative)
        scales.append(-negative_scale)
    if descriptor_guidance > 0 and descriptors_given(cond.controls):
        scales[0] += descriptor_guidance
        conds.append(replace(cond, controls=without_controls(cond.controls, ("descriptors",), latent_channels)))
        scales.append(-descriptor_guidance)
    if len(conds) > 1:
        return composable_guidance(denoiser, scales), {"conds": [{"conditioning": c} for c in conds],
                                                       "uncond": {"conditioning": uncond}}
    if cfg_scale == 0.0:
        return denoiser, {"conditioning": uncond}
    return classifier_free_guidance(denoiser, cfg_scale), {"cond": {"conditioning": cond},
                                                            "uncond": {"conditioning": uncond}}


def pin_context(guided: Denoiser, context: torch.Tensor) -> Denoiser:
    """`guided` with its estimate of the first context.shape[-1] frames replaced by the context (latent_channels,
    frames) itself: the ODE lands exactly on it and the new frames are generated around the true prefix."""
    count = context.shape[-1]

    def pinned_denoiser(x: torch.Tensor, sigma: torch.Tensor, **kwargs: object) -> torch.Tensor:
        denoised = guided(x, sigma, **kwargs).clone()
        denoised[..., :count] = context
        return denoised

    return pinned_denoiser
