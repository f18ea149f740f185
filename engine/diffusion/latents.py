"""The latent cache: the dataset encoded once by the shipped autoencoder, ready for diffusion training.

One safetensors file holds, for every clip of the manifest (all splits):
  latents        (total_frames, latent_channels) fp16, normalised with the autoencoder's latent mean/std
  descriptors    (total_frames, 4) fp32 (loudness_db, centroid_hz, flatness, onset_density), aligned
                 one-to-one with latent frames (both at hop 1024)
  chroma         (total_frames, 12) fp16 the score's pitch-class energy (engine/dataset/chroma.py), frame for
                 frame; only when every clip's descriptors file has it (datasets built before it lack it)
  clip_offsets   (clips + 1,) int64 start frame of each clip in the frame arrays above
  tempo_bpm, key (0..11, engine.vocabulary.tonic_index), scale (0..3, scale_index), beats_per_bar, seconds_start, seconds_total, split (0 train,
                 1 valid, 2 test), style (index into the metadata's style list): one per clip
  tokens         (total_tokens, 384) fp16 MiniLM token embeddings of every caption, concatenated
  token_offsets  (captions + 1,) int64; pooled (captions, 384) fp16; caption_clip (captions,) int64

Each clip gets its manifest caption plus `extra_captions` more drawn from the same caption generator
(field form and free templates, never the held-out paraphrase templates), so the text encoder's input
varies while the evaluation prompts stay unseen. The metadata records the autoencoder file and the
dataset it came from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from safetensors.torch import load_file, save_file

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder
from engine.codec.model import MagnitudeAutoencoder
from engine.dataset import captions
from engine.diffusion.controls import CHROMA_CHANNELS
from engine.diffusion.text import PromptEncoder
from engine.vocabulary import DESCRIPTOR_MODEL_NAMES, KEY_TONICS, scale_index, tonic_index

SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")


@dataclass
class LatentCache:
    """The cache file in memory (see the module docstring for the arrays)."""

    arrays: dict[str, torch.Tensor]
    metadata: dict[str, object]

    @property
    def clip_count(self) -> int:
        return int(self.arrays["clip_offsets"].shape[0] - 1)

    def clips_in_split(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.arrays["split"].numpy() == SPLIT_NAMES.index(split))

    def clip_frames(self, clip: int) -> int:
        offsets = self.arrays["clip_offsets"]
        return int(offsets[clip + 1] - offsets[clip])


def load_latent_cache(path: str | Path) -> LatentCache:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no latent cache; build it with `cascade train diffusion --build-cache`")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = json.loads(handle.metadata().get("cache", "{}"))
    return LatentCache(arrays=load_file(str(path)), metadata=metadata)


def _facts(row: dict) -> captions.CaptionFacts:
    return captions.CaptionFacts(
        style=row["style"], tempo_bpm=float(row["tempo"]), key_tonic=KEY_TONICS[tonic_index(row["key"])],
        scale=row["scale"], instruments=tuple(row["instruments"]), mood=row["mood"], energy=row["energy"],
        effects=tuple(row["effects"]), beats_per_bar=int(row["beats_per_bar"]))


def build_latent_cache(dataset: str | Path, out_path: str | Path, autoencoder_path: str | Path = DEFAULT_WEIGHTS,
                       extra_captions: int = 3, seed: int = 0, limit_clips: int | None = None,
                       text_batch: int = 64, log: bool = True) -> Path:
    """Encode every clip of `dataset` and write the cache to `out_path` (atomically)."""
    dataset, out_path = Path(dataset), Path(out_path)
    rows = manifest_rows(dataset, limit_clips)
    autoencoder = load_autoencoder(autoencoder_path)
    started = time.monotonic()
    latents: list[np.ndarray] = []
    descriptor_frames: list[np.ndarray] = []
    chroma_frames: list[np.ndarray | None] = []
    texts: list[str] = []
    caption_clip: list[int] = []
    for clip, row in enumerate(rows):
        latent, curves, chroma = _encode_clip(dataset, row, autoencoder)
        latents.append(latent)
        descriptor_frames.append(curves)
        chroma_frames.append(chroma)
        for text in clip_captions(row, clip, seed, extra_captions):
            texts.append(text)
            caption_clip.append(clip)
        if log and (clip + 1) % 200 == 0:
            print(f"encoded {clip + 1}/{len(rows)} clips ({time.monotonic() - started:.0f} s)", flush=True)
    text_arrays = _encode_captions(texts, text_batch)
    if log:
        print(f"encoded {len(texts)} captions ({time.monotonic() - started:.0f} s)", flush=True)
    styles = sorted({row["style"] for row in rows})
    arrays = {**_clip_arrays(rows, styles, latents, descriptor_frames), **text_arrays,
              **_chroma_array(dataset, chroma_frames, log), "caption_clip": torch.tensor(caption_clip, dtype=torch.int64)}
    metadata = {"dataset": str(dataset), "autoencoder": str(autoencoder_path),
                "hop_frames": autoencoder.config.hop_frames, "sample_rate": autoencoder.config.sample_rate, "styles": styles,
                "clip_ids": [r["clip_id"] for r in rows], "captions_per_clip": 1 + extra_captions, "seed": seed}
    write_cache(out_path, arrays, metadata)
    if log:
        print(f"wrote {out_path} ({out_path.stat().st_size / 2**20:.0f} MiB, {time.monotonic() - started:.0f} s)")
    return out_path


def manifest_rows(dataset: Path, limit_clips: int | None) -> list[dict]:
    rows = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    if limit_clips is not None:
        rows = rows[:limit_clips]
    if not rows:
        raise ValueError(f"{dataset}: the manifest lists no clips")
    return rows


def _encode_clip(dataset: Path, row: dict, autoencoder: MagnitudeAutoencoder
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One clip's normalised latent (frames, latent_channels) fp16, its descriptor curves (frames, 4) fp32 and
    its score chroma (frames, 12) fp16 or None where the descriptors file has none, frame for frame (the
    audio's tail under one latent frame is dropped)."""
    hop = autoencoder.config.hop_frames
    audio, sample_rate = soundfile.read(dataset / row["path"], dtype="float32", always_2d=True)
    if sample_rate != autoencoder.config.sample_rate:
        raise ValueError(f"{row['path']}: {sample_rate} Hz, the autoencoder needs {autoencoder.config.sample_rate}")
    frames = audio.shape[0] // hop
    with torch.no_grad():
        wave = torch.from_numpy(np.ascontiguousarray(audio[:frames * hop].T))[None]
        latent = autoencoder.normalise(autoencoder.encode(wave))[0]
    stored = np.load(dataset / row["descriptors"])
    curves = np.stack([stored[name].astype(np.float32)[:frames] for name in DESCRIPTOR_MODEL_NAMES], axis=1)
    if curves.shape[0] != frames:
        raise ValueError(f"{row['descriptors']}: {curves.shape[0]} descriptor frames, {frames} latent frames")
    chroma = None
    if "chroma" in stored:
        chroma = stored["chroma"].astype(np.float16)[:frames]
        if chroma.shape != (frames, CHROMA_CHANNELS):
            raise ValueError(f"{row['descriptors']}: chroma of shape {chroma.shape}, {frames} latent frames")
    return latent.T.numpy().astype(np.float16), curves, chroma


def _chroma_array(dataset: Path, chroma_frames: list[np.ndarray | None], log: bool) -> dict[str, torch.Tensor]:
    """{"chroma": (total_frames, 12) fp16} when every clip has its score chroma, else {} (said when `log`)."""
    missing = sum(chroma is None for chroma in chroma_frames)
    if missing:
        if log:
            print(f"{dataset}: {missing} of {len(chroma_frames)} clips have no chroma: the cache holds none, so "
                  f"it cannot train the harmony control (rebuild the dataset with `cascade dataset build`)")
        return {}
    return {"chroma": torch.from_numpy(np.concatenate(chroma_frames))}  # type: ignore[arg-type]


def dataset_has_chroma(dataset: str | Path) -> bool:
    """Whether the dataset's first clip's descriptors file holds the score's chroma (a build since chroma was
    added stores it for every clip): checked before a harmony run spends minutes building a cache."""
    rows = manifest_rows(Path(dataset), 1)
    with np.load(Path(dataset) / rows[0]["descriptors"]) as stored:
        return "chroma" in stored


class MissingChromaError(ValueError):
    """A harmony run asked of a cache without the score's chroma (its dataset was built before chroma)."""


def require_chroma(cache: LatentCache, cache_path: str | Path | None = None) -> torch.Tensor:
    """The cache's chroma (total_frames, 12), or a MissingChromaError naming the dataset and what to do."""
    if "chroma" in cache.arrays:
        return cache.arrays["chroma"]
    dataset = cache.metadata.get("dataset", "the dataset")
    where = f"the latent cache {cache_path}" if cache_path is not None else "this latent cache"
    raise MissingChromaError(f"the harmony control trains on the score's chroma, and {where} (from {dataset}) has none: "
                     f"{dataset} was built before chroma was stored. Rebuild it with `cascade dataset build`, then "
                     f"build a new cache from it (`cascade train diffusion --cache NEW.safetensors --dataset DIR`), "
                     f"or train without --harmony")


def clip_captions(row: dict, clip: int, seed: int, extra_captions: int) -> list[str]:
    """The manifest caption and `extra_captions` generated ones (seeded by clip), repeats dropped."""
    rng = np.random.default_rng([seed, clip, 11])
    clip_texts = [row["caption"]]
    for _ in range(extra_captions):
        clip_texts.append(captions.make_caption(_facts(row), rng))
    return list(dict.fromkeys(clip_texts))


def _encode_captions(texts: list[str], text_batch: int) -> dict[str, torch.Tensor]:
    """tokens (total_tokens, 384) fp16, token_offsets (captions + 1,) and pooled (captions, 384) fp16."""
    encoder = PromptEncoder()
    token_chunks: list[torch.Tensor] = []
    token_lengths: list[int] = []
    pooled: list[torch.Tensor] = []
    for start in range(0, len(texts), text_batch):
        tokens, mask, pooled_batch = encoder.encode_batch(texts[start:start + text_batch])
        for row_tokens, row_mask in zip(tokens, mask):
            token_chunks.append(row_tokens[row_mask].half())
            token_lengths.append(int(row_mask.sum()))
        pooled.append(pooled_batch.half())
        encoder.cache_clear()
    return {"tokens": torch.cat(token_chunks),
            "token_offsets": torch.tensor(np.concatenate([[0], np.cumsum(token_lengths)]), dtype=torch.int64),
            "pooled": torch.cat(pooled)}


def _clip_arrays(rows: list[dict], styles: list[str], latents: list[np.ndarray],
                 descriptor_frames: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """The frame arrays (latents, descriptors, clip_offsets) and the per-clip facts (see the module docstring)."""
    lengths = [x.shape[0] for x in latents]
    return {
        "latents": torch.from_numpy(np.concatenate(latents)),
        "descriptors": torch.from_numpy(np.concatenate(descriptor_frames)),
        "clip_offsets": torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int64),
        "tempo_bpm": torch.tensor([float(r["tempo"]) for r in rows], dtype=torch.float32),
        "key": torch.tensor([tonic_index(r["key"]) for r in rows], dtype=torch.int64),
        "scale": torch.tensor([scale_index(r["scale"]) for r in rows], dtype=torch.int64),
        "beats_per_bar": torch.tensor([int(r["beats_per_bar"]) for r in rows], dtype=torch.int64),
        "seconds_start": torch.tensor([float(r["seconds_start"]) for r in rows], dtype=torch.float32),
        "seconds_total": torch.tensor([float(r["seconds_total"]) for r in rows], dtype=torch.float32),
        "split": torch.tensor([SPLIT_NAMES.index(r["split"]) for r in rows], dtype=torch.int64),
        "style": torch.tensor([styles.index(r["style"]) for r in rows], dtype=torch.int64),
    }


def write_cache(out_path: Path, arrays: dict[str, torch.Tensor], metadata: dict[str, object]) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in arrays.items()}, str(temporary), metadata={"cache": json.dumps(metadata)})
    temporary.replace(out_path)
