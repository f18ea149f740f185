"""The adversarial fine-tune's real audio (engine/codec/adversarial.py): excerpts held as one tensor on the
training device (`AudioBank`), read from a bundle written by scripts/device/pack_codec_data.py (Ogg Vorbis
shards + index.json, engine/codec/bundle.py) or straight from a dataset manifest (FLAC, soundfile)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from engine.codec.bundle import read_bundle


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
