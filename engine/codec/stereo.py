"""Two channels through a magnitude codec: the mean magnitude the decoder's shared phase is integrated from, and
how far two channels still go together (docs/autoencoder.md, session 25).

The latent keeps no phase. Integrated per channel, the quiet and noisy bins of the two channels took unrelated
phases: real mixes came back uncorrelated and their mono sum cancelled. One phase for both, from their mean
magnitude, is what a mix panned by level has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import torch
from torch import nn

__all__ = ["STEREO_PHASES", "STEREO_PHASE_OF_OLD_TAKES", "channel_magnitudes", "channel_mean_log",
           "decoding_with_stereo_phase", "stereo_measures"]

STEREO_PHASES = ("shared", "per_channel")  # `AutoencoderConfig.decoder_stereo_phase`
STEREO_PHASE_OF_OLD_TAKES = "per_channel"  # takes recorded before session 25 say nothing: they were played so


def channel_magnitudes(log_magnitude: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Natural-log magnitudes -> (the magnitudes, the log of the channels' mean magnitude along `dim`, kept as a
    dimension of size 1). The decoder's synthesis needs both; one exp serves them (logsumexp took twice as long).
    The decoder's log-magnitudes stop at 8, so nothing overflows; a mean under float's smallest is floored there."""
    magnitude = torch.exp(log_magnitude)
    mean = magnitude.mean(dim=dim, keepdim=True).clamp_min(torch.finfo(magnitude.dtype).tiny)
    return magnitude, torch.log(mean)


def channel_mean_log(log_magnitude: torch.Tensor, dim: int) -> torch.Tensor:
    """The log of the channels' mean magnitude along `dim` (natural-log magnitudes in and out), kept as a
    dimension of size 1: what the shared phase is integrated from."""
    return channel_magnitudes(log_magnitude, dim)[1]


def stereo_measures(audio: np.ndarray) -> tuple[float, float]:
    """(2, n) -> (the correlation of the channels, the mono sum's power over the channels' mean power in dB: 0 when
    the channels are identical, -inf when they cancel). Two channels that a decoder gives unrelated phases read
    near 0 and several dB under their input's (docs/autoencoder.md, session 25)."""
    left, right = audio[0].astype(np.float64), audio[1].astype(np.float64)
    correlation = float(np.corrcoef(left, right)[0, 1])
    mono_db = 10 * np.log10(np.mean(((left + right) / 2) ** 2) / max(np.mean((left ** 2 + right ** 2) / 2), 1e-20))
    return correlation, float(mono_db)


@contextmanager
def decoding_with_stereo_phase(autoencoder: nn.Module, stereo_phase: str) -> Iterator[None]:
    """Decode with `stereo_phase` inside the block, the autoencoder's own setting after it (a re-render plays a
    take as it was played). ValueError for a name not in STEREO_PHASES (the config's own check)."""
    decoder = autoencoder.decoder
    own = decoder.config
    playing = replace(own, decoder_stereo_phase=stereo_phase)
    playing.validate()
    decoder.config = playing
    try:
        yield
    finally:
        decoder.config = own
