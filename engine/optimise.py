"""Faster CPU inference paths for the U-Net, kept beside the plain torch module (which training and GPUs use).

`TracedNetwork` traces the U-Net with TorchScript per input shape, freezes it (constants folded, conv +
norm fused where possible) and pads the text tokens to a bucket so a new prompt length rarely means a
new trace. It is a drop-in for `UNet1D` inside `VDenoiser` (same call, same outputs within float error).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from engine.diffusion.unet import UNet1D

TOKEN_BUCKET = 32  # token lengths are padded up to a multiple of this


class TracedNetwork(nn.Module):
    def __init__(self, network: UNet1D) -> None:
        super().__init__()
        self.network = network.eval()
        self.config = network.config
        self._traced: dict[tuple[int, int, int], torch.jit.ScriptModule] = {}

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor,
                pooled: torch.Tensor, tempo_bpm: torch.Tensor, key: torch.Tensor, scale: torch.Tensor,
                timing: torch.Tensor, controls: torch.Tensor, token_weights: torch.Tensor | None = None) -> torch.Tensor:
        batch, length = token_mask.shape
        padded = max(TOKEN_BUCKET, -(-length // TOKEN_BUCKET) * TOKEN_BUCKET)
        if token_weights is None:
            token_weights = torch.ones(batch, length, dtype=x.dtype, device=x.device)
        if padded != length:
            extra = padded - length
            tokens = torch.cat([tokens, tokens.new_zeros(batch, extra, tokens.shape[-1])], 1)
            token_mask = torch.cat([token_mask, token_mask.new_zeros(batch, extra)], 1)
            token_weights = torch.cat([token_weights, token_weights.new_ones(batch, extra)], 1)
        inputs = (x, t, tokens, token_mask, pooled, tempo_bpm, key, scale, timing, controls, token_weights)
        signature = (batch, x.shape[-1], padded)
        module = self._traced.get(signature)
        if module is None:
            # The trace records the shape checks as constants (right: one trace per shape) and torch marks
            # TorchScript deprecated; neither warning is news to a user rendering a file.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
                warnings.simplefilter("ignore", category=DeprecationWarning)
                traced = torch.jit.trace(self.network, inputs, check_trace=False)
                module = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            self._traced[signature] = module
        return module(*inputs)
