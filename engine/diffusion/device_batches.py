"""Training batches built with tensor operations on the training device: what feeds a GPU.

`CacheBatches` (engine/diffusion/train.py) builds each window and caption in a Python loop on the CPU, fine
for a 16-window CPU batch and a starving one for a GPU that trains ~13,600 windows a second (issue 16).
`DeviceBatches` draws the same distribution (random clip and start, descriptor curves (and with harmony the
score's chroma) at one random smoothing per batch, the beat clock, a continuation context, every conditioning
dropout at its rate, one random caption per clip) from the cache's arrays moved to the device once, with no per-window Python.
Its random numbers come from one torch.Generator on that device, so a run resumes exactly
(`rng_state` / `set_rng_state`), but they are not CacheBatches' numbers: the two give different batches
of the same distribution (tests/engine/diffusion/test_device_batches.py checks both the structure and the
rates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.diffusion.conditioning import Conditioning
from engine.diffusion.controls import (TRAINING_SMOOTHING_FRAMES, beat_clock, build_controls, normalise_descriptors,
                                      smooth_curves, training_harmony)
from engine.diffusion.dropout import drop_globals
from engine.diffusion.latents import SPLIT_NAMES, LatentCache, require_chroma
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE

if TYPE_CHECKING:
    from engine.diffusion.train import DiffusionTrainConfig


class DeviceBatches:
    """Random training windows of one split of a latent cache, built on `device`."""

    def __init__(self, cache: LatentCache, split: str, config: DiffusionTrainConfig, seed: int,
                 device: torch.device | str) -> None:
        if config.harmony:
            require_chroma(cache, config.cache)
        self.config = config
        self.device = torch.device(device)
        a = {name: tensor.to(self.device) for name, tensor in cache.arrays.items()}
        self.arrays = a
        offsets = a["clip_offsets"]
        lengths = offsets[1:] - offsets[:-1]
        in_split = (a["split"] == SPLIT_NAMES.index(split)) & (lengths >= config.window_frames)
        self.clips = torch.nonzero(in_split).flatten()
        if self.clips.numel() == 0:
            raise ValueError(f"no {split} clip has {config.window_frames} latent frames")
        self.clip_lengths = lengths
        self.frame_seconds = (float(cache.metadata.get("hop_frames", LATENT_HOP_FRAMES))
                              / float(cache.metadata.get("sample_rate", SAMPLE_RATE)))
        # captions grouped by clip: clip c's captions are caption_order[caption_first[c] : + caption_count[c]]
        caption_clip = a["caption_clip"]
        self.caption_order = torch.argsort(caption_clip, stable=True)
        self.caption_count = torch.bincount(caption_clip, minlength=cache.clip_count)
        self.caption_first = torch.cumsum(self.caption_count, 0) - self.caption_count
        token_offsets = a["token_offsets"]
        self.caption_tokens = token_offsets[1:] - token_offsets[:-1]
        self.generator = torch.Generator(self.device).manual_seed(seed)

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        if not isinstance(state, torch.Tensor):
            raise ValueError("this run's batches were drawn on the CPU (batches='cache'); resume it so")
        self.generator.set_state(state.cpu())

    def _uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _integers(self, high: torch.Tensor) -> torch.Tensor:
        """Uniform integers in [0, high) elementwise (high >= 1)."""
        return torch.minimum((self._uniform(*high.shape) * high).long(), high - 1)

    def batch(self, size: int, latent_channels: int) -> tuple[torch.Tensor, Conditioning]:
        """x0 (size, latent_channels, window_frames) clean latents and their randomly dropped conditioning."""
        c, a, window = self.config, self.arrays, self.config.window_frames
        clips = self.clips[self._integers(torch.full((size,), self.clips.numel(), device=self.device))]
        starts = self._integers(self.clip_lengths[clips] - window + 1)
        rows = (a["clip_offsets"][clips] + starts)[:, None] + torch.arange(window, device=self.device)[None]
        x0 = a["latents"][rows].float().transpose(1, 2)  # (B, C, N)

        curves = normalise_descriptors(a["descriptors"][rows].float()).transpose(1, 2)  # (B, 4, N)
        choices = TRAINING_SMOOTHING_FRAMES
        smoothing = choices[int(self._integers(torch.tensor([len(choices)], device=self.device)))]
        curves = smooth_curves(curves, smoothing)
        descriptor_mask = (self._uniform(size, 4) < c.p_descriptor).float()
        tempo = a["tempo_bpm"][clips].float().clone()
        window_start = a["seconds_start"][clips].float() + starts.float() * self.frame_seconds
        clock = beat_clock(window_start, tempo, window, self.frame_seconds)
        clock = clock * (self._uniform(size) < c.p_clock).float()[:, None, None]
        context_frames = torch.where(self._uniform(size) < c.p_context,
                                     4 + self._integers(torch.full((size,), window // 2 - 3, device=self.device)),
                                     torch.zeros(size, dtype=torch.long, device=self.device))
        chroma = chroma_mask = None
        if c.harmony:  # drawn last: a run without harmony draws what it always drew
            chroma, chroma_mask = training_harmony(a["chroma"][rows], smoothing, self._uniform(size) < c.p_harmony)
        controls = build_controls(size, window, latent_channels, descriptors=curves, descriptor_mask=descriptor_mask,
                                  clock=clock, context=x0, context_frames=context_frames, harmony=c.harmony,
                                  chroma=chroma, chroma_mask=chroma_mask, device=self.device)

        timing = torch.stack([window_start, a["seconds_total"][clips].float()], dim=1)
        tempo, key, scale, timing, drop_text = drop_globals(tempo, a["key"][clips].clone(), a["scale"][clips].clone(),
                                                            timing, c, self._uniform)

        tokens, token_mask, pooled = self._text(clips, drop_text)
        return x0, Conditioning(tokens=tokens, token_mask=token_mask, pooled=pooled, tempo_bpm=tempo, key=key,
                                scale=scale, timing=timing, controls=controls)

    def _text(self, clips: torch.Tensor, drop_text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One random caption of each clip (none where dropped), gathered from the flat token array: tokens
        (B, L, 384) padded to the batch's longest caption, mask (B, L), pooled (B, 384)."""
        a = self.arrays
        caption = self.caption_order[self.caption_first[clips] + self._integers(self.caption_count[clips])]
        counts = torch.where(drop_text, 0, self.caption_tokens[caption])
        length = max(1, int(counts.max()))  # one sync a batch: the padding CacheBatches gives
        position = torch.arange(length, device=self.device)[None]
        token_mask = position < counts[:, None]
        index = (a["token_offsets"][caption][:, None] + position).clamp_max(a["tokens"].shape[0] - 1)
        tokens = a["tokens"][index].float() * token_mask[..., None]
        pooled = a["pooled"][caption].float() * (~drop_text).float()[:, None]
        return tokens, token_mask, pooled
