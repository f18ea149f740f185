"""Samplers over one contract, as in k-diffusion: `denoiser(x, sigma, **cond) -> denoised`.

The noise model is x_sigma = x_0 + sigma * noise (the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma).
Any network parametrisation (v-objective, epsilon, x0) is wrapped into this contract by its preconditioner,
so samplers, guidance and schedules stay small, plain functions and can be tested against an exact
denoiser (Gaussian data, where D is known in closed form).

Shapes: x (batch, channels, frames); sigma a float or a (batch,) tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Denoiser = Callable[..., torch.Tensor]


# ---------------------------------------------------------------------------------------------------
# Schedules: plain functions returning descending sigmas with a trailing 0.
# ---------------------------------------------------------------------------------------------------

def karras_sigmas(steps: int, sigma_min: float = 0.01, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022) schedule: `steps` sigmas from sigma_max down to sigma_min, then 0."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    max_inv, min_inv = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sigmas = (max_inv + ramp * (min_inv - max_inv)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


def cosine_sigmas(steps: int, sigma_min: float = 0.01, sigma_max: float = 80.0) -> torch.Tensor:
    """Sigmas of a cosine (v-diffusion) schedule, alpha = cos(t pi/2): sigma = tan(t pi/2), clipped."""
    t_max = 2 / math.pi * math.atan(sigma_max)
    t_min = 2 / math.pi * math.atan(sigma_min)
    t = torch.linspace(t_max, t_min, steps, dtype=torch.float64)
    return torch.cat([torch.tan(t * math.pi / 2), torch.zeros(1, dtype=torch.float64)]).float()


# ---------------------------------------------------------------------------------------------------
# Guidance and conditioning wrappers.
# ---------------------------------------------------------------------------------------------------

def classifier_free_guidance(denoiser: Denoiser, scale: float) -> Denoiser:
    """CFG in one batch: the conditional and unconditional passes run together (batch 2 costs ~1.3-1.6x
    batch 1 on a CPU). The wrapped denoiser takes `cond` and `uncond` (dicts of the denoiser's conditioning
    keyword arguments, each a tensor or a Conditioning with a batch dimension) and returns
    uncond + scale * (cond - uncond). At scale 1 it is the conditional model.
    """

    def guided(x: torch.Tensor, sigma: torch.Tensor | float, *, cond: dict, uncond: dict) -> torch.Tensor:
        if scale == 1.0:
            return denoiser(x, sigma, **cond)
        batch = x.shape[0]
        sigma_batch = _sigma_batch(sigma, x)
        both = {key: _cat_batches([cond[key], uncond[key]]) for key in cond}
        out = denoiser(torch.cat([x, x]), torch.cat([sigma_batch, sigma_batch]), **both)
        conditional, unconditional = out[:batch], out[batch:]
        return unconditional + scale * (conditional - unconditional)

    return guided


def composable_guidance(denoiser: Denoiser, scales: list[float]) -> Denoiser:
    """Composable guidance (Liu et al. 2022): one guidance term per prompt, negative scales push away
    (negative prompts). `conds` is a list of conditioning dicts matching `scales`; one batched pass."""

    def guided(x: torch.Tensor, sigma: torch.Tensor | float, *, conds: list[dict], uncond: dict) -> torch.Tensor:
        batch = x.shape[0]
        parts = [uncond] + list(conds)
        stacked = {key: _cat_batches([p[key] for p in parts]) for key in uncond}
        sigma_batch = _sigma_batch(sigma, x).repeat(len(parts))
        out = denoiser(x.repeat(len(parts), *([1] * (x.ndim - 1))), sigma_batch, **stacked)
        unconditional = out[:batch]
        result = unconditional.clone()
        for index, scale in enumerate(scales, start=1):
            result = result + scale * (out[index * batch:(index + 1) * batch] - unconditional)
        return result

    return guided


def _cat_batches(values: list) -> object:
    """One conditioning argument of several passes stacked along the batch: tensors by torch.cat, anything
    else (engine.diffusion.conditioning.Conditioning) by its own `cat`."""
    return torch.cat(values) if isinstance(values[0], torch.Tensor) else type(values[0]).cat(values)


def _sigma_batch(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    if isinstance(sigma, torch.Tensor) and sigma.ndim == 1:
        return sigma
    return torch.full((x.shape[0],), float(sigma), device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------------------------------------------
# Samplers: (denoiser, x at sigmas[0], sigmas, extra_args) -> x at sigmas[-1].
# ---------------------------------------------------------------------------------------------------

@torch.no_grad()
def sample_euler(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """First-order probability-flow ODE steps. With a deterministic denoiser this is DDIM (eta = 0)."""
    extra_args = extra_args or {}
    for i in range(len(sigmas) - 1):
        denoised = denoiser(x, _sigma_batch(sigmas[i], x), **extra_args)
        derivative = (x - denoised) / sigmas[i]
        x = x + derivative * (sigmas[i + 1] - sigmas[i])
        if callback:
            callback(i, denoised)
    return x


sample_ddim = sample_euler  # DDIM with eta = 0 is the Euler step of the probability-flow ODE in sigma


@torch.no_grad()
def sample_dpmpp_2m(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), multistep second order in log-sigma; as used by Stable Audio."""
    extra_args = extra_args or {}
    previous_denoised: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = denoiser(x, _sigma_batch(sigmas[i], x), **extra_args)
        if callback:
            callback(i, denoised)
        if sigmas[i + 1] == 0:
            x = denoised  # last step to sigma 0: the denoiser's estimate is the answer
            break
        t, t_next = -torch.log(sigmas[i]), -torch.log(sigmas[i + 1])
        h = t_next - t
        if previous_denoised is None:
            blended = denoised
        else:
            h_last = t - (-torch.log(sigmas[i - 1]))
            r = h_last / h
            blended = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous_denoised
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * blended
        previous_denoised = denoised
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "euler": sample_euler,
    "ddim": sample_ddim,
    "dpmpp_2m": sample_dpmpp_2m,
}


@torch.no_grad()
def invert(denoiser: Denoiser, x0: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None) -> torch.Tensor:
    """Deterministic inversion (audio -> noise): the Euler/DDIM ODE run from sigma ~0 up to sigmas[0].

    `sigmas` is the descending sampling schedule (ending in 0); running `sample_euler` on the result with
    the same schedule returns approximately x0 (exactly in the limit of many steps).
    """
    extra_args = extra_args or {}
    ascending = torch.flip(sigmas, dims=[0])
    x = x0
    for i in range(len(ascending) - 1):
        sigma, sigma_next = ascending[i], ascending[i + 1]
        # At sigma 0 the derivative is undefined; evaluate at the next sigma (what DDIM inversion does).
        probe = sigma if sigma > 0 else sigma_next
        denoised = denoiser(x, _sigma_batch(probe, x), **extra_args)
        derivative = (x - denoised) / probe
        x = x + derivative * (sigma_next - sigma)
    return x


def slerp(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """Spherical interpolation of two noise tensors (the 'variation' control): keeps the noise's norm,
    which a linear blend would shrink (a blend of two independent Gaussians has lower variance)."""
    a_flat, b_flat = a.flatten(1), b.flatten(1)
    cos = (a_flat * b_flat).sum(1) / (a_flat.norm(dim=1) * b_flat.norm(dim=1)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    sin = torch.sin(omega)
    wa = torch.sin((1 - weight) * omega) / sin
    wb = torch.sin(weight * omega) / sin
    shape = (-1,) + (1,) * (a.ndim - 1)
    return wa.view(shape) * a + wb.view(shape) * b
