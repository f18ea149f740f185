"""Stage 2 network: a 1D U-Net over the normalised autoencoder latent.

Residual conv blocks with AdaGN (GroupNorm whose scale and shift come from the noise level plus the global
conditioning: pooled text, tempo, key/scale, timing), self-attention and cross-attention to the text
tokens at the coarse levels (Moûsai, the course seed). Time-varying controls (descriptor curves with their
presence mask, a beat-phase clock, and in a harmony model a chroma profile with its mask) and the continuation
context (clean latent frames with a mask) enter as extra input channels, so any subset can be given at play time.

Shapes: latent x (batch, latent_channels, frames); frames must be a multiple of 2 ** (levels - 1). What the
network is conditioned on travels as one `Conditioning` (engine/diffusion/conditioning.py: every tensor's shape).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from engine.diffusion.conditioning import Conditioning
from engine.diffusion.controls import HARMONY_CONTROL_CHANNELS
from engine.vocabulary import DESCRIPTOR_MODEL_NAMES, KEY_TONICS, SCALES
from engine.weights_io import config_from_dict

DESCRIPTOR_NAMES: tuple[str, ...] = DESCRIPTOR_MODEL_NAMES  # the order of the descriptor control channels


@dataclass(frozen=True)
class UNetConfig:
    latent_channels: int = 32
    channels: tuple[int, ...] = (128, 256, 384, 512)
    blocks_per_level: int = 2
    attention_levels: tuple[int, ...] = (2, 3)  # indexes into `channels` that get self/cross-attention
    attention_heads: int = 8
    text_dim: int = 384  # MiniLM token and pooled embedding size
    global_dim: int = 512  # the AdaGN conditioning vector
    descriptor_channels: int = len(DESCRIPTOR_NAMES)
    clock_channels: int = 2  # sin and cos of the beat phase
    n_keys: int = len(KEY_TONICS)
    n_scales: int = len(SCALES)
    groups: int = 16
    # The harmony control: 12 chroma channels + their mask after the context (engine/diffusion/controls.py).
    # Opt-in; a file written before the field existed has none (from_dict's missing value), as the shipped model.
    harmony_channels: bool = False

    @property
    def control_channels(self) -> int:
        """Extra input channels: descriptors, their presence mask, the clock, the context and its mask, and with
        harmony_channels the chroma profile and its mask."""
        harmony = HARMONY_CONTROL_CHANNELS if self.harmony_channels else 0
        return 2 * self.descriptor_channels + self.clock_channels + self.latent_channels + 1 + harmony

    @property
    def frame_multiple(self) -> int:
        return 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "UNetConfig":
        return config_from_dict(cls, data, "U-Net", missing={"harmony_channels": False})


DEBUG_UNET = UNetConfig(channels=(16, 32), blocks_per_level=1, attention_levels=(1,), attention_heads=2,
                        text_dim=24, global_dim=32, groups=4)

# Named sizes for training and shipping. "small" is what a 2-core CPU can train in hours and run in real
# time; "base" is the size meant for a GPU run.
MODEL_PRESETS: dict[str, UNetConfig] = {
    "debug": replace(DEBUG_UNET, text_dim=384),
    "small": UNetConfig(channels=(96, 192, 288, 384), attention_levels=(2, 3), attention_heads=4, global_dim=384),
    "base": UNetConfig(),
}


def fourier_features(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(batch,) -> (batch, dim) sinusoidal embedding."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    angles = values.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class AdaGNResBlock(nn.Module):
    """Conv residual block; GroupNorm scale/shift from the conditioning vector (batch, global_dim)."""

    def __init__(self, in_channels: int, out_channels: int, global_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_channels), in_channels)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(groups, out_channels), out_channels, affine=False)
        self.modulation = nn.Linear(global_dim, 2 * out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.modulation(cond).unsqueeze(-1).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class AttentionBlock(nn.Module):
    """Self-attention over frames, then cross-attention to text tokens (masked), each pre-norm residual.

    The cross-attention's keys and values are a projection of the text alone, the same at every sampling step:
    `cross_keys` makes them, (batch, tokens, 2 * channels), so generation projects them once a chunk
    (UNet1D.cross_keys) instead of once a step: at the live engine's 256-token bucket that projection was half of
    a step's compute. The parameters stay those of `nn.MultiheadAttention` (the shipped weights' names).
    """

    def __init__(self, channels: int, text_dim: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm_self = nn.GroupNorm(min(groups, channels), channels)
        self.self_attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.norm_cross = nn.GroupNorm(min(groups, channels), channels)
        self.cross_attention = nn.MultiheadAttention(channels, heads, kdim=text_dim, vdim=text_dim, batch_first=True)
        self.cross_key_width = 2 * channels

    def _cross_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The query, key and value projection weights (channels, channels or text_dim) of the cross-attention."""
        attention = self.cross_attention
        if attention.in_proj_weight is not None:  # text_dim == channels: torch packs the three in one
            query, key, value = attention.in_proj_weight.chunk(3)
            return query, key, value
        return attention.q_proj_weight, attention.k_proj_weight, attention.v_proj_weight

    def cross_keys(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (batch, L, text_dim) -> (batch, L, 2 * channels): the keys, then the values."""
        _, key, value = self._cross_weights()
        _, key_bias, value_bias = self.cross_attention.in_proj_bias.chunk(3)
        return F.linear(tokens, torch.cat([key, value]), torch.cat([key_bias, value_bias]))

    def forward(self, x: torch.Tensor, cross_keys: torch.Tensor, token_bias: torch.Tensor) -> torch.Tensor:
        """x (batch, channels, frames); cross_keys (batch, L, 2 * channels) from `cross_keys`; token_bias (batch, L):
        added to the cross-attention logits: -inf masks a padded token, log(weight) gives a blended prompt's tokens
        their share of attention (PromptEncoder.blend)."""
        h = self.norm_self(x).transpose(1, 2)
        x = x + self.self_attention(h, h, h, need_weights=False)[0].transpose(1, 2)
        h = self.norm_cross(x).transpose(1, 2)
        batch, frames, channels = h.shape
        heads = self.cross_attention.num_heads
        query_weight = self._cross_weights()[0]
        query_bias = self.cross_attention.in_proj_bias[:channels]
        query = F.linear(h, query_weight, query_bias).view(batch, frames, heads, -1).transpose(1, 2)
        key, value = cross_keys.to(query.dtype).view(batch, -1, 2, heads, channels // heads).unbind(2)
        attended = F.scaled_dot_product_attention(query, key.transpose(1, 2), value.transpose(1, 2),
                                                  attn_mask=token_bias.to(query.dtype)[:, None, None, :])
        attended = self.cross_attention.out_proj(attended.transpose(1, 2).reshape(batch, frames, channels))
        return x + attended.transpose(1, 2)


class UNet1D(nn.Module):
    """v-prediction network F(x_in, t, conditioning) used inside `VDenoiser`.

    forward(x, t, conditioning): x (B, latent_channels, N) the scaled input; t (B,) in [0, 1] (the
    cosine-schedule time); conditioning a `Conditioning` of batch B (its docstring gives every tensor's
    shape and dtype). Returns (B, latent_channels, N).
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self._build_global_embeddings(c)
        self.null_token = nn.Parameter(torch.zeros(1, 1, c.text_dim))
        self.input = nn.Conv1d(c.latent_channels + c.control_channels, c.channels[0], 3, padding=1)
        skip_channels = self._build_down_path(c)
        current = c.channels[-1]
        self.middle = nn.ModuleList([AdaGNResBlock(current, current, c.global_dim, c.groups),
                                     AdaGNResBlock(current, current, c.global_dim, c.groups)])
        self.middle_attention = AttentionBlock(current, c.text_dim, c.attention_heads, c.groups)
        current = self._build_up_path(c, skip_channels)
        self.output_norm = nn.GroupNorm(min(c.groups, current), current)
        self.output = nn.Conv1d(current, c.latent_channels, 3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)
        widths = [block.cross_key_width for block in self._attention_blocks()]
        offsets = [sum(widths[:index]) for index in range(len(widths) + 1)]
        self._cross_key_slices = [slice(start, end) for start, end in zip(offsets, offsets[1:])]

    def _build_global_embeddings(self, c: UNetConfig) -> None:
        """The AdaGN conditioning vector's parts: noise level, pooled text, tempo, timing, key and scale."""
        self.time_embedding = nn.Sequential(nn.Linear(256, c.global_dim), nn.SiLU(), nn.Linear(c.global_dim, c.global_dim))
        self.text_projection = nn.Linear(c.text_dim, c.global_dim)
        self.tempo_embedding = nn.Linear(128, c.global_dim)
        self.timing_embedding = nn.Linear(2 * 64, c.global_dim)
        self.key_embedding = nn.Embedding(c.n_keys + 1, c.global_dim)  # last index: "no key given"
        self.scale_embedding = nn.Embedding(c.n_scales + 1, c.global_dim)

    def _attention_at(self, level: int, width: int, c: UNetConfig) -> nn.Module:
        return AttentionBlock(width, c.text_dim, c.attention_heads, c.groups) if level in c.attention_levels \
            else nn.Identity()

    def _build_down_path(self, c: UNetConfig) -> list[int]:
        """Residual blocks, attention and a stride-2 downsample per level; returns each block's output width
        (the skip connections the up path takes, in order)."""
        self.down_blocks = nn.ModuleList()
        self.down_attention = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skip_channels: list[int] = []
        current = c.channels[0]
        for level, width in enumerate(c.channels):
            blocks = nn.ModuleList()
            for _ in range(c.blocks_per_level):
                blocks.append(AdaGNResBlock(current, width, c.global_dim, c.groups))
                current = width
                skip_channels.append(current)
            self.down_blocks.append(blocks)
            self.down_attention.append(self._attention_at(level, width, c))
            self.downsamples.append(nn.Conv1d(width, width, 4, stride=2, padding=1)
                                    if level < len(c.channels) - 1 else nn.Identity())
        return skip_channels

    def _build_up_path(self, c: UNetConfig, skip_channels: list[int]) -> int:
        """The mirror of the down path, each block fed its skip; returns the width it ends at."""
        self.up_blocks = nn.ModuleList()
        self.up_attention = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        current = c.channels[-1]
        for level in reversed(range(len(c.channels))):
            width = c.channels[level]
            blocks = nn.ModuleList()
            for _ in range(c.blocks_per_level):
                blocks.append(AdaGNResBlock(current + skip_channels.pop(), width, c.global_dim, c.groups))
                current = width
            self.up_blocks.append(blocks)
            self.up_attention.append(self._attention_at(level, width, c))
            self.upsamples.append(nn.ConvTranspose1d(width, c.channels[level - 1], 4, stride=2, padding=1)
                                  if level > 0 else nn.Identity())
            if level > 0:
                current = c.channels[level - 1]
        return current

    def global_condition(self, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """(batch, global_dim): the vector every AdaGN block's scale and shift come from."""
        tempo_bpm, timing = conditioning.tempo_bpm, conditioning.timing
        tempo_given = (tempo_bpm > 0).float()[:, None]
        embedding = self.time_embedding(fourier_features(t * 1000.0, 256))
        embedding = embedding + self.text_projection(conditioning.pooled)
        embedding = embedding + tempo_given * self.tempo_embedding(fourier_features(torch.log2(tempo_bpm.clamp_min(1.0)) * 100.0, 128))
        embedding = embedding + self.key_embedding(conditioning.key) + self.scale_embedding(conditioning.scale)
        timing_features = torch.cat([fourier_features(timing[:, 0], 64, 1000.0), fourier_features(timing[:, 1], 64, 1000.0)], 1)
        return F.silu(embedding + self.timing_embedding(timing_features))

    def _attention_blocks(self) -> list[AttentionBlock]:
        """The attention blocks in the order forward runs them (down, middle, up)."""
        blocks = [*self.down_attention, self.middle_attention, *self.up_attention]
        return [block for block in blocks if isinstance(block, AttentionBlock)]

    def cross_keys(self, conditioning: Conditioning) -> torch.Tensor:
        """(batch, 1 + L, sum of the blocks' 2 * channels): every cross-attention block's keys and values of the
        text, the learned null token first (row 0), in the order forward runs the blocks. They depend on the tokens
        only, so generation makes them once a chunk (`Conditioning.cross_keys`); forward makes them itself where
        the conditioning brings none (training)."""
        tokens = conditioning.tokens
        # A learned null token is always present, so no row is fully masked (the CFG null prompt has no real
        # token at all).
        tokens = torch.cat([self.null_token.expand(tokens.shape[0], 1, -1).to(tokens.dtype), tokens], dim=1)
        return torch.cat([block.cross_keys(tokens) for block in self._attention_blocks()], dim=-1)

    def token_bias(self, conditioning: Conditioning, dtype: torch.dtype) -> torch.Tensor:
        """(batch, 1 + L), the cross-attention logit bias matching `cross_keys`' rows: 0 for the null token,
        -inf on padding, the log of each token's weight relative to the heaviest."""
        token_mask, token_weights = conditioning.token_mask, conditioning.token_weights
        batch, device = token_mask.shape[0], token_mask.device
        bias = torch.zeros(token_mask.shape, dtype=dtype, device=device).masked_fill(~token_mask, float("-inf"))
        if token_weights is not None:
            # Relative to the heaviest token, so an even blend is plain attention over the concatenation and
            # the null token's share does not grow with the number of prompts.
            heaviest = token_weights.masked_fill(~token_mask, 0.0).amax(dim=1, keepdim=True)  # padding has no say
            relative = token_weights / heaviest.clamp_min(1e-6)
            bias = bias + torch.log(relative.clamp_min(1e-6)).to(dtype)
        return torch.cat([torch.zeros(batch, 1, dtype=dtype, device=device), bias], dim=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        if x.shape[-1] % self.config.frame_multiple:
            raise ValueError(f"frames ({x.shape[-1]}) must be a multiple of {self.config.frame_multiple}")
        cond = self.global_condition(t, conditioning)
        keys = conditioning.cross_keys if conditioning.cross_keys is not None else self.cross_keys(conditioning)
        token_bias = self.token_bias(conditioning, x.dtype)
        key_slices = iter(self._cross_key_slices)
        h = self.input(torch.cat([x, conditioning.controls], dim=1))
        skips: list[torch.Tensor] = []
        for blocks, attention, downsample in zip(self.down_blocks, self.down_attention, self.downsamples):
            for block in blocks:
                h = block(h, cond)
                skips.append(h)
            if isinstance(attention, AttentionBlock):
                h = attention(h, keys[..., next(key_slices)], token_bias)
            h = downsample(h)
        h = self.middle[0](h, cond)
        h = self.middle_attention(h, keys[..., next(key_slices)], token_bias)
        h = self.middle[1](h, cond)
        for blocks, attention, upsample in zip(self.up_blocks, self.up_attention, self.upsamples):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), cond)
            if isinstance(attention, AttentionBlock):
                h = attention(h, keys[..., next(key_slices)], token_bias)
            h = upsample(h)
        return self.output(F.silu(self.output_norm(h)))


class VDenoiser(nn.Module):
    """Wraps a v-prediction network into the sampler contract denoiser(x, sigma, conditioning=...) -> denoised
    (the v-objective of Moûsai and Stable Audio, in k-diffusion's sigma parametrisation).

    x_sigma = x0 + sigma * noise; the network sees x_sigma / sqrt(sigma^2 + 1) and t = atan(sigma) * 2/pi,
    and predicts v; denoised = c_skip * x + c_out * v with c_skip = 1/(sigma^2+1), c_out = -sigma/sqrt(sigma^2+1).
    """

    def __init__(self, network: UNet1D) -> None:
        super().__init__()
        self.network = network

    @staticmethod
    def scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c_skip = 1.0 / (sigma ** 2 + 1.0)
        c_out = -sigma / (sigma ** 2 + 1.0).sqrt()
        c_in = 1.0 / (sigma ** 2 + 1.0).sqrt()
        return c_skip, c_out, c_in

    def loss(self, x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        """Per-example v-objective MSE (batch,)."""
        c_skip, c_out, c_in = (s.view(-1, 1, 1) for s in self.scalings(sigma))
        noised = x0 + noise * sigma.view(-1, 1, 1)
        prediction = self.network(noised * c_in, sigma.atan() * 2 / math.pi, conditioning)
        target = (x0 - c_skip * noised) / c_out
        return (prediction - target).pow(2).flatten(1).mean(1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        c_skip, c_out, c_in = (s.view(-1, 1, 1) for s in self.scalings(sigma))
        return c_skip * x + c_out * self.network(x * c_in, sigma.atan() * 2 / math.pi, conditioning)
