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
scripts/device/pack_codec_data.py: Ogg Vorbis shards + index.json; or a dataset manifest read directly) and
random harmonic tones made in torch (engine/codec/synthetic_torch.py), a `tone_fraction` of every batch, a
`low_tone_fraction` of them rooted at 40-200 Hz.

Runs on CPU (tests, smoke runs) and CUDA (bf16 autocast for the decoder and the discriminators; the losses in
float32). Keeps an EMA of the decoder. Resumable: OUT/train_state.pt (decoder, EMA, discriminators, both
optimisers, step, the data generator's state) is rewritten atomically every `checkpoint_every` steps and
at the end; rerunning the command continues from it. Stops after `steps` or `minutes` of training (wall
clock, this process) or on SIGTERM, then writes the state and exports the EMA decoder with the untouched
encoder as an fp16 safetensors file in the shipped format (engine.codec.checkpoint.save_autoencoder).
Log: OUT/train_log.jsonl, one JSON object per `log_every` steps (+ validation every `eval_every`).

    python -m engine.codec.adversarial --data BUNDLE --out RUN --minutes 8 [--init engine/weights/autoencoder.safetensors]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.codec.bundle import read_bundle
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder, save_autoencoder
from engine.codec.discriminator import (LOSS_KINDS, MultiBandDiscriminator, discriminator_loss, feature_matching_loss,
                                        generator_loss)
from engine.codec.model import MagnitudeAutoencoder
from engine.codec.spectral import DecoderMagnitudeLoss, stft_magnitude
from engine.codec.synthetic_torch import LOW_TONES, ToneBatch, reference_tone


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


# ------------------------------------------------------------------------------------------------ data

class AudioBank:
    """Excerpts of real audio as one (channels, total) float32 tensor plus each excerpt's start and length;
    `sample` draws random crops of any length (shorter excerpts are zero-padded) with a random gain."""

    def __init__(self, audio: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> None:
        if audio.ndim != 2 or starts.shape != lengths.shape or starts.numel() == 0:
            raise ValueError("AudioBank needs audio (channels, total) and one start and length per excerpt")
        self.audio, self.starts, self.lengths = audio, starts.long(), lengths.long()

    @classmethod
    def from_excerpts(cls, excerpts: list[np.ndarray | torch.Tensor]) -> "AudioBank":
        """From a list of (channels, samples) arrays."""
        tensors = [torch.as_tensor(np.ascontiguousarray(e), dtype=torch.float32) for e in excerpts]
        lengths = torch.tensor([t.shape[1] for t in tensors])
        starts = torch.cumsum(lengths, 0) - lengths
        return cls(torch.cat(tensors, dim=1), starts, lengths)

    def __len__(self) -> int:
        return self.starts.numel()

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / 44100.0

    def to(self, device: torch.device) -> "AudioBank":
        return AudioBank(self.audio.to(device), self.starts.to(device), self.lengths.to(device))

    def crops(self, which: torch.Tensor, offsets: torch.Tensor, samples: int) -> torch.Tensor:
        """Excerpts `which` (n,) from `offsets` (n,) -> (n, channels, samples), zero past an excerpt's end."""
        positions = torch.arange(samples, device=self.audio.device)[None, :]
        inside = positions < (self.lengths[which] - offsets)[:, None]
        index = (self.starts[which] + offsets)[:, None] + positions
        index = index.clamp(max=self.audio.shape[1] - 1)
        return self.audio[:, index].permute(1, 0, 2) * inside[:, None, :]

    def sample(self, count: int, samples: int, generator: torch.Generator,
               gain_db: tuple[float, float] = (-10.0, 6.0)) -> torch.Tensor:
        """`count` random crops (count, channels, samples) at a random gain in `gain_db` (the trainer's
        level augmentation, as engine/codec/train.py)."""
        device = self.audio.device
        which = torch.randint(0, len(self), (count,), generator=generator, device=device)
        room = (self.lengths[which] - samples + 1).clamp_min(1)
        offsets = (torch.rand(count, generator=generator, device=device) * room).long().clamp(max=room - 1)
        gain = gain_db[0] + (gain_db[1] - gain_db[0]) * torch.rand((count, 1, 1), generator=generator, device=device)
        return self.crops(which, offsets, samples) * 10 ** (gain / 20)


def read_bundle_banks(folder: Path) -> dict[str, AudioBank]:
    """A bundle from scripts/device/pack_codec_data.py (engine/codec/bundle.py) -> {split: AudioBank}."""
    return {split: AudioBank.from_excerpts(pieces) for split, pieces in read_bundle(folder).items()}


def read_manifest(dataset: Path, clips: int, seconds: float, seed: int,
                  exclude_soundfonts: tuple[str, ...] = ("timgm6mb",)) -> dict[str, AudioBank]:
    """Random excerpts of `seconds` from up to `clips` train-split clips (and 8 valid-split clips) of a
    dataset manifest, read with soundfile here (a CPU run; the device reads bundles)."""
    import soundfile

    rows = [json.loads(line) for line in (Path(dataset) / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if not any(s in str(r.get("soundfont", "")).lower() for s in exclude_soundfonts)]
    rng = np.random.default_rng(seed)
    banks = {}
    for split, count in (("train", clips), ("valid", 8)):
        chosen = [r for r in rows if r["split"] == split]
        chosen = [chosen[i] for i in rng.permutation(len(chosen))[:count]]
        excerpts = []
        for row in chosen:
            path = str(Path(dataset) / row["path"])
            total = soundfile.info(path).frames
            want = int(seconds * 44100)
            start = int(rng.integers(0, max(1, total - want))) if split == "train" else 0
            audio, _ = soundfile.read(path, frames=want, start=start, dtype="float32", always_2d=True)
            excerpts.append(audio.T)
        if excerpts:
            banks[split] = AudioBank.from_excerpts(excerpts)
    if "train" not in banks:
        raise ValueError(f"{dataset}: no train-split clips")
    return banks


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


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param, 1.0 - decay)


def train(config: AdversarialConfig) -> dict[str, Any]:
    config.validate()
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the encoder's float32 latent: as inference computes it
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.jsonl"
    state_path = out / "train_state.pt"

    model = load_autoencoder(config.init, device=device)  # fp16 file -> float32 model
    model.encoder.requires_grad_(False)
    init_digest = encoder_digest(model)
    mc = model.config
    decoder = model.decoder.train()
    ema = copy.deepcopy(decoder).eval().requires_grad_(False)
    discriminator = MultiBandDiscriminator(mc.audio_channels, mc.decoder_n_fft, mc.sample_rate,
                                           config.disc_channels).to(device)
    optimiser_g = torch.optim.AdamW(decoder.parameters(), lr=config.generator_lr, betas=(0.8, 0.99), weight_decay=0.0)
    optimiser_d = torch.optim.AdamW(discriminator.parameters(), lr=config.discriminator_lr, betas=(0.8, 0.99),
                                    weight_decay=0.0)
    reconstruction = DecoderMagnitudeLoss(mc.decoder_n_fft, mc.decoder_hop).to(device)

    loading = time.monotonic()
    if config.data is not None:
        banks = read_bundle_banks(config.data)
    else:
        banks = read_manifest(config.dataset, config.dataset_clips, config.dataset_clip_seconds, config.seed)
    train_bank = banks["train"].to(device)
    segment = config.segment_latent_frames * mc.hop_frames
    frames = segment // mc.decoder_hop
    validation = {}
    if "valid" in banks:
        valid = banks["valid"]
        count = min(8, len(valid))
        validation["valid"] = valid.crops(torch.arange(count), torch.zeros(count, dtype=torch.long), segment).to(device)
    validation["low_tones"] = torch.stack([reference_tone(f0, timbre, segment, device=device)
                                           for f0, timbre in LOW_TONES])
    generator = torch.Generator(device=device).manual_seed(config.seed + 17)
    tones = ToneBatch(generator, mc.sample_rate, config.low_tone_fraction)
    tone_count = int(round(config.tone_fraction * config.batch_size))
    disc_weights = config.discriminator_weights()
    data_seconds = time.monotonic() - loading

    step = 0
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        decoder.load_state_dict(state["decoder"])
        ema.load_state_dict(state["ema"])
        discriminator.load_state_dict(state["discriminator"])
        optimiser_g.load_state_dict(state["optimiser_g"])
        optimiser_d.load_state_dict(state["optimiser_d"])
        generator.set_state(state["data_generator"].cpu())  # a generator's state is a CPU byte tensor
        torch.set_rng_state(state["torch_rng"].cpu())
        step = int(state["step"])
        print(f"resumed from step {step}", flush=True)

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"decoder": decoder.state_dict(), "ema": ema.state_dict(),
                    "discriminator": discriminator.state_dict(), "optimiser_g": optimiser_g.state_dict(),
                    "optimiser_d": optimiser_d.state_dict(), "data_generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(), "step": step,
                    "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}}, tmp)
        tmp.replace(state_path)

    def log(record: dict[str, Any]) -> None:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        record: dict[str, float] = {}
        for name, audio in validation.items():
            latent = _encode(model, audio)
            predicted = ema.log_magnitude(latent).float()
            losses = reconstruction(audio, predicted)
            record[f"{name}_log_l1"] = round(losses["magnitude_log_l1"].item(), 4)
            record[f"{name}_frequency_gradient_l1"] = round(losses["frequency_gradient_l1"].item(), 4)
            if name == "low_tones":
                target = _target_log_magnitude(audio, mc.decoder_n_fft, mc.decoder_hop, predicted.shape[-1])
                for i, (f0, _) in enumerate(LOW_TONES):
                    record[f"peak_cents_{f0:g}"] = round(peak_pitch_cents(predicted[i], f0, mc.decoder_n_fft), 2)
                    record[f"peak_cents_{f0:g}_true"] = round(peak_pitch_cents(target[i], f0, mc.decoder_n_fft), 2)
        return record

    if step == 0:
        log({"step": 0, "event": "start", "device": str(device), "train_excerpts": len(train_bank),
             "train_seconds": round(train_bank.seconds, 1), "data_load_seconds": round(data_seconds, 2),
             "decoder_parameters": sum(p.numel() for p in decoder.parameters()),
             "discriminator_parameters": sum(p.numel() for p in discriminator.parameters()),
             "encoder_sha256": init_digest, **evaluate()})

    stop = _Stop()
    previous_handler = signal.signal(signal.SIGTERM, stop) if _main_thread() else None
    started = time.monotonic()
    last_log, last_step = started, step
    budget = config.minutes * 60.0
    export_path = Path(config.export or out / "autoencoder.safetensors")
    snapshot_path = export_path.with_name(export_path.stem + "_snapshot.safetensors") \
        if config.snapshot_minutes > 0 else None
    try:
        while step < config.steps and not stop.requested and not (budget and time.monotonic() - started >= budget):
            audio = train_bank.sample(config.batch_size, segment, generator)
            if tone_count:
                audio[:tone_count] = tones.sample(tone_count, segment)
            latent = _encode(model, audio)
            target = _target_log_magnitude(audio, mc.decoder_n_fft, mc.decoder_hop, frames)
            with torch.autocast(**autocast):
                predicted = decoder.log_magnitude(latent)
            predicted = predicted.float()

            # discriminators: real spectrograms -> real, the decoder's -> generated
            with torch.autocast(**autocast):
                real_judged = discriminator(target)
                fake_judged = discriminator(predicted.detach())
            loss_d, parts_d = discriminator_loss(real_judged, fake_judged, config.loss)
            optimiser_d.zero_grad(set_to_none=True)
            loss_d.backward()
            grad_d = float(nn.utils.clip_grad_norm_(discriminator.parameters(), config.grad_clip))
            optimiser_d.step()

            # generator (the decoder)
            rec = reconstruction(audio, predicted)
            rec_total = (rec["magnitude_log_l1"] + rec["magnitude_convergence"]
                         + config.frequency_gradient_weight * rec["frequency_gradient_l1"]
                         + config.time_gradient_weight * rec["time_gradient_l1"])
            total = config.rec_weight * rec_total
            adversarial = step >= config.disc_warmup
            if adversarial:
                discriminator.requires_grad_(False)
                with torch.autocast(**autocast):
                    fake_judged = discriminator(predicted)
                    with torch.no_grad():
                        real_judged = discriminator(target)
                discriminator.requires_grad_(True)
                adv = generator_loss(fake_judged, config.loss, disc_weights)
                fm = feature_matching_loss(real_judged, fake_judged, disc_weights)
                total = total + config.adv_weight * adv + config.fm_weight * fm
            optimiser_g.zero_grad(set_to_none=True)
            total.backward()
            grad_g = float(nn.utils.clip_grad_norm_(decoder.parameters(), config.grad_clip))
            if not math.isfinite(total.item()) or not math.isfinite(loss_d.item()):
                raise FloatingPointError(f"non-finite loss at step {step}; resume from the last checkpoint")
            optimiser_g.step()
            _update_ema(ema, decoder, min(config.ema_decay, (1 + step) / (10 + step)))
            step += 1

            if step % config.log_every == 0 or step == 1:
                now = time.monotonic()
                record = {"step": step, "seconds_per_step": round((now - last_log) / max(1, step - last_step), 4),
                          "elapsed_s": round(now - started, 1), "generator": round(total.item(), 4),
                          "reconstruction": round(rec_total.item(), 4),
                          **{k: round(v.item(), 4) for k, v in rec.items()},
                          "discriminator": round(loss_d.item(), 4), **{f"d_{k}": round(v, 4) for k, v in parts_d.items()},
                          "grad_g": round(grad_g, 3), "grad_d": round(grad_d, 3)}
                if adversarial:
                    record |= {"adversarial": round(adv.item(), 4), "feature_matching": round(fm.item(), 4)}
                if step % config.eval_every == 0:
                    record |= evaluate()
                log(record)
                last_log, last_step = time.monotonic(), step
            if step % config.checkpoint_every == 0:
                save_state()
            if snapshot_path is not None and time.monotonic() - started >= config.snapshot_minutes * 60.0:
                export(model, ema, snapshot_path, extra={"steps": step, "adversarial_fine_tune": True, "snapshot": True,
                                                         "init": str(config.init)})
                log({"step": step, "event": "snapshot", "path": str(snapshot_path),
                     "elapsed_s": round(time.monotonic() - started, 1), **evaluate()})
                snapshot_path = None
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    seconds = time.monotonic() - started
    save_state()
    export(model, ema, export_path, extra={
        "steps": step, "adversarial_fine_tune": True, "init": str(config.init),
        "data": str(config.data or config.dataset), "seconds": round(seconds, 1)})
    exported = load_autoencoder(export_path)
    same_encoder = encoder_digest(exported) == init_digest
    log({"step": step, "event": "export", "path": str(export_path), "train_seconds": round(seconds, 1),
         "encoder_unchanged": same_encoder, **evaluate()})
    if not same_encoder:
        raise RuntimeError("the exported encoder differs from the initial one: the diffusion model's latent changed")
    return {"steps": step, "seconds": seconds, "export": export_path}


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def export(model: MagnitudeAutoencoder, decoder: nn.Module, path: Path, extra: dict[str, Any]) -> None:
    """Write `model` (its encoder and latent statistics as they are) with `decoder`'s weights as the
    decoder, in the shipped format (fp16, latent statistics fp32, config and `extra` in the metadata)."""
    shipped = copy.deepcopy(model).cpu().float()
    shipped.decoder.load_state_dict({k: v.detach().cpu().float() for k, v in decoder.state_dict().items()})
    save_autoencoder(shipped.eval(), path, extra=extra)


# ------------------------------------------------------------------------------------------------- CLI

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.codec.adversarial", description=__doc__.split("\n\n")[0])
    defaults = AdversarialConfig(out_dir=Path("."))
    for field in fields(AdversarialConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.name == "out_dir":
            parser.add_argument("--out", dest="out_dir", type=Path, required=True, help="run folder (state, log, export)")
        elif field.name in ("data", "dataset", "init", "export"):
            parser.add_argument(flag, type=Path, default=default, help=f"default {default}")
        elif field.name in ("loss",):
            parser.add_argument(flag, choices=LOSS_KINDS, default=default)
        elif field.name == "device":
            parser.add_argument(flag, default=default, help="cpu or cuda (default: cuda when there is one)")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default {default}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = AdversarialConfig(**vars(args))
    try:
        config.validate()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = train(config)
    print(json.dumps({k: str(v) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
