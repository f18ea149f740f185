"""Train the latent diffusion U-Net on a latent cache (v-objective, cosine noise schedule).

Every conditioning input is dropped at random so any subset can be given at play time: text (null
prompt, for classifier-free guidance), tempo, key, scale, timing, each descriptor curve (presence mask),
the beat clock, the continuation context and (with `harmony`) the score's chroma. Descriptor curves (and the
chroma) are smoothed by a random window, so both beat-level curves and a performer's slow knob moves are in
the training distribution.

Resumable: `DIR/train_state.pt` (model, EMA, optimiser, step, RNG) is rewritten atomically every
`checkpoint_every` steps; rerunning the same command continues. The EMA weights are exported to
`DIR/diffusion.safetensors` (fp16, config inside). CPU by default; on CUDA bf16 autocast; under torchrun
(WORLD_SIZE > 1) DDP.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.diffusion.checkpoint import read_diffusion_metadata, save_diffusion
from engine.diffusion.conditioning import Conditioning
from engine.diffusion.device_batches import DeviceBatches
from engine.diffusion.dropout import drop_globals
from engine.diffusion.controls import (TRAINING_SMOOTHING_FRAMES, beat_clock, build_controls, normalise_descriptors,
                                      smooth_curves, training_harmony)
from engine.diffusion.latents import LatentCache, load_latent_cache, require_chroma
from engine.diffusion.warm_start import warm_start_network
from engine.diffusion.unet import MODEL_PRESETS, UNet1D, UNetConfig, VDenoiser
from engine.training import (TrainingRun, config_record, data_parallel, due, numpy_rng_from, numpy_rng_state,
                             optimiser_step, run_steps, set_learning_rate, start_training_process, update_ema)
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE


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
    # The harmony control (UNetConfig.harmony_channels): the score's chroma as 12 input channels + a mask, given
    # with this probability per window (a cache built from a dataset with chroma: latents.require_chroma).
    harmony: bool = False
    p_harmony: float = 0.5
    # "cache": CacheBatches (a Python loop on the CPU); "device": DeviceBatches (tensor ops on the training
    # device, what keeps a GPU fed); "auto": device on CUDA, cache on the CPU
    batches: str = "auto"
    # Start from this U-Net file's weights (engine/diffusion/warm_start.py: a model without the harmony control
    # gains it through zero weights); the model preset is then the file's. A resumed run ignores it.
    init_from: Path | None = None
    # Stop (saving and exporting) after this much wall clock, wherever the step count is (None: run all steps);
    # one process only: ranks under DDP would each stop at their own step
    max_minutes: float | None = None


class CacheBatches:
    """Random training windows drawn from one split of a latent cache, with random conditioning."""

    def __init__(self, cache: LatentCache, split: str, config: DiffusionTrainConfig, seed: int) -> None:
        self.cache = cache
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.chroma = require_chroma(cache, config.cache) if config.harmony else None
        clips = cache.clips_in_split(split)
        self.clips = np.array([c for c in clips if cache.clip_frames(c) >= config.window_frames])
        if len(self.clips) == 0:
            raise ValueError(f"no {split} clip has {config.window_frames} latent frames")
        self.frame_seconds = (float(cache.metadata.get("hop_frames", LATENT_HOP_FRAMES))
                              / float(cache.metadata.get("sample_rate", SAMPLE_RATE)))
        self.captions_by_clip: dict[int, np.ndarray] = {}
        caption_clip = cache.arrays["caption_clip"].numpy()
        order = np.argsort(caption_clip, kind="stable")
        bounds = np.searchsorted(caption_clip[order], np.arange(cache.clip_count + 1))
        for clip in range(cache.clip_count):
            self.captions_by_clip[clip] = order[bounds[clip]:bounds[clip + 1]]

    def rng_state(self) -> dict[str, Any]:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError("this run's batches were drawn on the device (batches='device'); resume it so")
        self.rng = numpy_rng_from(state)

    def batch(self, size: int, latent_channels: int) -> tuple[torch.Tensor, Conditioning]:
        """x0 (size, latent_channels, window_frames) clean latents and their randomly dropped conditioning."""
        rng, window = self.rng, self.config.window_frames
        clips = rng.choice(self.clips, size)
        starts = np.array([rng.integers(0, self.cache.clip_frames(clip) - window + 1) for clip in clips])
        rows = (self.cache.arrays["clip_offsets"].numpy()[clips] + starts)[:, None] + np.arange(window)[None]
        x0 = self.cache.arrays["latents"][torch.from_numpy(rows)].float().transpose(1, 2)  # (B, C, N)
        controls, tempo, window_start = self._controls(x0, clips, starts, rows, latent_channels)
        tempo, key, scale, timing, drop_text = self._dropped_globals(clips, tempo, window_start)
        tokens, token_mask, pooled = self._text(clips, drop_text)
        return x0, Conditioning(tokens=tokens, token_mask=token_mask, pooled=pooled, tempo_bpm=tempo, key=key,
                                scale=scale, timing=timing, controls=controls)

    def _controls(self, x0: torch.Tensor, clips: np.ndarray, starts: np.ndarray, rows: np.ndarray,
                  latent_channels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The control channels (descriptor curves at a random smoothing, a random subset given; the beat clock
        or not; a random context length or none; with harmony the score's chroma at the same smoothing, given
        or not); also each row's tempo and window start (seconds)."""
        c, a, rng, window, size = self.config, self.cache.arrays, self.rng, self.config.window_frames, len(clips)
        curves = normalise_descriptors(a["descriptors"][torch.from_numpy(rows)]).transpose(1, 2)  # (B, 4, N)
        smoothing = int(rng.choice(TRAINING_SMOOTHING_FRAMES))
        curves = smooth_curves(curves, smoothing)
        descriptor_mask = torch.from_numpy(rng.random((size, 4)) < c.p_descriptor).float()
        clip_index = torch.from_numpy(clips)
        tempo = a["tempo_bpm"][clip_index].clone()
        window_start = a["seconds_start"][clip_index] + torch.from_numpy(starts).float() * self.frame_seconds
        clock = beat_clock(window_start, tempo, window, self.frame_seconds)
        clock = clock * torch.from_numpy(rng.random(size) < c.p_clock).float()[:, None, None]
        context_frames = torch.from_numpy(np.where(rng.random(size) < c.p_context,
                                                   rng.integers(4, window // 2 + 1, size), 0))
        chroma = chroma_mask = None
        if self.chroma is not None:  # drawn last: a run without harmony draws what it always drew
            chroma, chroma_mask = training_harmony(self.chroma[torch.from_numpy(rows)], smoothing,
                                                   torch.from_numpy(rng.random(size) < c.p_harmony))
        controls = build_controls(size, window, latent_channels, descriptors=curves, descriptor_mask=descriptor_mask,
                                  clock=clock, context=x0, context_frames=context_frames, harmony=c.harmony,
                                  chroma=chroma, chroma_mask=chroma_mask)
        return controls, tempo, window_start

    def _dropped_globals(self, clips: np.ndarray, tempo: torch.Tensor, window_start: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
        """Tempo, key, scale and timing with each dropped at its rate (and all with the text, jointly, at
        p_drop_global); returns them and which rows' text to drop."""
        a, rng = self.cache.arrays, self.rng
        clip_index = torch.from_numpy(clips)
        timing = torch.stack([window_start, a["seconds_total"][clip_index]], dim=1)
        tempo, key, scale, timing, drop_text = drop_globals(tempo, a["key"][clip_index].clone(),
                                                            a["scale"][clip_index].clone(), timing, self.config,
                                                            lambda n: torch.from_numpy(rng.random(n)))
        return tempo, key, scale, timing, drop_text.numpy()

    def _text(self, clips: np.ndarray, drop_text: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One random caption of each clip (none where dropped): tokens (B, L, 384) padded to the longest,
        their mask (B, L) and the pooled embeddings (B, 384)."""
        a, rng = self.cache.arrays, self.rng
        token_rows: list[torch.Tensor] = []
        pooled = torch.zeros(len(clips), a["pooled"].shape[1])
        for row, clip in enumerate(clips):
            if drop_text[row]:
                token_rows.append(a["tokens"][:0])
                continue
            caption = int(rng.choice(self.captions_by_clip[int(clip)]))
            start, end = int(a["token_offsets"][caption]), int(a["token_offsets"][caption + 1])
            token_rows.append(a["tokens"][start:end])
            pooled[row] = a["pooled"][caption].float()
        length = max(1, max(t.shape[0] for t in token_rows))
        tokens = torch.zeros(len(clips), length, a["tokens"].shape[1])
        token_mask = torch.zeros(len(clips), length, dtype=torch.bool)
        for row, t in enumerate(token_rows):
            tokens[row, :t.shape[0]] = t.float()
            token_mask[row, :t.shape[0]] = True
        return tokens, token_mask, pooled


def training_batches(cache: LatentCache, config: DiffusionTrainConfig, seed: int,
                     device: torch.device) -> CacheBatches | DeviceBatches:
    """The train split's batch source config.batches names ("auto": on the device when it is CUDA)."""
    if config.batches not in ("auto", "cache", "device"):
        raise ValueError(f"batches must be auto, cache or device, got {config.batches!r}")
    if config.batches == "device" or (config.batches == "auto" and device.type == "cuda"):
        return DeviceBatches(cache, "train", config, seed, device)
    return CacheBatches(cache, "train", config, seed)


class VLoss(nn.Module):
    """forward(x0, noise, sigma, conditioning) -> per-example v-loss (batch,): the denoiser's loss as a forward,
    so DistributedDataParallel (which hooks forward) averages the gradients across ranks."""

    def __init__(self, denoiser: VDenoiser) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor,
                conditioning: Conditioning) -> torch.Tensor:
        return self.denoiser.loss(x0, noise, sigma, conditioning)


def sample_sigmas(size: int, generator: torch.Generator, sigma_max: float = 80.0) -> torch.Tensor:
    """Noise levels for training: t ~ U(0, 1) on the cosine schedule, sigma = tan(t pi / 2) (clipped)."""
    t = torch.rand(size, generator=generator)
    return torch.tan(t * math.pi / 2).clamp(1e-3, sigma_max)


def _lr(step: int, config: DiffusionTrainConfig) -> float:
    return config.learning_rate * min(1.0, (step + 1) / config.warmup_steps)


def model_config_for(name: str, harmony: bool = False) -> UNetConfig:
    """The preset `name`, with the harmony channels when `harmony`."""
    if name not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(MODEL_PRESETS)}")
    return replace(MODEL_PRESETS[name], harmony_channels=harmony)


class _DiffusionTraining:
    """One run of `train_diffusion`: the model, its EMA and optimiser, the batches, the fixed validation batch
    and the run's files, built in the order their random draws have always been made."""

    def __init__(self, config: DiffusionTrainConfig) -> None:
        self.config = config
        if config.max_minutes is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("max_minutes stops one process; under torchrun give --steps instead")
        self.process = start_training_process(config.threads, config.seed)
        rank, device = self.process.rank, self.process.device
        self.cache = load_latent_cache(config.cache)
        if config.harmony:
            require_chroma(self.cache, config.cache)  # before any model is built: a clear error at start
        self.latent_channels = int(self.cache.arrays["latents"].shape[1])
        # where the weights started (None: from scratch), recorded in every file the run saves
        self.init_from_record: dict[str, Any] | None = None
        if config.init_from is not None:
            network = warm_start_network(config.init_from, config.harmony)
            self.init_from_record = {"file": config.init_from.name,
                                     "extra": read_diffusion_metadata(config.init_from).get("extra", {})}
            self.model_config = network.config
            if self.latent_channels != self.model_config.latent_channels:
                raise ValueError(f"{config.init_from} has {self.model_config.latent_channels} latent channels, "
                                 f"the cache {config.cache} has {self.latent_channels}")
        else:
            self.model_config = model_config_for(config.model, config.harmony)
            if self.latent_channels != self.model_config.latent_channels:
                self.model_config = replace(self.model_config, latent_channels=self.latent_channels)
            network = UNet1D(self.model_config)
        self.model = VDenoiser(network).to(device)
        self.ema = copy.deepcopy(self.model).eval()
        self.optimiser = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99),
                                           weight_decay=1e-4)
        self.run = TrainingRun(config.out_dir, rank, self.model, self.ema, self.optimiser)
        self.train_data = training_batches(self.cache, config, config.seed + 1000 * rank, device)
        self._fix_validation_batch()
        self.noise_generator = torch.Generator().manual_seed(config.seed + 7 + rank)
        self.step = self._resume()
        # DDP syncs gradients only through forward(), so the training step calls a module whose forward is the loss.
        self.objective = data_parallel(self.process, VLoss(self.model))

    def _fix_validation_batch(self) -> None:
        """32 windows of the valid split (the train split if there is none) with fixed noise and noise levels."""
        has_valid = len(self.cache.clips_in_split("valid")) > 0
        valid_data = CacheBatches(self.cache, "valid" if has_valid else "train", self.config, 1234)
        self.valid_x0, self.valid_conditioning = valid_data.batch(32, self.latent_channels)
        valid_generator = torch.Generator().manual_seed(99)
        self.valid_sigma = sample_sigmas(32, valid_generator)
        self.valid_noise = torch.randn(self.valid_x0.shape, generator=valid_generator)

    def _resume(self) -> int:
        state = self.run.resume(self.process.device)
        if state is None:
            return 0
        self.train_data.set_rng_state(state["data_rng"])
        self.noise_generator.set_state(state["noise_rng"])
        return int(state["step"])

    def _save(self) -> None:
        """The train state and the EMA weights as the shippable file."""
        config = self.config
        self.run.save(self.step, data_rng=self.train_data.rng_state(),
                      noise_rng=self.noise_generator.get_state(), model_config=self.model_config.to_dict(),
                      config=config_record(config, "cache", "out_dir"))
        extra = {"steps": self.step, "cache": str(config.cache), "train": config.model,
                 "styles": self.cache.metadata.get("styles", [])}
        if self.init_from_record is not None:
            extra["init_from"] = self.init_from_record
        save_diffusion(self.ema.network, self.run.out_dir / "diffusion.safetensors", extra=extra)

    def _valid_loss(self) -> float:
        device = self.process.device
        with torch.no_grad():
            return float(self.ema.loss(self.valid_x0.to(device), self.valid_noise.to(device),
                                       self.valid_sigma.to(device), self.valid_conditioning.to(device)).mean())

    def _train_step(self) -> dict[str, float]:
        """One optimiser and EMA step; returns the numbers the log reports."""
        config, device = self.config, self.process.device
        set_learning_rate(self.optimiser, _lr(self.step, config))
        x0, conditioning = self.train_data.batch(config.batch_size, self.latent_channels)
        x0 = x0.to(device)
        conditioning = conditioning.to(device)
        sigma = sample_sigmas(config.batch_size, self.noise_generator).to(device)
        noise = torch.randn(x0.shape, generator=self.noise_generator).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = self.objective(x0, noise, sigma, conditioning).float().mean()
        grad_norm = optimiser_step(loss, self.optimiser, self.model.parameters(), self.step)
        # a short warm-up of the average
        update_ema(self.ema, self.model, min(config.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        return {"loss": round(loss.item(), 4), "grad_norm": round(grad_norm, 3)}

    def _log(self, numbers: dict[str, Any], seconds_per_step: float) -> None:
        config = self.config
        record = {"step": self.step, **numbers, "lr": _lr(self.step, config),
                  "seconds_per_step": round(seconds_per_step, 3)}
        if due(self.step, config.log_every * 10, config.steps):
            record["valid_loss_ema"] = round(self._valid_loss(), 4)
        self.run.log(record)

    def train(self) -> dict[str, Any]:
        config = self.config
        seconds = run_steps(self._train_step, lambda: self.step, config.steps, log_every=config.log_every,
                            checkpoint_every=config.checkpoint_every, rank=self.process.rank, log=self._log,
                            save=self._save,
                            seconds_limit=None if config.max_minutes is None else 60.0 * config.max_minutes)
        self.process.finish()
        return {"steps": self.step, "seconds": seconds, "history": self.run.history}


def train_diffusion(config: DiffusionTrainConfig) -> dict[str, Any]:
    """Train (or resume) the run in `config.out_dir`; returns its steps, seconds and this process's log records."""
    return _DiffusionTraining(config).train()
