"""A latent cache packed small enough to travel to a machine that cannot build it, and unpacked there.

The 40-hour cache (engine/diffusion/latents.py) is 2.5 GB, 1.8 GB of it the captions' MiniLM token embeddings, and
a device call carries 64 MiB. What travels instead, in parts of `part_mib`:
  latents        (frames, C) as uint8 per channel of asinh(x / the channel's std) (finer steps where most values
                 are), stored as the frame-to-frame difference mod 256 (neighbouring frames are alike), xz
  descriptors    (frames, 4) uint8 per channel of their normalised form (controls.normalise_descriptors: log
                 centroid and flatness), what training reads; xz
  chroma         (frames, 12) uint8 per channel, xz (the chroma is mostly silence: ~0.02 of its fp16 bytes)
  caption ids    (total_tokens,) uint16 word-piece ids of every caption, renumbered to the pieces the captions use
  text model     MiniLM's weights in fp16 with only those pieces' rows of its word table (~24 MB instead of 87)
  the per-clip and per-caption arrays as they are, and the cache's metadata.
Unpacking rebuilds a cache file the trainer reads as it reads a built one: the uint8 arrays dequantised (the
40-hour cache's latents within 0.008 std rms), the token embeddings and pooled vectors recomputed by the same
BERT forward pass (engine/diffusion/text.py) over the fp16 weights (a few 1e-3 off the fp32 model's; the cache
itself stores them in fp16).

The captions are not in the cache, only their embeddings: packing regenerates them from the dataset manifest
exactly as the cache build drew them (`latents.clip_captions`) and refuses if any caption's word-piece count
differs from the cache's.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

PACK_FORMAT = 1
# per-channel uint8 arrays of the frame axis; latents also frame-differenced
_QUANTISED = ("latents", "descriptors", "chroma")
_DIFFERENCED = ("latents",)
# quantised as asinh(x / std) per channel: steps of ~0.02 std near 0, coarser in the rare tails (half the rms error
# of a uniform uint8 over the whole range: 0.008 against 0.016 std on the 40-hour cache's latents)
_COMPANDED = ("latents",)
_PARTS_INDEX = "parts.json"


@dataclass(frozen=True)
class PackReport:
    """What a pack holds and what packing cost in precision."""

    parts: tuple[Path, ...]
    packed_mib: float
    cache_mib: float
    clips: int
    captions: int
    max_error: dict[str, float]  # per quantised array, the largest |dequantised - original| over all values
    rms_error: dict[str, float]
    vocabulary_pieces: int


def _quantise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, C) float -> uint8 codes and each channel's lo, step (values = lo + code * step)."""
    values = values.astype(np.float32)
    lo, hi = values.min(axis=0), values.max(axis=0)
    step = np.where(hi > lo, (hi - lo) / 255.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint((values - lo) / step), 0, 255).astype(np.uint8)
    return codes, lo.astype(np.float32), step


def _dequantise(codes: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
    return lo + codes.astype(np.float32) * step


def _xz(data: bytes) -> bytes:
    return lzma.compress(data, preset=6)


def caption_ids(cache_path: str | Path, dataset: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Every caption of the cache regenerated from the dataset and tokenised as the cache build did: the word-piece
    ids concatenated (total_tokens,) int64 and each caption's count (captions,). Raises ValueError where a count
    differs from the cache's token_offsets (the captions or the tokenizer are not the ones the cache was built with)."""
    from engine.diffusion.latents import clip_captions, manifest_rows
    from engine.diffusion.text import PromptEncoder

    with safe_open(str(cache_path), framework="pt") as handle:
        metadata = json.loads(handle.metadata().get("cache", "{}"))
        offsets = handle.get_tensor("token_offsets").numpy()
    rows = manifest_rows(Path(dataset), None)
    if [r["clip_id"] for r in rows] != metadata.get("clip_ids", [r["clip_id"] for r in rows]):
        raise ValueError(f"{dataset}'s manifest lists other clips than the cache {cache_path} was built from")
    extra, seed = int(metadata.get("captions_per_clip", 4)) - 1, int(metadata.get("seed", 0))
    encoder = PromptEncoder()
    pieces: list[list[int]] = []
    for clip, row in enumerate(rows):
        pieces.extend(encoder.tokenize(text) for text in clip_captions(row, clip, seed, extra))
    counts = np.array([len(p) for p in pieces], dtype=np.int64)
    if len(counts) != len(offsets) - 1 or not np.array_equal(counts, np.diff(offsets)):
        raise ValueError(f"the captions regenerated from {dataset} do not match the cache {cache_path} "
                         f"({len(counts)} captions against {len(offsets) - 1}, or their word-piece counts differ)")
    return np.concatenate([np.asarray(p, dtype=np.int64) for p in pieces]), counts


def _text_model_files(used_ids: np.ndarray) -> dict[str, bytes]:
    """MiniLM's folder files with the word table cut to `used_ids` and every weight in fp16."""
    from safetensors.torch import load_file

    from engine.text_model import model_dir

    folder = model_dir()
    weights = load_file(str(folder / "model.safetensors"))
    weights = {k: v for k, v in weights.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
    word_table = "embeddings.word_embeddings.weight"
    weights[word_table] = weights[word_table][torch.from_numpy(used_ids)]
    weights = {k: v.half().contiguous() for k, v in weights.items()}
    return {"text_model/config.json": (folder / "config.json").read_bytes(),
            "text_model/1_Pooling/config.json": (folder / "1_Pooling" / "config.json").read_bytes(),
            "text_model/model.safetensors": save_safetensors_bytes(weights)}


def _pack_frame_arrays(cache_path: Path, header: dict, members: dict[str, bytes],
                       log: bool) -> tuple[dict[str, float], dict[str, float]]:
    """The cache's arrays into `members` (quantised ones as xz, the small ones as safetensors), their shapes and
    quantisation into `header`; returns each quantised array's largest and rms error (descriptors: in their
    normalised form, the only form training reads)."""
    from engine.diffusion.controls import normalise_descriptors

    max_error: dict[str, float] = {}
    rms_error: dict[str, float] = {}
    small: dict[str, torch.Tensor] = {}
    with safe_open(str(cache_path), framework="pt") as handle:
        header["metadata"] = json.loads(handle.metadata().get("cache", "{}"))
        for name in handle.keys():
            if name in ("tokens", "pooled"):
                continue  # recomputed from the caption ids
            tensor = handle.get_tensor(name)
            header["shapes"][name] = list(tensor.shape)
            if name not in _QUANTISED:
                small[name] = tensor.contiguous()
                continue
            values = (normalise_descriptors(tensor.float()) if name == "descriptors" else tensor.float()).numpy()
            scale = values.std(axis=0).clip(1e-6) if name in _COMPANDED else None
            codes, lo, step = _quantise(np.arcsinh(values / scale) if scale is not None else values)
            again = _dequantise(codes, lo, step)
            again = np.sinh(again) * scale if scale is not None else again
            max_error[name] = float(np.abs(again - values).max())
            rms_error[name] = float(np.sqrt(np.mean((again - values) ** 2)))
            if name in _DIFFERENCED:
                codes = np.diff(codes, axis=0, prepend=np.zeros((1, codes.shape[1]), np.uint8))  # uint8: mod 256
            header["quantised"][name] = {"lo": lo.tolist(), "step": step.tolist(), "dtype": str(tensor.dtype),
                                         "differenced": name in _DIFFERENCED, "normalised": name == "descriptors",
                                         "asinh_scale": None if scale is None else scale.tolist()}
            members[f"{name}.u8.xz"] = _xz(np.ascontiguousarray(codes).tobytes())
            if log:
                print(f"packed {name}: {values.nbytes / 2**20:.0f} MiB -> {len(members[f'{name}.u8.xz']) / 2**20:.1f} "
                      f"MiB (error rms {rms_error[name]:.4f}, max {max_error[name]:.4f})", flush=True)
    members["small.safetensors"] = save_safetensors_bytes(small)
    return max_error, rms_error


def _write_parts(members: dict[str, bytes], out_dir: Path, part_mib: float) -> tuple[list[Path], int]:
    """`members` as one tar split into `out_dir`/part_NNN.bin of at most `part_mib` MiB, with parts.json."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buffer.getvalue()
    return _write_blob_parts(blob, out_dir, part_mib), len(blob)


def _write_blob_parts(blob: bytes, out_dir: Path, part_mib: float) -> list[Path]:
    """`blob` as `out_dir`/part_NNN.bin of at most `part_mib` MiB (earlier parts there removed), with parts.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part_*.bin"):
        old.unlink()
    part_bytes = int(part_mib * 2**20)
    parts, records = [], []
    for index, start in enumerate(range(0, len(blob), part_bytes)):
        path, data = out_dir / f"part_{index:03d}.bin", blob[start:start + part_bytes]
        path.write_bytes(data)
        parts.append(path)
        records.append({"name": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    index_record = {"format": PACK_FORMAT, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
                    "parts": records}
    (out_dir / _PARTS_INDEX).write_text(json.dumps(index_record, indent=1))
    return parts


def resplit_pack(pack_dir: str | Path, part_mib: float) -> list[Path]:
    """The pack in `pack_dir` split again into parts of at most `part_mib` MiB (what fits a call depends on the
    tree that travels with it)."""
    if part_mib <= 0:
        raise ValueError(f"part_mib must be > 0, got {part_mib}")
    return _write_blob_parts(_joined([Path(pack_dir)]), Path(pack_dir), part_mib)


def pack_latent_cache(cache_path: str | Path, dataset: str | Path, out_dir: str | Path, part_mib: float = 44.0,
                      log: bool = True) -> PackReport:
    """Pack `cache_path` (built from `dataset`) into `out_dir`/part_NNN.bin files of at most `part_mib` MiB and
    `out_dir`/parts.json (sizes and sha256 of each part and of the whole)."""
    cache_path, out_dir = Path(cache_path), Path(out_dir)
    if part_mib <= 0:
        raise ValueError(f"part_mib must be > 0, got {part_mib}")
    ids, counts = caption_ids(cache_path, dataset)
    used_ids, compact = np.unique(ids, return_inverse=True)
    if len(used_ids) > 65536:
        raise ValueError(f"{len(used_ids)} distinct word pieces do not fit uint16")
    members: dict[str, bytes] = {}
    header: dict[str, object] = {"format": PACK_FORMAT, "quantised": {}, "shapes": {},
                                 "captions": int(len(counts)), "vocabulary_pieces": int(len(used_ids))}
    max_error, rms_error = _pack_frame_arrays(cache_path, header, members, log)
    members["caption_ids.u16.xz"] = _xz(compact.astype(np.uint16).tobytes())
    members.update(_text_model_files(used_ids))
    members["pack.json"] = json.dumps(header).encode()
    parts, packed_bytes = _write_parts(members, out_dir, part_mib)
    clips = int(header["shapes"]["clip_offsets"][0]) - 1  # type: ignore[index]
    report = PackReport(tuple(parts), packed_bytes / 2**20, cache_path.stat().st_size / 2**20, clips,
                        int(len(counts)), max_error, rms_error, int(len(used_ids)))
    if log:
        print(f"pack: {report.cache_mib:.0f} MiB cache -> {report.packed_mib:.1f} MiB in {len(parts)} parts "
              f"({clips} clips, {report.captions} captions, {report.vocabulary_pieces} word pieces)", flush=True)
    return report


def _joined(part_dirs: list[Path]) -> bytes:
    """The pack's bytes from its parts, wherever each part lies, checked against parts.json."""
    index_path = next((d / _PARTS_INDEX for d in part_dirs if (d / _PARTS_INDEX).exists()), None)
    if index_path is None:
        raise FileNotFoundError(f"no {_PARTS_INDEX} in {', '.join(map(str, part_dirs))}")
    index = json.loads(index_path.read_text())
    chunks = []
    for part in index["parts"]:
        path = next((d / part["name"] for d in part_dirs if (d / part["name"]).exists()), None)
        if path is None:
            raise FileNotFoundError(f"part {part['name']} is missing (looked in {', '.join(map(str, part_dirs))})")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise ValueError(f"part {path} is damaged (sha256 differs)")
        chunks.append(data)
    blob = b"".join(chunks)
    if hashlib.sha256(blob).hexdigest() != index["sha256"]:
        raise ValueError("the joined pack is damaged (sha256 differs)")
    return blob


def _frame_arrays(members: dict[str, bytes], header: dict) -> dict[str, torch.Tensor]:
    """The quantised arrays decoded back to the cache's dtypes (descriptors from their normalised form)."""
    from engine.diffusion.controls import denormalise_descriptors

    arrays: dict[str, torch.Tensor] = {}
    for name, q in header["quantised"].items():
        codes = np.frombuffer(lzma.decompress(members[f"{name}.u8.xz"]), dtype=np.uint8).reshape(header["shapes"][name])
        if q["differenced"]:
            codes = np.cumsum(codes, axis=0, dtype=np.uint8)  # uint8 sums wrap mod 256: the exact codes again
        lo, step = np.asarray(q["lo"], np.float32), np.asarray(q["step"], np.float32)
        values = torch.from_numpy(_dequantise(codes, lo, step))
        if q.get("asinh_scale") is not None:
            values = torch.sinh(values) * torch.tensor(q["asinh_scale"], dtype=torch.float32)
        if q.get("normalised"):
            values = denormalise_descriptors(values)
        arrays[name] = values.to(getattr(torch, q["dtype"].removeprefix("torch.")))
    return arrays


def _embed_captions(members: dict[str, bytes], offsets: torch.Tensor, device: str,
                    text_batch: int) -> dict[str, torch.Tensor]:
    """tokens (total_tokens, 384) and pooled (captions, 384), fp16, from the caption ids by the packed MiniLM."""
    from engine.diffusion.text import MiniLM, mean_pool

    compact = torch.from_numpy(np.frombuffer(lzma.decompress(members["caption_ids.u16.xz"]), dtype=np.uint16)
                               .astype(np.int64))
    with tempfile.TemporaryDirectory() as folder:
        for name, data in members.items():
            if name.startswith("text_model/"):
                path = Path(folder) / name.removeprefix("text_model/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        model = MiniLM(Path(folder), device)
    token_chunks, pooled = [], []
    captions = len(offsets) - 1
    for start in range(0, captions, text_batch):
        stop = min(captions, start + text_batch)
        lengths = (offsets[start + 1:stop + 1] - offsets[start:stop]).tolist()
        ids = torch.zeros(stop - start, max(lengths), dtype=torch.long)
        mask = torch.zeros(stop - start, max(lengths), dtype=torch.bool)
        for row, (begin, length) in enumerate(zip(offsets[start:stop].tolist(), lengths)):
            ids[row, :length] = compact[begin:begin + length]
            mask[row, :length] = True
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad():
            tokens = model(ids, mask)
            pooled.append(mean_pool(tokens, mask).half().cpu())
        token_chunks.append(tokens[mask].half().cpu())  # row-major: each caption's tokens in order
    return {"tokens": torch.cat(token_chunks), "pooled": torch.cat(pooled)}


def unpack_latent_cache(part_dirs: list[str | Path], out_path: str | Path, device: str = "cpu",
                        text_batch: int = 512, log: bool = True) -> Path:
    """Rebuild the cache file at `out_path` from a pack's parts (spread over `part_dirs`), the captions' token
    embeddings recomputed on `device`."""
    from engine.diffusion.latents import write_cache

    blob = _joined([Path(d) for d in part_dirs])
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        members = {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                   for m in tar.getmembers() if m.isfile()}
    header = json.loads(members["pack.json"])
    if header.get("format") != PACK_FORMAT:
        raise ValueError(f"pack format {header.get('format')}, this code reads {PACK_FORMAT}")
    arrays: dict[str, torch.Tensor] = dict(load_safetensors_bytes(members["small.safetensors"]))
    arrays.update(_frame_arrays(members, header))
    arrays.update(_embed_captions(members, arrays["token_offsets"], device, text_batch))
    out_path = Path(out_path)
    write_cache(out_path, arrays, header["metadata"])
    if log:
        print(f"unpacked {len(blob) / 2**20:.1f} MiB -> {out_path} ({out_path.stat().st_size / 2**20:.0f} MiB, "
              f"{len(arrays['pooled'])} captions embedded on {device})", flush=True)
    return out_path
