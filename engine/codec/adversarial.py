"""Adversarial fine-tune of the codec's decoder: sharper spectral peaks, so low notes keep their pitch.

Why (issue 15, docs/autoencoder.md "Not met yet"): the decoder predicts a log-magnitude STFT and the phase is
integrated from it (engine/codec/phase.py), which reads each partial's frequency off the shape of its peak.
Trained with L1 losses the decoder's peaks are blurred and symmetric, so 41-73 Hz tones come back 79-465
cents off (the true magnitude with the same phase integration: median 1.5, worst 7.7 cents), and the CPU
training with peak-restricted gradient losses has plateaued. The known cure is an adversarial loss with
feature matching (HiFi-GAN, Vocos); since the phase is not learned, the discriminators judge log-magnitude
spectrograms (engine/codec/discriminator.py: full band, 0-1.5 kHz at full resolution, band-pooled).

What trains: the decoder alone (the generator), warm-started from a shipped-format autoencoder file. The
encoder and the latent statistics are never updated and the export writes them back as they were read, so
the latent the diffusion model speaks stays bit for bit (the encoder runs in float32, outside autocast and
with TF32 off, so the decoder trains on the latents inference will give it). The objective is
`rec_weight` x spectral.DecoderMagnitudeLoss (log-magnitude L1 + spectral convergence + the frequency and
time gradient terms, weighted as the v2.1 training did) + `adv_weight` x the generator's adversarial loss +
`fm_weight` x feature matching; for the first `disc_warmup` steps only the discriminators learn (a
warm-started generator against an untrained discriminator would learn noise).

Data, all sampled on the training device: excerpts of real renders (a bundle written by
scripts/device/pack_codec_data.py: Ogg Vorbis shards + index.json; or a dataset manifest read directly;
engine/codec/adversarial_data.py) and
random harmonic tones made in torch (engine/codec/synthetic_torch.py), a `tone_fraction` of every batch, a
`low_tone_fraction` of them rooted at 40-200 Hz.

Runs on CPU (tests, smoke runs) and CUDA (bf16 autocast for the decoder and the discriminators; the losses in
float32). Keeps an EMA of the decoder. Resumable: OUT/train_state.pt (decoder, EMA, discriminators, both
optimisers, step, the data generator's state) is rewritten atomically every `checkpoint_every` steps and
at the end; rerunning the command continues from it. Stops after `steps` or `minutes` of training (wall
clock, this process) or on SIGTERM, then writes the state and exports the EMA decoder with the untouched
encoder as an fp16 safetensors file in the shipped format (engine.codec.checkpoint.save_autoencoder).
Log: OUT/train_log.jsonl, one JSON object per `log_every` steps (+ validation every `eval_every`).
Command line (engine/codec/adversarial_cli.py, one option per AdversarialConfig field):

    python -m engine.codec.adversarial --data BUNDLE --out RUN --minutes 8 [--init engine/weights/autoencoder.safetensors]
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.codec.adversarial_data import AudioBank, read_bundle_banks, read_manifest
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder, save_autoencoder
from engine.codec.discriminator import (LOSS_KINDS, MultiBandDiscriminator, discriminator_loss, feature_matching_loss,
                                        generator_loss)
from engine.codec.model import MagnitudeAutoencoder
from engine.codec.spectral import DecoderMagnitudeLoss, stft_magnitude
from engine.codec.synthetic_torch import LOW_TONES, ToneBatch, reference_tone
from engine.training import optimiser_step, update_ema


@dataclass(frozen=True)
class AdversarialConfig:
    out_dir: Path
    data: Path | None = None  # a bundle folder (index.json + shards) from scripts/device/pack_codec_data.py
    dataset: Path | None = None  # or a dataset folder with manifest.jsonl (FLAC, read with soundfile)
    dataset_clips: int = 200  # clips read from `dataset` (random train-split clips)
    dataset_clip_seconds: float = 3.0  # seconds read from each (a random excerpt)
    init: Path = DEFAULT_WEIGHTS  # the autoencoder file to start from (its encoder is kept exactly)
    steps: int = 1_000_000
    minutes: float = 0.0  # wall-clock budget of the training loop; 0: none
    batch_size: int = 16
    segment_latent_frames: int = 48  # 48 x 1024 samples = 1.11 s, as engine/codec/train.py
    tone_fraction: float = 0.4
    low_tone_fraction: float = 0.5
    generator_lr: float = 5e-5
    discriminator_lr: float = 2e-4
    disc_warmup: int = 200
    disc_channels: int = 32
    loss: str = "hinge"
    rec_weight: float = 1.0
    adv_weight: float = 0.2
    fm_weight: float = 0.5
    frequency_gradient_weight: float = 0.5
    time_gradient_weight: float = 3.0
    peak_pitch_weight: float = 0.0
    grad_clip: float = 5.0
    # the generator's adversarial and feature-matching terms per sub-discriminator ("name=weight,..."; the
    # discriminators' own loss is not weighted)
    disc_weights: str = "full=1,low=1,pooled=1"
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    log_every: int = 20
    eval_every: int = 200
    seed: int = 0
    threads: int = 0  # CPU threads; 0: torch's default
    device: str = ""  # "" picks cuda when there is one
    export: Path | None = None  # default OUT/autoencoder.safetensors
    snapshot_minutes: float = 0.0  # also export the EMA once, to EXPORT_snapshot.safetensors, after this long

    def validate(self) -> None:
        if (self.data is None) == (self.dataset is None):
            raise ValueError("give exactly one of data (a bundle) and dataset (a manifest folder)")
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}")
        if not 0.0 <= self.tone_fraction <= 1.0 or not 0.0 <= self.low_tone_fraction <= 1.0:
            raise ValueError("tone_fraction and low_tone_fraction are shares in [0, 1]")
        if self.batch_size < 1 or self.segment_latent_frames < 1 or self.steps < 1:
            raise ValueError("batch_size, segment_latent_frames and steps must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")
        self.discriminator_weights()

    def discriminator_weights(self) -> dict[str, float]:
        """disc_weights parsed: {"full": w, "low": w, "pooled": w}."""
        weights = {"full": 1.0, "low": 1.0, "pooled": 1.0}
        try:
            for item in filter(None, self.disc_weights.split(",")):
                name, value = item.split("=")
                if name.strip() not in weights:
                    raise ValueError(name)
                weights[name.strip()] = float(value)
        except ValueError as error:
            raise ValueError(f"disc_weights must read like full=1,low=2,pooled=1 ({error})") from None
        return weights


# -------------------------------------------------------------------------------------------- measures

HANN_GAUSSIAN_LAMBDA_PER_N2 = 0.25645  # engine/codec/phase.py's Gaussian equivalent of the Hann window


def peak_pitch_cents(log_magnitude: torch.Tensor, f0_hz: float, n_fft: int, sample_rate: int = 44100,
                     harmonics: int = 4) -> float:
    """A phase-free reading of the pitch the phase integration will give a steady tone: at the peak bin of
    each of the first `harmonics` partials, the instantaneous frequency RTPGHI integrates there (the bin's
    centre plus n_fft / (2 lambda) times the log-magnitude's central difference across frequency, as
    engine/codec/phase.py computes it), divided by the harmonic number, against f0.

    log_magnitude (channels, bins, frames), natural log; frames after the first quarter (the steady part);
    partials within 40 dB of the frame's peak. Returns the |median| over channels, frames and partials of
    the error in cents (nan when no partial qualifies). On the true magnitude of the evaluation's four
    lowest tones (41-73 Hz) it reads 15 / 4 / 1.5 / 1.1 cents (partials two bins apart bias it), through the
    shipped decoder 71 / 33 / 60 / 197 cents: a proxy that needs no phase, not the benchmark's f0."""
    x = log_magnitude.float()
    x = x[..., x.shape[-1] // 4:]
    bin_hz = sample_rate / n_fft
    if_scale = n_fft / (2.0 * HANN_GAUSSIAN_LAMBDA_PER_N2 * n_fft ** 2)  # radians per sample per nat
    estimates = []
    for k in range(1, harmonics + 1):
        centre = int(round(k * f0_hz / bin_hz))
        if centre < 2 or centre > x.shape[1] - 3:
            continue
        peak = centre - 1 + x[:, centre - 1:centre + 2].argmax(dim=1)  # (channels, frames): max within one bin
        above = torch.gather(x, 1, (peak + 1)[:, None]).squeeze(1)
        below = torch.gather(x, 1, (peak - 1)[:, None]).squeeze(1)
        level = torch.gather(x, 1, peak[:, None]).squeeze(1)
        radians = 2 * math.pi * peak.float() / n_fft + if_scale * (above - below)
        estimate = radians * sample_rate / (2 * math.pi) / k
        strong = level > x.amax(dim=1) - 40.0 / 20.0 * math.log(10.0)
        estimates.append(estimate[strong])
    every = torch.cat(estimates) if estimates else torch.zeros(0)
    if every.numel() == 0:
        return float("nan")
    return abs(float(1200.0 * torch.log2(every.median() / f0_hz)))


# -------------------------------------------------------------------------------------------- training

def encoder_digest(model: MagnitudeAutoencoder) -> str:
    """sha256 over the encoder's and the latent statistics' names and float32 values (-0.0 as 0.0), as
    tests/engine/codec/test_shipped_weights.py hashes the shipped file: what the diffusion model depends on."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(("encoder.", "latent_")):
            digest.update(name.encode())
            digest.update((tensor.detach().float().cpu() + 0.0).numpy().tobytes())
    return digest.hexdigest()


class _Stop:
    """Set by SIGTERM: the loop ends at the next step, saves and exports."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True


def _encode(model: MagnitudeAutoencoder, audio: torch.Tensor) -> torch.Tensor:
    """The frozen encoder in float32 (no autocast): the latent inference computes."""
    with torch.no_grad(), torch.autocast(audio.device.type, enabled=False):
        return model.encode(audio.float())


def _target_log_magnitude(audio: torch.Tensor, n_fft: int, hop: int, frames: int) -> torch.Tensor:
    """The input's own STFT as the decoder predicts it: natural log (batch, channels, bins, frames)."""
    with torch.no_grad(), torch.autocast(audio.device.type, enabled=False):
        return torch.log(stft_magnitude(audio.float(), n_fft, hop)[..., :frames].clamp_min(1e-12))


def _training_device(config: AdversarialConfig) -> torch.device:
    """The device, the CPU threads and torch's seed; on CUDA TF32 off (the encoder's float32 latent: as
    inference computes it)."""
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    return device


def _read_banks(config: AdversarialConfig) -> dict[str, AudioBank]:
    if config.data is not None:
        return read_bundle_banks(config.data)
    return read_manifest(config.dataset, config.dataset_clips, config.dataset_clip_seconds, config.seed)


class _AdversarialTraining:
    """One run of `train`: the frozen encoder, the decoder (the generator), its EMA, the discriminators, both
    optimisers, the data and the run's files, built in the order their random draws have always been made
    (a resumed or repeated run draws the same)."""

    def __init__(self, config: AdversarialConfig) -> None:
        config.validate()
        self.config = config
        self.device = _training_device(config)
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out / "train_log.jsonl"
        self.state_path = self.out / "train_state.pt"
        self._build_models()
        self._load_data()
        self.step = self._resume()
        self.autocast = dict(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        self.export_path = Path(config.export or self.out / "autoencoder.safetensors")
        self.snapshot_path = self.export_path.with_name(self.export_path.stem + "_snapshot.safetensors") \
            if config.snapshot_minutes > 0 else None

    def _build_models(self) -> None:
        config, device = self.config, self.device
        self.model = load_autoencoder(config.init, device=device)  # fp16 file -> float32 model
        self.model.encoder.requires_grad_(False)
        self.init_digest = encoder_digest(self.model)
        self.mc = mc = self.model.config
        self.decoder = self.model.decoder.train()
        self.ema = copy.deepcopy(self.decoder).eval().requires_grad_(False)
        self.discriminator = MultiBandDiscriminator(mc.audio_channels, mc.decoder_n_fft, mc.sample_rate,
                                                    config.disc_channels).to(device)
        self.optimiser_g = torch.optim.AdamW(self.decoder.parameters(), lr=config.generator_lr, betas=(0.8, 0.99),
                                             weight_decay=0.0)
        self.optimiser_d = torch.optim.AdamW(self.discriminator.parameters(), lr=config.discriminator_lr,
                                             betas=(0.8, 0.99), weight_decay=0.0)
        self.reconstruction = DecoderMagnitudeLoss(mc.decoder_n_fft, mc.decoder_hop).to(device)

    def _load_data(self) -> None:
        """The banks, the fixed validation set (8 valid crops, the low reference tones) and the tone maker."""
        config, device, mc = self.config, self.device, self.mc
        loading = time.monotonic()
        banks = _read_banks(config)
        self.train_bank = banks["train"].to(device)
        self.segment = config.segment_latent_frames * mc.hop_frames
        self.frames = self.segment // mc.decoder_hop
        self.validation = {}
        if "valid" in banks:
            valid = banks["valid"]
            count = min(8, len(valid))
            self.validation["valid"] = valid.crops(torch.arange(count), torch.zeros(count, dtype=torch.long),
                                                   self.segment).to(device)
        self.validation["low_tones"] = torch.stack([reference_tone(f0, timbre, self.segment, device=device)
                                                    for f0, timbre in LOW_TONES])
        self.generator = torch.Generator(device=device).manual_seed(config.seed + 17)
        self.tones = ToneBatch(self.generator, mc.sample_rate, config.low_tone_fraction)
        self.tone_count = int(round(config.tone_fraction * config.batch_size))
        self.disc_weights = config.discriminator_weights()
        self.data_seconds = time.monotonic() - loading

    def _resume(self) -> int:
        if not self.state_path.exists():
            return 0
        state = torch.load(self.state_path, map_location=self.device, weights_only=False)
        self.decoder.load_state_dict(state["decoder"])
        self.ema.load_state_dict(state["ema"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimiser_g.load_state_dict(state["optimiser_g"])
        self.optimiser_d.load_state_dict(state["optimiser_d"])
        self.generator.set_state(state["data_generator"].cpu())  # a generator's state is a CPU byte tensor
        torch.set_rng_state(state["torch_rng"].cpu())
        step = int(state["step"])
        print(f"resumed from step {step}", flush=True)
        return step

    def _save_state(self) -> None:
        """Written atomically (a kill mid-write keeps the previous state)."""
        tmp = self.state_path.with_suffix(".tmp")
        config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()}
        torch.save({"decoder": self.decoder.state_dict(), "ema": self.ema.state_dict(),
                    "discriminator": self.discriminator.state_dict(), "optimiser_g": self.optimiser_g.state_dict(),
                    "optimiser_d": self.optimiser_d.state_dict(), "data_generator": self.generator.get_state(),
                    "torch_rng": torch.get_rng_state(), "step": self.step, "config": config}, tmp)
        tmp.replace(self.state_path)

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        """The EMA decoder on the validation set: log-magnitude and frequency-gradient L1, and the low tones'
        peak pitch (through the EMA and on the true magnitude)."""
        mc, record = self.mc, {}
        for name, audio in self.validation.items():
            latent = _encode(self.model, audio)
            predicted = self.ema.log_magnitude(latent).float()
            losses = self.reconstruction(audio, predicted)
            record[f"{name}_log_l1"] = round(losses["magnitude_log_l1"].item(), 4)
            record[f"{name}_frequency_gradient_l1"] = round(losses["frequency_gradient_l1"].item(), 4)
            if name == "low_tones":
                target = _target_log_magnitude(audio, mc.decoder_n_fft, mc.decoder_hop, predicted.shape[-1])
                for i, (f0, _) in enumerate(LOW_TONES):
                    record[f"peak_cents_{f0:g}"] = round(peak_pitch_cents(predicted[i], f0, mc.decoder_n_fft), 2)
                    record[f"peak_cents_{f0:g}_true"] = round(peak_pitch_cents(target[i], f0, mc.decoder_n_fft), 2)
        return record

    def _log_start(self) -> None:
        self._log({"step": 0, "event": "start", "device": str(self.device), "train_excerpts": len(self.train_bank),
                   "train_seconds": round(self.train_bank.seconds, 1), "data_load_seconds": round(self.data_seconds, 2),
                   "decoder_parameters": sum(p.numel() for p in self.decoder.parameters()),
                   "discriminator_parameters": sum(p.numel() for p in self.discriminator.parameters()),
                   "encoder_sha256": self.init_digest, **self._evaluate()})

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch (real crops, the first `tone_count` replaced by tones): audio, its target log-magnitude and
        the decoder's prediction from the frozen encoder's latent (float32)."""
        audio = self.train_bank.sample(self.config.batch_size, self.segment, self.generator)
        if self.tone_count:
            audio[:self.tone_count] = self.tones.sample(self.tone_count, self.segment)
        latent = _encode(self.model, audio)
        target = _target_log_magnitude(audio, self.mc.decoder_n_fft, self.mc.decoder_hop, self.frames)
        with torch.autocast(**self.autocast):
            predicted = self.decoder.log_magnitude(latent)
        return audio, target, predicted.float()

    def _discriminator_step(self, target: torch.Tensor, predicted: torch.Tensor) -> dict[str, Any]:
        """Real spectrograms -> real, the decoder's -> generated."""
        with torch.autocast(**self.autocast):
            real_judged = self.discriminator(target)
            fake_judged = self.discriminator(predicted.detach())
        loss_d, parts_d = discriminator_loss(real_judged, fake_judged, self.config.loss)
        grad_d = optimiser_step(loss_d, self.optimiser_d, self.discriminator.parameters(), self.step,
                                self.config.grad_clip)
        return {"loss_d": loss_d, "parts_d": parts_d, "grad_d": grad_d}

    def _adversarial_losses(self, target: torch.Tensor, predicted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's adversarial and feature-matching losses (the discriminators judge, not learn)."""
        self.discriminator.requires_grad_(False)
        with torch.autocast(**self.autocast):
            fake_judged = self.discriminator(predicted)
            with torch.no_grad():
                real_judged = self.discriminator(target)
        self.discriminator.requires_grad_(True)
        return (generator_loss(fake_judged, self.config.loss, self.disc_weights),
                feature_matching_loss(real_judged, fake_judged, self.disc_weights))

    def _generator_step(self, audio: torch.Tensor, target: torch.Tensor, predicted: torch.Tensor) -> dict[str, Any]:
        """The decoder: reconstruction, plus the adversarial terms after the discriminators' warm-up."""
        config = self.config
        rec = self.reconstruction(audio, predicted)
        rec_total = (rec["magnitude_log_l1"] + rec["magnitude_convergence"]
                     + config.frequency_gradient_weight * rec["frequency_gradient_l1"]
                     + config.time_gradient_weight * rec["time_gradient_l1"]
                     + config.peak_pitch_weight * rec["peak_pitch_cents"])
        total = config.rec_weight * rec_total
        adv = fm = None
        if self.step >= config.disc_warmup:
            adv, fm = self._adversarial_losses(target, predicted)
            total = total + config.adv_weight * adv + config.fm_weight * fm
        grad_g = optimiser_step(total, self.optimiser_g, self.decoder.parameters(), self.step, config.grad_clip)
        return {"total": total, "rec_total": rec_total, "rec": rec, "grad_g": grad_g, "adv": adv, "fm": fm}

    def _train_step(self) -> dict[str, Any]:
        """One discriminator, generator and EMA step; returns what the log reports (tensors, read when logged)."""
        audio, target, predicted = self._batch()
        numbers = self._discriminator_step(target, predicted)
        numbers |= self._generator_step(audio, target, predicted)
        update_ema(self.ema, self.decoder, min(self.config.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        return numbers

    def _log_step(self, numbers: dict[str, Any]) -> None:
        step, now = self.step, time.monotonic()
        record = {"step": step, "seconds_per_step": round((now - self.last_log) / max(1, step - self.last_step), 4),
                  "elapsed_s": round(now - self.started, 1), "generator": round(numbers["total"].item(), 4),
                  "reconstruction": round(numbers["rec_total"].item(), 4),
                  **{k: round(v.item(), 4) for k, v in numbers["rec"].items()},
                  "discriminator": round(numbers["loss_d"].item(), 4),
                  **{f"d_{k}": round(v, 4) for k, v in numbers["parts_d"].items()},
                  "grad_g": round(numbers["grad_g"], 3), "grad_d": round(numbers["grad_d"], 3)}
        if numbers["adv"] is not None:
            record |= {"adversarial": round(numbers["adv"].item(), 4),
                       "feature_matching": round(numbers["fm"].item(), 4)}
        if step % self.config.eval_every == 0:
            record |= self._evaluate()
        self._log(record)
        self.last_log, self.last_step = time.monotonic(), step

    def _snapshot(self) -> None:
        """Export the EMA once, part way (a hedge should the rest of the run go wrong)."""
        export(self.model, self.ema, self.snapshot_path, extra={"steps": self.step, "adversarial_fine_tune": True,
                                                                "snapshot": True, "init": str(self.config.init)})
        self._log({"step": self.step, "event": "snapshot", "path": str(self.snapshot_path),
                   "elapsed_s": round(time.monotonic() - self.started, 1), **self._evaluate()})
        self.snapshot_path = None

    def _after_step(self, numbers: dict[str, Any]) -> None:
        """The periodic jobs: log (and evaluate), checkpoint, the one snapshot."""
        config, step = self.config, self.step
        if step % config.log_every == 0 or step == 1:
            self._log_step(numbers)
        if step % config.checkpoint_every == 0:
            self._save_state()
        if self.snapshot_path is not None and time.monotonic() - self.started >= config.snapshot_minutes * 60.0:
            self._snapshot()

    def _running(self, stop: _Stop) -> bool:
        budget = self.config.minutes * 60.0
        return self.step < self.config.steps and not stop.requested \
            and not (budget and time.monotonic() - self.started >= budget)

    def _loop(self) -> float:
        """Train until `steps`, the `minutes` budget or SIGTERM; returns the loop's wall seconds."""
        stop = _Stop()
        previous_handler = signal.signal(signal.SIGTERM, stop) if _main_thread() else None
        self.started = time.monotonic()
        self.last_log, self.last_step = self.started, self.step
        try:
            while self._running(stop):
                self._after_step(self._train_step())
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
        return time.monotonic() - self.started

    def _export(self, seconds: float) -> None:
        """The EMA decoder with the untouched encoder; refuses (after logging) an export whose encoder changed."""
        config = self.config
        export(self.model, self.ema, self.export_path, extra={
            "steps": self.step, "adversarial_fine_tune": True, "init": str(config.init),
            "data": str(config.data or config.dataset), "seconds": round(seconds, 1)})
        same_encoder = encoder_digest(load_autoencoder(self.export_path)) == self.init_digest
        self._log({"step": self.step, "event": "export", "path": str(self.export_path),
                   "train_seconds": round(seconds, 1), "encoder_unchanged": same_encoder, **self._evaluate()})
        if not same_encoder:
            raise RuntimeError("the exported encoder differs from the initial one: "
                               "the diffusion model's latent changed")

    def train(self) -> dict[str, Any]:
        if self.step == 0:
            self._log_start()
        seconds = self._loop()
        self._save_state()
        self._export(seconds)
        return {"steps": self.step, "seconds": seconds, "export": self.export_path}


def train(config: AdversarialConfig) -> dict[str, Any]:
    """Train (or resume) the run in `config.out_dir`, then export; returns its steps, seconds and export path."""
    return _AdversarialTraining(config).train()


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def export(model: MagnitudeAutoencoder, decoder: nn.Module, path: Path, extra: dict[str, Any]) -> None:
    """Write `model` (its encoder and latent statistics as they are) with `decoder`'s weights as the
    decoder, in the shipped format (fp16, latent statistics fp32, config and `extra` in the metadata)."""
    shipped = copy.deepcopy(model).cpu().float()
    shipped.decoder.load_state_dict({k: v.detach().cpu().float() for k, v in decoder.state_dict().items()})
    save_autoencoder(shipped.eval(), path, extra=extra)


if __name__ == "__main__":  # the command line lives in engine/codec/adversarial_cli.py
    from engine.codec.adversarial_cli import main

    sys.exit(main())
