"""Discriminators for the codec decoder's adversarial fine-tune (engine/codec/adversarial.py).

The decoder predicts a log-magnitude STFT and the phase is integrated from it afterwards (engine/codec/
phase.py, not differentiable), so these judge log-magnitude spectrograms, never waveforms: the input is
the natural-log STFT magnitude, shape (batch, channels, bins, frames) = (B, 2, 1025, T) for the shipped
config (n_fft 2048, hop 256, 21.5 Hz bins, 5.8 ms frames). What they are for: the decoder trained with L1
losses alone gives blurred, symmetric spectral peaks (the mean of the plausible peaks), and the phase
integration reads each partial's frequency off its peak's shape, so low notes (41-73 Hz, partials two to
three bins apart) come back tens to hundreds of cents off. A discriminator and its feature-matching loss
penalise a peak that is not shaped like a real one, which an L1 cannot (HiFi-GAN, Vocos; UnivNet's
multi-resolution spectrogram discriminator is the closest model of these).

Three sub-discriminators (`MultiBandDiscriminator`), each 2D convolutions over (frequency, time) with
weight norm and leaky ReLU, each returning patch logits and the feature map of every layer:

* "full": all bins at full resolution, frequency strides 2 x 4 (the whole spectrum, fine peaks).
* "low": bins 0-1.5 kHz at full resolution, wider frequency kernels and more channels, no frequency stride in
  its first two layers: where the low notes' partials live, two to three bins apart.
* "pooled": power averaged over groups of 8 bins (172 Hz bands), time strides 2 x 3: the spectral envelope
  and the longer time structure (onsets, decays).

Inputs are floored at the reconstruction loss's floor (|X| = 1e-3, spectral.DecoderMagnitudeLoss) before
they are judged, so nothing is learned from values no loss and no listener sees.

Losses: `discriminator_loss` and `generator_loss` (hinge, as Vocos, or least squares, as HiFi-GAN) and
`feature_matching_loss` (L1 between the feature maps of real and generated inputs, each layer's L1 divided
by the real feature map's mean magnitude so every layer weighs alike).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

LOG_FLOOR = math.log(1e-3)  # spectral.DecoderMagnitudeLoss's floor
LOG_SCALE = 4.0  # the floored log-magnitude spans about -6.9..8: this keeps the inputs near unit range
LOSS_KINDS = ("hinge", "lsgan")


class Judgement(NamedTuple):
    """One sub-discriminator's verdict: logits (batch, 1, f', t') and the feature map after each hidden
    layer (batch, c, f_i, t_i)."""

    logits: torch.Tensor
    features: list[torch.Tensor]


def prepare(log_magnitude: torch.Tensor) -> torch.Tensor:
    """Natural-log magnitude (batch, channels, bins, frames) -> floored at LOG_FLOOR and scaled to ~unit range."""
    return log_magnitude.clamp_min(LOG_FLOOR) / LOG_SCALE


def pool_bins(prepared: torch.Tensor, factor: int) -> torch.Tensor:
    """(batch, channels, bins, frames) prepared log-magnitude -> the log of the mean power over groups of
    `factor` bins, (batch, channels, ceil(bins / factor), frames), in the same scaled units."""
    bins = prepared.shape[2]
    pad = (-bins) % factor
    log_power = 2.0 * LOG_SCALE * prepared  # back to natural-log power
    if pad:
        log_power = F.pad(log_power, (0, 0, 0, pad), value=2.0 * LOG_FLOOR)
    grouped = log_power.unflatten(2, (-1, factor))  # (batch, channels, groups, factor, frames)
    pooled = torch.logsumexp(grouped.float(), dim=3) - math.log(factor)
    return (pooled / (2.0 * LOG_SCALE)).to(prepared.dtype)


class SpectrogramDiscriminator(nn.Module):
    """2D convolutions over a (batch, in_channels, bins, frames) spectrogram -> Judgement.

    layers: (out_channels, (kernel_freq, kernel_time), (stride_freq, stride_time)) per hidden layer, each
    followed by leaky ReLU 0.1; a final 3 x 3 convolution to one logit channel. Padding keeps every size
    ceil(size / stride). `bins` (lo, hi): the slice of frequency bins judged (None: all); `pool`: average the
    power over groups of this many bins first (1: none).
    """

    def __init__(self, in_channels: int, layers: list[tuple[int, tuple[int, int], tuple[int, int]]],
                 bins: tuple[int, int] | None = None, pool: int = 1) -> None:
        super().__init__()
        self.bins = bins
        self.pool = pool
        convs = []
        channels = in_channels
        for out_channels, kernel, stride in layers:
            padding = (kernel[0] // 2, kernel[1] // 2)
            convs.append(weight_norm(nn.Conv2d(channels, out_channels, kernel, stride, padding)))
            channels = out_channels
        self.convs = nn.ModuleList(convs)
        self.output = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, prepared: torch.Tensor) -> Judgement:
        x = prepared
        if self.bins is not None:
            x = x[:, :, self.bins[0]:self.bins[1]]
        if self.pool > 1:
            x = pool_bins(x, self.pool)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        return Judgement(self.output(x), features)


def low_band_bins(n_fft: int, sample_rate: int, top_hz: float = 1500.0) -> int:
    """Number of bins from 0 Hz up to and including `top_hz` (71 at n_fft 2048, 44.1 kHz: 0-1.51 kHz)."""
    return int(math.ceil(top_hz * n_fft / sample_rate)) + 1


class MultiBandDiscriminator(nn.Module):
    """The "full", "low" and "pooled" sub-discriminators (module docstring) on one log-magnitude input.

    forward(log_magnitude (batch, audio_channels, n_fft // 2 + 1, frames), natural log, unfloored) ->
    {name: Judgement}. `channels` scales every layer's width ("low" gets twice as many); frames >= 1, any
    number (the shipped trainer uses 192: 48 latent frames).
    """

    def __init__(self, audio_channels: int = 2, n_fft: int = 2048, sample_rate: int = 44100,
                 channels: int = 32, low_hz: float = 1500.0, pool: int = 8) -> None:
        super().__init__()
        c, wide = channels, 2 * channels
        low = low_band_bins(n_fft, sample_rate, low_hz)
        self.discriminators = nn.ModuleDict({
            "full": SpectrogramDiscriminator(audio_channels, [
                (c, (9, 3), (1, 1)), (c, (9, 3), (2, 1)), (c, (9, 3), (2, 1)), (c, (9, 3), (2, 1)),
                (c, (9, 3), (2, 1)), (c, (3, 3), (1, 1))]),
            "low": SpectrogramDiscriminator(audio_channels, [
                (wide, (7, 3), (1, 1)), (wide, (7, 3), (1, 1)), (wide, (5, 3), (2, 1)), (wide, (5, 3), (2, 1)),
                (wide, (3, 3), (1, 1))], bins=(0, low)),
            "pooled": SpectrogramDiscriminator(audio_channels, [
                (c, (3, 9), (1, 1)), (c, (3, 9), (1, 2)), (c, (3, 9), (1, 2)), (c, (3, 9), (1, 2)),
                (c, (3, 3), (1, 1))], pool=pool),
        })

    def forward(self, log_magnitude: torch.Tensor) -> dict[str, Judgement]:
        prepared = prepare(log_magnitude)
        return {name: disc(prepared) for name, disc in self.discriminators.items()}


def discriminator_loss(real: dict[str, Judgement], fake: dict[str, Judgement], kind: str = "hinge"
                       ) -> tuple[torch.Tensor, dict[str, float]]:
    """The discriminators' loss (real -> 1, generated -> -1 (hinge) or 0 (least squares)), summed over the
    sub-discriminators; also each one's value (floats, for the log). Logits are read as float32."""
    total = torch.zeros((), device=next(iter(real.values())).logits.device)
    parts = {}
    for name in real:
        r, f = real[name].logits.float(), fake[name].logits.float()
        if kind == "hinge":
            loss = F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
        elif kind == "lsgan":
            loss = (1.0 - r).pow(2).mean() + f.pow(2).mean()
        else:
            raise ValueError(f"loss kind must be one of {LOSS_KINDS}, not {kind!r}")
        parts[name] = float(loss.detach())
        total = total + loss
    return total, parts


def generator_loss(fake: dict[str, Judgement], kind: str = "hinge",
                   weights: dict[str, float] | None = None) -> torch.Tensor:
    """The generator's adversarial loss on its judged output, summed over the sub-discriminators (each times
    its entry in `weights`, default 1)."""
    total = torch.zeros((), device=next(iter(fake.values())).logits.device)
    for name, judgement in fake.items():
        f = judgement.logits.float()
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if kind == "hinge":
            total = total + weight * F.relu(1.0 - f).mean()
        elif kind == "lsgan":
            total = total + weight * (1.0 - f).pow(2).mean()
        else:
            raise ValueError(f"loss kind must be one of {LOSS_KINDS}, not {kind!r}")
    return total


def feature_matching_loss(real: dict[str, Judgement], fake: dict[str, Judgement],
                          weights: dict[str, float] | None = None) -> torch.Tensor:
    """Sum over sub-discriminators (each times its entry in `weights`, default 1) of the mean over layers of
    L1(real features, generated features) / mean |real features| (the real side is detached: the target)."""
    total = torch.zeros((), device=next(iter(real.values())).logits.device)
    for name in real:
        layers = []
        for r, f in zip(real[name].features, fake[name].features):
            r = r.detach().float()
            layers.append((r - f.float()).abs().mean() / r.abs().mean().clamp_min(1e-5))
        total = total + (1.0 if weights is None else weights.get(name, 1.0)) * torch.stack(layers).mean()
    return total
