"""Conditioning dropout for training batches, shared by CacheBatches (numpy draws on the CPU) and DeviceBatches
(torch draws on the device): one place says which inputs drop, how often and which travel together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

from engine.vocabulary import NO_KEY, NO_SCALE

if TYPE_CHECKING:
    from engine.diffusion.train import DiffusionTrainConfig


def drop_globals(tempo: torch.Tensor, key: torch.Tensor, scale: torch.Tensor, timing: torch.Tensor,
                 config: DiffusionTrainConfig, uniform: Callable[[int], torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tempo (B,), key (B,), scale (B,), timing (B, 2) with each dropped at its rate, all of them with the text
    at p_drop_global (the unconditional branch CFG uses at play time); changed in place and returned with which
    rows' text to drop (B,) bool. `uniform(n)`: n uniform [0, 1) numbers, drawn in this order: global, text,
    tempo, key, timing."""
    size = tempo.shape[0]
    drop_global = uniform(size) < config.p_drop_global
    drop_text = drop_global | (uniform(size) < config.p_drop_text)
    tempo[drop_global | (uniform(size) < config.p_drop_tempo)] = 0.0
    drop_key = drop_global | (uniform(size) < config.p_drop_key)
    key[drop_key] = NO_KEY
    scale[drop_key] = NO_SCALE  # key and scale travel together: a tonic without a mode means little
    timing[uniform(size) < config.p_drop_timing] = 0.0
    return tempo, key, scale, timing, drop_text
