"""Train the latent diffusion U-Net on a latent cache (v-objective, cosine noise schedule).

Every conditioning input is dropped at random so any subset can be given at play time: text (null
prompt, for classifier-free guidance), tempo, key, scale, timing, each descriptor curve (presence mask),
the beat clock and the continuation context. Descriptor curves are smoothed by a random window, so both
beat-level curves and a performer's slow knob moves are in the training distribution.

Resumable: `DIR/train_state.pt` (model, EMA, optimiser, step, RNG) is rewritten atomically every
`checkpoint_every` steps; rerunning the same command continues. The EMA weights are exported to
`DIR/diffusion.safetensors` (fp16, config inside). CPU by default; on CUDA bf16 autocast; under torchrun
(WORLD_SIZE > 1) DDP.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.diffusion.checkpoint import save_diffusion
from engine.diffusion.controls import beat_clock, build_controls, normalise_descriptors, smooth_curves
from engine.diffusion.latents import LatentCache, load_latent_cache
from engine.diffusion.unet import MODEL_PRESETS, UNet1D, UNetConfig, VDenoiser
from engine.training import (data_parallel, restore_training_state, save_training_state, start_training_process,
                             update_ema)


@dataclass(frozen=True)
class DiffusionTrainConfig:
    cache: Path
    out_dir: Path
    model: str = "small"  # a key of MODEL_PRESETS
    steps: int = 20000
    batch_size: int = 16
    window_frames: int = 128  # 128 latent frames = 2.97 s
    learning_rate: float = 3e-4
    warmup_steps: int = 300
    ema_decay: float = 0.999
    checkpoint_every: int = 250
    log_every: int = 25
    seed: int = 0
    threads: int = 0  # 0: torch's default
    # Conditioning dropout (each independent), plus a joint drop of text + tempo + key + scale, which is
    # the unconditional branch classifier-free guidance uses at play time.
    p_drop_text: float = 0.1
    p_drop_tempo: float = 0.2
    p_drop_key: float = 0.2
    p_drop_timing: float = 0.3
    p_drop_global: float = 0.1
    p_descriptor: float = 0.5  # each descriptor curve is given with this probability
    p_clock: float = 0.7
    p_context: float = 0.5


class CacheBatches:
    """Random training windows drawn from one split of a latent cache, with random conditioning."""

    def __init__(self, cache: LatentCache, split: str, config: DiffusionTrainConfig, seed: int) -> None:
        self.cache = cache
        self.config = config
        self.rng = np.random.default_rng(seed)
        clips = cache.clips_in_split(split)
        self.clips = np.array([c for c in clips if cache.clip_frames(c) >= config.window_frames])
        if len(self.clips) == 0:
            raise ValueError(f"no {split} clip has {config.window_frames} latent frames")
        self.frame_seconds = float(cache.metadata.get("hop_frames", 1024)) / float(cache.metadata.get("sample_rate", 44100))
        self.captions_by_clip: dict[int, np.ndarray] = {}
        caption_clip = cache.arrays["caption_clip"].numpy()
        order = np.argsort(caption_clip, kind="stable")
        bounds = np.searchsorted(caption_clip[order], np.arange(cache.clip_count + 1))
        for clip in range(cache.clip_count):
            self.captions_by_clip[clip] = order[bounds[clip]:bounds[clip + 1]]

    def batch(self, size: int, latent_channels: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c, a, rng, window = self.config, self.cache.arrays, self.rng, self.config.window_frames
        clips = rng.choice(self.clips, size)
        offsets = a["clip_offsets"].numpy()
        starts = np.array([rng.integers(0, self.cache.clip_frames(clip) - window + 1) for clip in clips])
        rows = (offsets[clips] + starts)[:, None] + np.arange(window)[None]
        x0 = a["latents"][torch.from_numpy(rows)].float().transpose(1, 2)  # (B, C, N)
        curves = normalise_descriptors(a["descriptors"][torch.from_numpy(rows)]).transpose(1, 2)  # (B, 4, N)
        smoothing = int(rng.choice([1, 5, 17, 43]))
        curves = smooth_curves(curves, smoothing)
        descriptor_mask = torch.from_numpy(rng.random((size, 4)) < c.p_descriptor).float()
        clip_index = torch.from_numpy(clips)
        tempo = a["tempo_bpm"][clip_index].clone()
        window_start = a["seconds_start"][clip_index] + torch.from_numpy(starts).float() * self.frame_seconds
        clock = beat_clock(window_start, tempo, window, self.frame_seconds)
        clock = clock * torch.from_numpy(rng.random(size) < c.p_clock).float()[:, None, None]
        context_frames = torch.from_numpy(np.where(rng.random(size) < c.p_context,
                                                   rng.integers(4, window // 2 + 1, size), 0))
        controls = build_controls(size, window, latent_channels, descriptors=curves, descriptor_mask=descriptor_mask,
                                  clock=clock, context=x0, context_frames=context_frames)
        key = a["key"][clip_index].clone()
        scale = a["scale"][clip_index].clone()
        timing = torch.stack([window_start, a["seconds_total"][clip_index]], dim=1)
        drop_global = rng.random(size) < c.p_drop_global
        drop_text = drop_global | (rng.random(size) < c.p_drop_text)
        tempo[torch.from_numpy(drop_global | (rng.random(size) < c.p_drop_tempo))] = 0.0
        drop_key = torch.from_numpy(drop_global | (rng.random(size) < c.p_drop_key))
        key[drop_key] = 12
        scale[drop_key] = 4  # key and scale travel together: a tonic without a mode means little
        timing[torch.from_numpy(rng.random(size) < c.p_drop_timing)] = 0.0
        token_rows: list[torch.Tensor] = []
        pooled = torch.zeros(size, a["pooled"].shape[1])
        for row, clip in enumerate(clips):
            if drop_text[row]:
                token_rows.append(a["tokens"][:0])
                continue
            caption = int(rng.choice(self.captions_by_clip[int(clip)]))
            start, end = int(a["token_offsets"][caption]), int(a["token_offsets"][caption + 1])
            token_rows.append(a["tokens"][start:end])
            pooled[row] = a["pooled"][caption].float()
        length = max(1, max(t.shape[0] for t in token_rows))
        tokens = torch.zeros(size, length, a["tokens"].shape[1])
        token_mask = torch.zeros(size, length, dtype=torch.bool)
        for row, t in enumerate(token_rows):
            tokens[row, :t.shape[0]] = t.float()
            token_mask[row, :t.shape[0]] = True
        cond = {"tokens": tokens, "token_mask": token_mask, "pooled": pooled, "tempo_bpm": tempo, "key": key,
                "scale": scale, "timing": timing, "controls": controls}
        return x0, cond


class VLoss(nn.Module):
    """forward(x0, noise, sigma, **cond) -> per-example v-loss (batch,): the denoiser's loss as a forward,
    so DistributedDataParallel (which hooks forward) averages the gradients across ranks."""

    def __init__(self, denoiser: VDenoiser) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, **cond: torch.Tensor) -> torch.Tensor:
        return self.denoiser.loss(x0, noise, sigma, **cond)


def sample_sigmas(size: int, generator: torch.Generator, sigma_max: float = 80.0) -> torch.Tensor:
    """Noise levels for training: t ~ U(0, 1) on the cosine schedule, sigma = tan(t pi / 2) (clipped)."""
    t = torch.rand(size, generator=generator)
    return torch.tan(t * math.pi / 2).clamp(1e-3, sigma_max)


def _lr(step: int, config: DiffusionTrainConfig) -> float:
    return config.learning_rate * min(1.0, (step + 1) / config.warmup_steps)


def model_config_for(name: str) -> UNetConfig:
    if name not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(MODEL_PRESETS)}")
    return MODEL_PRESETS[name]


def train_diffusion(config: DiffusionTrainConfig) -> dict[str, Any]:
    process = start_training_process(config.threads, config.seed)
    rank, device = process.rank, process.device
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = load_latent_cache(config.cache)
    model_config = model_config_for(config.model)
    latent_channels = int(cache.arrays["latents"].shape[1])
    if latent_channels != model_config.latent_channels:
        model_config = replace(model_config, latent_channels=latent_channels)
    model = VDenoiser(UNet1D(model_config)).to(device)
    ema = copy.deepcopy(model).eval()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99), weight_decay=1e-4)
    train_data = CacheBatches(cache, "train", config, config.seed + 1000 * rank)
    has_valid = len(cache.clips_in_split("valid")) > 0
    valid_data = CacheBatches(cache, "valid" if has_valid else "train", config, 1234)
    valid_x0, valid_cond = valid_data.batch(32, latent_channels)
    valid_generator = torch.Generator().manual_seed(99)
    valid_sigma = sample_sigmas(32, valid_generator)
    valid_noise = torch.randn(valid_x0.shape, generator=valid_generator)
    noise_generator = torch.Generator().manual_seed(config.seed + 7 + rank)

    step = 0
    state_path = out / "train_state.pt"
    log_path = out / "train_log.jsonl"
    state = restore_training_state(state_path, device, model, ema, optimiser)
    if state is not None:
        step = state["step"]
        train_data.rng = np.random.default_rng(state["data_rng"])
        noise_generator.set_state(state["noise_rng"])
        if rank == 0:
            print(f"resumed from step {step}", flush=True)
    # DDP syncs gradients only through forward(), so the training step calls a module whose forward is the loss.
    wrapped = data_parallel(process, VLoss(model))

    def save_state() -> None:
        save_training_state(state_path, model, ema, optimiser, step=step, data_rng=int(train_data.rng.integers(2**62)),
                            noise_rng=noise_generator.get_state(), model_config=model_config.to_dict(),
                            config=asdict(config) | {"cache": str(config.cache), "out_dir": str(config.out_dir)})

    def valid_loss() -> float:
        with torch.no_grad():
            cond = {k: v.to(device) for k, v in valid_cond.items()}
            return float(ema.loss(valid_x0.to(device), valid_noise.to(device), valid_sigma.to(device), **cond).mean())

    started = time.monotonic()
    last_log = started
    history: list[dict[str, Any]] = []
    while step < config.steps:
        for group in optimiser.param_groups:
            group["lr"] = _lr(step, config)
        x0, cond = train_data.batch(config.batch_size, latent_channels)
        x0 = x0.to(device)
        cond = {k: v.to(device) for k, v in cond.items()}
        sigma = sample_sigmas(config.batch_size, noise_generator).to(device)
        noise = torch.randn(x0.shape, generator=noise_generator).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = wrapped(x0, noise, sigma, **cond).float().mean()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite loss at step {step}; resume from the last checkpoint")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        optimiser.step()
        update_ema(ema, model, min(config.ema_decay, (1 + step) / (10 + step)))  # short warm-up of the average
        step += 1
        if rank == 0 and (step % config.log_every == 0 or step == config.steps):
            now = time.monotonic()
            record = {"step": step, "loss": round(loss.item(), 4), "grad_norm": round(grad_norm, 3),
                      "lr": _lr(step, config), "seconds_per_step": round((now - last_log) / config.log_every, 3)}
            last_log = now
            if step % (config.log_every * 10) == 0 or step == config.steps:
                record["valid_loss_ema"] = round(valid_loss(), 4)
            history.append(record)
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
        if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
            save_state()
            save_diffusion(ema.network, out / "diffusion.safetensors",
                           extra={"steps": step, "cache": str(config.cache), "train": config.model,
                                  "styles": cache.metadata.get("styles", [])})
    process.finish()
    return {"steps": step, "seconds": time.monotonic() - started, "history": history}
