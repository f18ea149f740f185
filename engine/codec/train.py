"""Train the magnitude autoencoder on the dataset manifest.

The objective is the decoder's log-magnitude against the input's own STFT (DecoderMagnitudeLoss) plus a
small latent L2: the phase is not learned (engine/codec/phase.py integrates it from the magnitude at
decode time), so nothing in training can lock the output to the latent frame rate. `init_from` starts from
another autoencoder file; with `freeze_encoder` the encoder and the latent statistics stay exactly as they
were, so the latent the diffusion model was trained on does not change (that is how the v2 decoder was
trained from the v1 file, whose learned-phase head is mapped onto the magnitude head).

Resumable: `DIR/train_state.pt` (model, EMA, optimiser, step, RNG) is rewritten atomically every
`checkpoint_every` steps and a rerun of the same command continues from it. The EMA weights are exported
to `DIR/autoencoder.safetensors` (fp16, config and latent statistics inside). Runs on CPU; on CUDA it uses
bf16 autocast; under torchrun (WORLD_SIZE > 1) it trains data-parallel with DDP.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from torch import nn

from engine.codec.checkpoint import CheckpointError, read_metadata, save_autoencoder
from engine.codec.model import DEBUG_CONFIG, AutoencoderConfig, MagnitudeAutoencoder
from engine.codec.spectral import (DecoderMagnitudeLoss, LowBinFrequencyLoss, log_spectral_distance_db,
                                   multi_resolution_log_l1)
from engine.codec.synthetic import HarmonicToneSource
from engine.training import (TrainingRun, config_record, data_parallel, due, numpy_rng_from, numpy_rng_state,
                             optimiser_step, read_training_state, run_steps, set_learning_rate,
                             start_training_process, update_ema)


@dataclass(frozen=True)
class TrainConfig:
    dataset: Path
    out_dir: Path
    steps: int = 20000
    batch_size: int = 8
    segment_latent_frames: int = 48  # 48 x 1024 samples = 1.11 s
    learning_rate: float = 4e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    latent_l2_weight: float = 1e-3
    checkpoint_every: int = 200
    eval_every: int = 500
    log_every: int = 20
    seed: int = 0
    debug_model: bool = False
    threads: int = 0  # 0: torch's default
    init_from: Path | None = None  # an autoencoder safetensors file (format 1 or 2) to start from
    freeze_encoder: bool = False  # keep the encoder and latent statistics of init_from exactly
    # the log-magnitude gradients the phase integration reads (spectral.DecoderMagnitudeLoss)
    frequency_gradient_weight: float = 0.5
    time_gradient_weight: float = 1.0  # also what penalises a per-latent-frame ripple in time
    # the pitch the phase integration reads off the peaks, in cents (weighs low notes' peaks as the ear does)
    peak_pitch_weight: float = 0.0
    # the decoded audio (phase integrated, held fixed; inverse STFT) against the input, over several windows
    output_spectral_weight: float = 0.0
    tone_fraction: float = 0.25  # share of each batch replaced by random harmonic tones (engine/codec/synthetic.py)
    # the decoder's low-bin frequency branch (model.LowBinFrequency): its K bins (0: no branch), the weight of
    # its loss (spectral.LowBinFrequencyLoss, hundreds of cents), and whether it is all that trains (the
    # encoder, the magnitude path and the latent statistics stay exactly as in init_from: every level and the
    # latent the diffusion model speaks are unchanged)
    frequency_bins: int = 0
    frequency_weight: float = 1.0
    frequency_branch_only: bool = False
    low_tone_fraction: float = 0.0  # share of the tones drawn with their root in 38-300 Hz (where bins fail)

    @property
    def keeps_encoder(self) -> bool:
        """The encoder and the latent statistics stay exactly as in init_from."""
        return self.freeze_encoder or self.frequency_branch_only


class ManifestSegments:
    """Random stereo segments from one split of a dataset manifest, read with FLAC seeking."""

    def __init__(self, dataset: Path, split: str, segment_samples: int, seed: int) -> None:
        rows = [json.loads(line) for line in (Path(dataset) / "manifest.jsonl").read_text().splitlines()]
        self.rows = [r for r in rows if r["split"] == split]
        if not self.rows:
            raise ValueError(f"{dataset}: no clips in split {split!r}")
        self.dataset = Path(dataset)
        self.segment_samples = segment_samples
        self.rng = np.random.default_rng(seed)

    def segment(self, row: dict[str, Any], start: int | None = None) -> np.ndarray:
        path = self.dataset / row["path"]
        total = soundfile.info(str(path)).frames
        if start is None:
            start = int(self.rng.integers(0, max(1, total - self.segment_samples)))
        audio, _ = soundfile.read(str(path), frames=self.segment_samples, start=start, dtype="float32",
                                  always_2d=True)
        if audio.shape[0] < self.segment_samples:
            audio = np.pad(audio, ((0, self.segment_samples - audio.shape[0]), (0, 0)))
        return audio.T

    def batch(self, size: int) -> torch.Tensor:
        picks = self.rng.integers(0, len(self.rows), size)
        audio = np.stack([self.segment(self.rows[i]) for i in picks])
        gain_db = self.rng.uniform(-10.0, 6.0, size=(size, 1, 1))  # level robustness: the instrument's input varies
        return torch.from_numpy((audio * 10 ** (gain_db / 20)).astype(np.float32))


class _MagnitudeObjective(nn.Module):
    """What training differentiates: audio -> (decoder log-magnitude (without gradients when only the
    frequency branch trains), the branch's corrections or None, latent); DDP wraps this."""

    def __init__(self, model: MagnitudeAutoencoder, freeze_encoder: bool, branch_only: bool) -> None:
        super().__init__()
        self.model = model
        self.freeze_encoder = freeze_encoder
        self.branch_only = branch_only

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        if self.freeze_encoder:
            with torch.no_grad():
                latent = self.model.encode(audio)
        else:
            latent = self.model.encode(audio)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.branch_only):
            log_magnitude = self.model.decoder.log_magnitude(latent)
        corrections = self.model.decoder.frequency_corrections(latent, 0, log_magnitude)
        return log_magnitude, corrections, latent


def initialise_from(model: MagnitudeAutoencoder, path: Path) -> list[str]:
    """Copy every tensor of `path` whose name and shape match into `model`; a format-1 file's learned-phase
    head (channels x [log-magnitude, phase] x bins) gives the magnitude head its magnitude rows, resampled
    to this decoder's bins; a sub-pixel upsampler gives an interpolating one the mean of its per-position
    projections. Returns the names that were not copied."""
    from safetensors.torch import load_file

    source = load_file(str(path))
    state = model.state_dict()
    skipped = []
    for name, target in state.items():
        tensor = source.get(name)
        if tensor is not None and tensor.shape == target.shape:
            target.copy_(tensor.float())
        elif name in ("decoder.head.weight", "decoder.head.bias") and tensor is not None:
            channels = model.config.audio_channels
            old_bins = tensor.shape[0] // (2 * channels)
            old = tensor.float().reshape(channels, 2, old_bins, -1)[:, 0]  # (channels, old_bins, features)
            positions = torch.linspace(0, old_bins - 1, model.decoder.bins)
            low = positions.floor().long().clamp(max=old_bins - 2)
            frac = (positions - low)[None, :, None]
            resampled = old[:, low] * (1 - frac) + old[:, low + 1] * frac
            if name.endswith("bias"):
                resampled = resampled + math.log(2.0)  # a window twice as long sums twice the samples
            target.copy_(resampled.reshape(target.shape))
        elif name in ("decoder.upsample.weight", "decoder.upsample.bias") and tensor is not None \
                and tensor.shape[0] == model.config.frames_per_latent * target.shape[0]:
            # a sub-pixel upsampler (one projection per STFT position) onto the interpolating one: their mean
            target.copy_(tensor.float().reshape(model.config.frames_per_latent, *target.shape).mean(0))
        else:
            skipped.append(name)
    return skipped


def model_config(debug_model: bool, frequency_bins: int, init_from: Path | None = None) -> AutoencoderConfig:
    """The architecture a run trains: the debug or full config, with the low-bin frequency branch's bins.
    A fine low band in `init_from` (decoder_fine_n_fft > 0) is carried over as it is: nothing here trains it
    (its target is a fine STFT no loss of this trainer reads; scripts/codec_branch/fit_fine.py trains it), but
    the magnitude is trained through the phase it steers, and the exported file keeps it."""
    config = replace(DEBUG_CONFIG if debug_model else AutoencoderConfig(), decoder_frequency_bins=frequency_bins)
    fine = _fine_band_fields(init_from)
    return replace(config, **fine) if fine else config


_FINE_BAND_FIELDS = ("decoder_frequency_bins", "decoder_frequency_dim", "decoder_frequency_blocks",
                     "decoder_fine_n_fft", "decoder_fine_bins")


def _fine_band_fields(init_from: Path | None) -> dict[str, int]:
    """The fine low band's config fields of a format-2 file that has one, else {}."""
    if init_from is None or not Path(init_from).is_file():
        return {}
    try:
        stored = read_metadata(init_from).get("config", {})
    except CheckpointError:
        return {}  # a format-1 file (or none of ours): initialise_from reports what it copies
    if not int(stored.get("decoder_fine_n_fft", 0)):
        return {}
    return {name: int(stored[name]) for name in _FINE_BAND_FIELDS}


def _init_provenance(init_from: Path | None) -> dict[str, Any]:
    """What an exported file keeps of its init file's training record: the fine band's, which this run did
    not change."""
    if not _fine_band_fields(init_from):
        return {}
    extra = read_metadata(init_from).get("extra", {})
    return {"fine_band": extra["fine_band"]} if "fine_band" in extra else {}


def _lr(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def latent_statistics(model: MagnitudeAutoencoder, segments: ManifestSegments, batches: int = 16,
                      batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the raw latent over random training segments."""
    device = next(model.parameters()).device
    latents = [model.encode(segments.batch(batch_size).to(device)) for _ in range(batches)]
    stacked = torch.cat(latents, 0).transpose(0, 1).reshape(model.config.latent_channels, -1)
    return stacked.mean(1).cpu(), stacked.std(1).clamp_min(1e-3).cpu()


def _initial_model(config: TrainConfig, model_config: AutoencoderConfig, rank: int) -> MagnitudeAutoencoder:
    """A fresh model, or one started from `init_from` (with the encoder frozen when asked)."""
    if config.freeze_encoder and config.init_from is None:
        raise ValueError("freeze_encoder needs init_from (an encoder to keep)")
    if config.frequency_branch_only and (config.init_from is None or not config.frequency_bins):
        raise ValueError("frequency_branch_only needs init_from (the rest of the model) and frequency_bins > 0")
    if config.frequency_bins and model_config.decoder_fine_n_fft:
        raise ValueError(f"{config.init_from} has a fine low band, which steers the low bins itself: "
                         "frequency_bins (the older branch) cannot be added to it")
    model = MagnitudeAutoencoder(model_config)
    if config.init_from is not None:
        skipped = initialise_from(model, Path(config.init_from))
        if rank == 0:
            print(f"initialised from {config.init_from}; not copied: {skipped or 'nothing'}")
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
    if config.frequency_branch_only:
        model.requires_grad_(False)
        model.decoder.frequency.requires_grad_(True)
    if model.decoder.fine is not None:
        model.decoder.fine.requires_grad_(False)  # carried over from init_from (model_config says why)
    return model


class _AutoencoderTraining:
    """One run of `train`: the model, its EMA and optimiser, the data and the run's files, built in the order
    their random draws have always been made (a resumed or repeated run draws the same)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.process = start_training_process(config.threads, config.seed)
        rank, device = self.process.rank, self.process.device
        self.model_config = model_config(config.debug_model, config.frequency_bins, config.init_from)
        self.model = _initial_model(config, self.model_config, rank).to(device)
        self.ema = copy.deepcopy(self.model).eval()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimiser = torch.optim.AdamW(self.trainable, lr=config.learning_rate, betas=(0.8, 0.99),
                                           weight_decay=1e-4)
        self.run = TrainingRun(config.out_dir, rank, self.model, self.ema, self.optimiser)
        self.loss_fn = DecoderMagnitudeLoss(self.model_config.decoder_n_fft, self.model_config.decoder_hop).to(device)
        self.frequency_loss = LowBinFrequencyLoss(self.model_config.decoder_n_fft, self.model_config.decoder_hop)
        self.segment_samples = config.segment_latent_frames * self.model_config.hop_frames
        self.train_data = ManifestSegments(config.dataset, "train", self.segment_samples, config.seed + 1000 * rank)
        valid_data = ManifestSegments(config.dataset, "valid", self.segment_samples, 1234)
        self.valid_batch = torch.stack([torch.from_numpy(valid_data.segment(r, 0))
                                        for r in valid_data.rows[:8]]).to(device)
        self.tones = HarmonicToneSource(config.seed + 7919 * rank)
        self.step = self._resume()
        self.objective = data_parallel(self.process, _MagnitudeObjective(
            self.model, config.keeps_encoder, config.frequency_branch_only))

    def _resume(self) -> int:
        state = self.run.resume(self.process.device)
        if state is None:
            return 0
        self.train_data.rng = numpy_rng_from(state["data_rng"])
        torch.set_rng_state(state["torch_rng"])
        step = int(state["step"])
        # train states before the tone generator was saved: reseeded by the step, a fresh stream of draws
        self.tones.rng = numpy_rng_from(state.get("tones_rng", self.config.seed + 7919 * self.process.rank + step))
        return step

    def _save_state(self) -> None:
        self.run.save(self.step, data_rng=numpy_rng_state(self.train_data.rng), tones_rng=numpy_rng_state(self.tones.rng),
                      torch_rng=torch.get_rng_state(), config=config_record(self.config, "dataset", "out_dir"))

    def _batch(self) -> torch.Tensor:
        """Manifest segments, the first `tone_fraction` of them replaced by random harmonic tones."""
        audio = self.train_data.batch(self.config.batch_size)
        tones = int(round(self.config.tone_fraction * self.config.batch_size))
        low = int(round(self.config.low_tone_fraction * tones))
        for i in range(tones):
            root_hz = (38.0, 300.0) if i < low else (40.0, 2000.0)
            audio[i] = torch.from_numpy(self.tones.segment(self.segment_samples, root_hz))
        return audio.to(self.process.device)

    def _train_step(self) -> dict[str, float]:
        """One optimiser and EMA step; returns the numbers the log reports."""
        config, device = self.config, self.process.device
        set_learning_rate(self.optimiser, _lr(self.step, config))
        audio = self._batch()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            log_magnitude, corrections, latent = self.objective(audio)
        latent_l2 = latent.float().pow(2).mean()
        losses: dict[str, torch.Tensor] = {}
        total = latent.new_zeros((), dtype=torch.float32)
        if corrections is not None and self.model.decoder.frequency is not None:  # a fine band is not trained here
            losses["low_bin_frequency_cents"] = self.frequency_loss(audio, corrections.float(), log_magnitude)
            total = total + config.frequency_weight * losses["low_bin_frequency_cents"] / 100.0
        if not config.frequency_branch_only:
            losses.update(self.loss_fn(audio, log_magnitude.float()))
            total = total + (losses["magnitude_log_l1"] + losses["magnitude_convergence"]
                             + config.frequency_gradient_weight * losses["frequency_gradient_l1"]
                             + config.time_gradient_weight * losses["time_gradient_l1"]
                             + config.peak_pitch_weight * losses["peak_pitch_cents"])
            if config.output_spectral_weight > 0:
                decoded = self.model.decoder.synthesise(log_magnitude.float(), corrections)  # the phase held fixed
                losses["output_log_spectral"] = multi_resolution_log_l1(audio, decoded)
                total = total + config.output_spectral_weight * losses["output_log_spectral"]
        if not config.keeps_encoder:
            total = total + config.latent_l2_weight * latent_l2
        grad_norm = optimiser_step(total, self.optimiser, self.trainable, self.step)
        update_ema(self.ema, self.model, config.ema_decay)
        self.step += 1
        return {"loss": round(total.item(), 4), **{k: round(v.item(), 4) for k, v in losses.items()},
                "latent_rms": round(latent_l2.detach().sqrt().item(), 3), "grad_norm": round(grad_norm, 3)}

    def _log(self, numbers: dict[str, float], seconds_per_step: float) -> None:
        config, step = self.config, self.step
        record = {"step": step, **numbers, "lr": _lr(step, config), "seconds_per_step": round(seconds_per_step, 3)}
        if due(step, config.eval_every, config.steps):
            with torch.no_grad():
                valid_reconstruction = self.ema.decode(self.ema.encode(self.valid_batch))
            record["valid_log_spectral_db"] = round(log_spectral_distance_db(self.valid_batch.cpu(),
                                                                             valid_reconstruction.cpu()), 3)
        self.run.log(record)

    def train(self) -> dict[str, Any]:
        config = self.config
        seconds = run_steps(self._train_step, lambda: self.step, config.steps, log_every=config.log_every,
                            checkpoint_every=config.checkpoint_every, rank=self.process.rank, log=self._log,
                            save=self._save_state)
        if self.process.rank == 0:
            export(self.ema, self.train_data, self.run.out_dir / "autoencoder.safetensors", self.step,
                   keep_statistics=config.keeps_encoder, provenance=_init_provenance(config.init_from))
        self.process.finish()
        return {"steps": self.step, "seconds": seconds, "history": self.run.history}


def train(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) the run in `config.out_dir`; returns its steps, seconds and this process's log records."""
    return _AutoencoderTraining(config).train()


def export(ema: MagnitudeAutoencoder, data: ManifestSegments, path: Path, step: int,
           keep_statistics: bool = False, provenance: dict[str, Any] | None = None) -> None:
    """Write the shippable safetensors file of the EMA weights; the latent statistics are measured anew
    unless `keep_statistics` (a frozen encoder: the diffusion model was normalised with the old ones).
    `provenance`: training records of parts this run carried over unchanged (the fine band's)."""
    ema = ema.cpu().float()
    if not keep_statistics:
        mean, std = latent_statistics(ema, data)
        ema.latent_mean.copy_(mean)
        ema.latent_std.copy_(std)
    save_autoencoder(ema, path, extra={"steps": step, "dataset": str(data.dataset), **(provenance or {})})


def export_run(dataset: Path, run_dir: Path, out_path: Path | None = None) -> Path:
    """Export the EMA weights of a run's latest `train_state.pt` (training may still be going on)."""
    state = read_training_state(Path(run_dir))
    init_from = state["config"].get("init_from")
    init_from = Path(init_from) if init_from else None
    config = model_config(bool(state["config"].get("debug_model")), int(state["config"].get("frequency_bins", 0)),
                          init_from)
    if not config.decoder_fine_n_fft and any(name.startswith("decoder.fine.") for name in state["ema"]):
        raise ValueError(f"{run_dir}: the run carries the fine low band of {init_from}, which is gone: its config "
                         "is read from that file")
    ema = MagnitudeAutoencoder(config)
    ema.load_state_dict(state["ema"])
    ema.eval()
    data = ManifestSegments(dataset, "train", state["config"]["segment_latent_frames"] * config.hop_frames, 0)
    path = Path(out_path or Path(run_dir) / "autoencoder.safetensors")
    export(ema, data, path, state["step"], keep_statistics=bool(state["config"].get("freeze_encoder")
                                                                or state["config"].get("frequency_branch_only")),
           provenance=_init_provenance(init_from))
    return path
