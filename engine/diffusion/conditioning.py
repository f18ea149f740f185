"""What one batch of chunks tells the U-Net besides its noisy latent: the typed conditioning object (as
audiocraft's ConditioningAttributes), built by the trainer (engine.diffusion.train) and by generation
(engine.generate), taken by `UNet1D.forward` and `VDenoiser`.

TorchScript traces tensors, not dataclasses: the traced U-Net (engine.optimise) unpacks a `Conditioning` with
`as_tensors` and its traced call rebuilds it from those tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch


@dataclass(frozen=True, eq=False)  # eq: tensors have no single truth value
class Conditioning:
    """Everything a batch of B chunks of N latent frames is conditioned on; L is the padded token count.

    tokens         (B, L, text_dim) float32: MiniLM token embeddings of the prompt (0 past the prompt's end);
    token_mask     (B, L) bool: which tokens are real (a null prompt, CFG's unconditional row, has none);
    pooled         (B, text_dim) float32: the prompt's pooled embedding (0 for the null prompt);
    tempo_bpm      (B,) float32: 0 = not given;
    key            (B,) int64: tonic 0..11 (vocabulary.KEY_TONICS), NO_KEY (12) = not given;
    scale          (B,) int64: 0..3 (vocabulary.SCALES), NO_SCALE (4) = not given;
    timing         (B, 2) float32: seconds_start, seconds_total of the window (both 0 = not given);
    controls       (B, control_channels, N) float32: the time-varying inputs stacked by
                   engine.diffusion.controls.build_controls: descriptor curves (4) and their presence mask
                   (4), the beat clock (2), the continuation context latent (latent_channels) and its mask (1),
                   and in a harmony model the chroma profile (12) and its mask (1);
    token_weights  (B, L) float32 > 0 or None: a blended prompt's per-token share of cross-attention
                   (PromptEncoder.blend); None = every token alike (training);
    cross_keys     (B, 1 + L, K) float32 or None: the text's keys and values for every cross-attention block of
                   the U-Net that made them (UNet1D.cross_keys; row 0 the learned null token): the tokens do not
                   change between sampling steps, so generation projects them once a chunk; None = the U-Net
                   projects them at each call (training).
    """

    tokens: torch.Tensor
    token_mask: torch.Tensor
    pooled: torch.Tensor
    tempo_bpm: torch.Tensor
    key: torch.Tensor
    scale: torch.Tensor
    timing: torch.Tensor
    controls: torch.Tensor
    token_weights: torch.Tensor | None = None
    cross_keys: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.tokens.shape[0])

    def to(self, device: torch.device | str) -> Conditioning:
        return Conditioning(*(None if tensor is None else tensor.to(device) for tensor in self.as_tensors()))

    def with_token_weights(self, dtype: torch.dtype | None = None) -> Conditioning:
        """The same conditioning with explicit token weights: ones (of `dtype`, default the tokens') where
        None, which the U-Net attends with exactly as without weights."""
        if self.token_weights is not None:
            return self
        return replace(self, token_weights=torch.ones(self.token_mask.shape, dtype=dtype or self.tokens.dtype,
                                                      device=self.tokens.device))

    def as_tensors(self) -> tuple[torch.Tensor | None, ...]:
        """The fields in declaration order: `Conditioning(*c.as_tensors())` is `c` again (what a traced call
        takes after x and t)."""
        return tuple(getattr(self, field.name) for field in fields(self))

    @classmethod
    def cat(cls, parts: Sequence[Conditioning]) -> Conditioning:
        """Stack conditionings along the batch (guidance runs its passes as one batch); token_weights and
        cross_keys must be given by all parts or by none."""
        columns = zip(*(part.as_tensors() for part in parts))
        return cls(*(None if column[0] is None else torch.cat(column) for column in columns))
