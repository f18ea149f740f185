"""Samplers against an exact denoiser: Gaussian data, where the probability-flow ODE has a closed form."""

from __future__ import annotations

import math

import pytest
import torch

from engine.diffusion.sampling import (SAMPLERS, classifier_free_guidance, composable_guidance, invert,
                                       karras_sigmas, cosine_sigmas, sample_dpmpp_2m, sample_euler, slerp)

MEAN, STD = 0.7, 0.5


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor, **_: object) -> torch.Tensor:
    """E[x0 | x_sigma] for x0 ~ N(MEAN, STD^2) per element."""
    s = sigma.view(-1, *([1] * (x.ndim - 1)))
    return (STD ** 2 * x + s ** 2 * MEAN) / (STD ** 2 + s ** 2)


def exact_ode_solution(x_start: torch.Tensor, sigma_start: float, sigma_end: float) -> torch.Tensor:
    """The probability-flow ODE for Gaussian data: x(s) - MEAN scales with sqrt(STD^2 + s^2)."""
    return MEAN + (x_start - MEAN) * math.sqrt(STD ** 2 + sigma_end ** 2) / math.sqrt(STD ** 2 + sigma_start ** 2)


def _max_error(name: str, steps: int) -> float:
    torch.manual_seed(0)
    sigmas = karras_sigmas(steps, sigma_min=0.002, sigma_max=20.0)
    x = torch.randn(4, 8, 32) * sigmas[0]
    exact = exact_ode_solution(x, float(sigmas[0]), 0.0)
    return float((SAMPLERS[name](gaussian_denoiser, x, sigmas) - exact).abs().max())


@pytest.mark.parametrize("name, order", [("euler", 1), ("ddim", 1), ("dpmpp_2m", 2)])
def test_samplers_converge_at_their_order(name: str, order: int) -> None:
    coarse, fine = _max_error(name, 64), _max_error(name, 128)
    assert fine < 0.05
    # Doubling the steps divides the error by about 2**order.
    assert coarse / fine > 0.75 * 2 ** order, (coarse, fine)


def test_samples_have_the_data_distribution() -> None:
    torch.manual_seed(1)
    sigmas = karras_sigmas(64, sigma_max=80.0)
    x = torch.randn(64, 16, 64) * math.sqrt(STD ** 2 + 80.0 ** 2)
    out = sample_dpmpp_2m(gaussian_denoiser, x, sigmas)
    assert abs(out.mean().item() - MEAN) < 0.01 and abs(out.std().item() - STD) < 0.01


def test_second_order_beats_euler_at_few_steps() -> None:
    torch.manual_seed(2)
    sigmas = karras_sigmas(8, sigma_max=20.0)
    x = torch.randn(4, 8, 32) * sigmas[0]
    exact = exact_ode_solution(x, float(sigmas[0]), 0.0)
    error_euler = (sample_euler(gaussian_denoiser, x, sigmas) - exact).abs().mean()
    error_dpmpp = (sample_dpmpp_2m(gaussian_denoiser, x, sigmas) - exact).abs().mean()
    assert error_dpmpp < 0.5 * error_euler


def test_cfg_scale_one_is_the_conditional_model_and_scale_extrapolates() -> None:
    def conditional_denoiser(x: torch.Tensor, sigma: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return gaussian_denoiser(x, sigma) + shift.view(-1, 1, 1)

    x = torch.randn(2, 4, 8)
    cond, uncond = {"shift": torch.tensor([1.0, 2.0])}, {"shift": torch.zeros(2)}
    sigma = torch.full((2,), 3.0)
    torch.testing.assert_close(classifier_free_guidance(conditional_denoiser, 1.0)(x, sigma, cond=cond, uncond=uncond),
                               conditional_denoiser(x, sigma, **cond))
    guided = classifier_free_guidance(conditional_denoiser, 4.0)(x, sigma, cond=cond, uncond=uncond)
    torch.testing.assert_close(guided - gaussian_denoiser(x, sigma), 4.0 * cond["shift"].view(-1, 1, 1).expand_as(x))
    composed = composable_guidance(conditional_denoiser, [2.0, -1.0])(
        x, sigma, conds=[cond, {"shift": torch.tensor([0.5, 0.5])}], uncond=uncond)
    expected = gaussian_denoiser(x, sigma) + (2.0 * cond["shift"] - 0.5).view(-1, 1, 1)
    torch.testing.assert_close(composed, expected)


def test_inversion_round_trips() -> None:
    torch.manual_seed(3)
    sigmas = karras_sigmas(800, sigma_min=0.002, sigma_max=10.0)
    x0 = MEAN + STD * torch.randn(2, 4, 16)
    noise = invert(gaussian_denoiser, x0, sigmas)
    assert noise.std() > 3.0, "inversion reaches the noise level"
    back = sample_euler(gaussian_denoiser, noise, sigmas)
    assert (back - x0).abs().max() < 0.01


def test_seeded_sampling_is_deterministic_and_schedules_descend() -> None:
    for sigmas in (karras_sigmas(8), cosine_sigmas(8)):
        assert sigmas[-1] == 0 and torch.all(sigmas[:-1] > sigmas[1:])
    runs = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(42)
        x = torch.randn(1, 4, 8, generator=generator) * 80.0
        runs.append(sample_dpmpp_2m(gaussian_denoiser, x, karras_sigmas(8)))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_slerp_keeps_the_noise_norm() -> None:
    torch.manual_seed(4)
    a, b = torch.randn(3, 32, 64), torch.randn(3, 32, 64)
    torch.testing.assert_close(slerp(a, b, 0.0), a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)
    middle = slerp(a, b, 0.5)
    assert abs(middle.norm() / a.norm() - 1) < 0.05
    assert (0.5 * (a + b)).norm() / a.norm() < 0.8
