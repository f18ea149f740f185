"""Pack real training audio for the codec's adversarial fine-tune on a lent GPU machine (engine/codec/bundle.py
says why Ogg Vorbis at level 0; scripts/device/codec_gan.md is the runbook).

Takes a dataset manifest (e.g. /tmp/exp/ds_multi/manifest.jsonl, FLAC beside it), drops clips rendered with
an excluded soundfont (TimGM6mb: the never-trained-on one the benchmark holds out; matched against the
row's "soundfont" field, which manifests from before that field lack: theirs hold none), and writes random
excerpts of train-split clips, each clip once in random order, until the bundle reaches --budget-mib; first
--valid excerpts of valid-split clips (their opening seconds, for the trainer's fixed validation batch).
Excerpts quieter than -50 dBFS RMS are passed over (a silent crop teaches a discriminator nothing).
Then decodes the bundle back and reports what it holds and how far the decoded audio is from the source.

    python scripts/device/pack_codec_data.py --dataset /tmp/exp/ds_multi --out .gan/data --budget-mib 36
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.codec.bundle import FORMATS, SAMPLE_RATE, BundleWriter, read_bundle  # noqa: E402


def _excerpt(path: Path, seconds: float, rng: np.random.Generator, opening: bool) -> np.ndarray | None:
    info = soundfile.info(str(path))
    if info.samplerate != SAMPLE_RATE:
        raise ValueError(f"{path}: {info.samplerate} Hz, the codec trains at {SAMPLE_RATE}")
    want = int(seconds * SAMPLE_RATE)
    for _ in range(4):  # a few tries for a crop that is not silence
        start = 0 if opening else int(rng.integers(0, max(1, info.frames - want)))
        audio, _ = soundfile.read(str(path), frames=want, start=start, dtype="float32", always_2d=True)
        audio = audio.T
        if audio.shape[0] == 1:
            audio = np.repeat(audio, 2, axis=0)
        if np.sqrt(np.mean(audio ** 2)) > 10 ** (-50 / 20):
            return audio
        if opening:
            return None
    return None


def _log_magnitude_l1(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Mean |log|X| - log|Y|| of the decoder's STFT (2048 / 256), both floored at 1e-3 as the codec's
    reconstruction loss floors them (natural log; the shipped decoder scores ~0.5 on renders)."""
    import torch

    from engine.codec.spectral import stft_magnitude

    x, y = (torch.log(stft_magnitude(torch.from_numpy(np.ascontiguousarray(a)), 2048, 256).clamp_min(1e-3))
            for a in (reference, decoded))
    return float((x - y).abs().mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="folder with manifest.jsonl")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write (must not hold a bundle)")
    parser.add_argument("--budget-mib", type=float, default=36.0)
    parser.add_argument("--excerpt-seconds", type=float, default=1.3,
                        help="per clip (the trainer crops 1.11 s segments at random offsets inside)")
    parser.add_argument("--valid", type=int, default=8, help="valid-split excerpts (their first 1.2 s)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="vorbis")
    parser.add_argument("--level", type=float, default=0.0, help="Vorbis compression level, 0 = best quality")
    parser.add_argument("--shard-seconds", type=float, default=30.0)
    parser.add_argument("--exclude-soundfont", action="append", default=None,
                        help="case-insensitive part of a soundfont name to leave out (default: TimGM6mb)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.out / "index.json").exists():
        parser.error(f"{args.out} already holds a bundle")
    excluded = [s.lower() for s in (args.exclude_soundfont or ["TimGM6mb"])]
    rows = [json.loads(line) for line in (args.dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    kept = [r for r in rows if not any(s in str(r.get("soundfont", "")).lower() for s in excluded)]
    rng = np.random.default_rng(args.seed)
    train = [kept[i] for i in rng.permutation(len(kept)) if kept[i]["split"] == "train"]
    valid = [kept[i] for i in rng.permutation(len(kept)) if kept[i]["split"] == "valid"]
    started = time.monotonic()
    writer = BundleWriter(args.out, int(args.budget_mib * 2**20), args.format, args.level, args.shard_seconds,
                          metadata={"dataset": str(args.dataset), "excluded_soundfonts": excluded, "seed": args.seed,
                                    "excerpt_seconds": args.excerpt_seconds})
    sources: dict[str, np.ndarray] = {}
    for row in valid[:args.valid]:
        audio = _excerpt(args.dataset / row["path"], 1.2, rng, opening=True)
        if audio is not None:
            writer.add(audio, split="valid", path=row["path"])
            sources[row["path"] + "|valid"] = audio
    writer.flush()
    taken = 0
    for row in train:
        audio = _excerpt(args.dataset / row["path"], args.excerpt_seconds, rng, opening=False)
        if audio is None:
            continue
        if not writer.add(audio, split="train", path=row["path"], soundfont=row.get("soundfont"),
                          style=row.get("style")):
            break
        if len(sources) < 64:
            sources[row["path"] + "|train"] = audio
        taken += 1
    index = writer.close()
    packed = time.monotonic() - started

    decoded_at = time.monotonic()
    splits = read_bundle(args.out)
    decode_seconds = time.monotonic() - decoded_at
    ordinal: dict[tuple[str, str], int] = {}
    seen: dict[str, int] = {}
    for entry in index["excerpts"]:
        split = entry.get("split", "train")
        ordinal[(entry["path"], split)] = seen.get(split, 0)
        seen[split] = seen.get(split, 0) + 1
    errors = []
    for key, audio in sources.items():
        clip, split = key.split("|")
        if (clip, split) in ordinal:
            back = splits[split][ordinal[(clip, split)]]
            errors.append(_log_magnitude_l1(audio, back))
    counts = {split: len(pieces) for split, pieces in splits.items()}
    seconds = {split: round(sum(p.shape[1] for p in pieces) / SAMPLE_RATE, 1) for split, pieces in splits.items()}
    print(json.dumps({"out": str(args.out), "bytes": index["bytes"], "mib": round(index["bytes"] / 2**20, 2),
                      "shards": len(index["shards"]), "excerpts": counts, "seconds": seconds,
                      "train_clips_available": len(train), "kib_per_second": round(index["bytes"] / 1024 / max(
                          1e-9, sum(seconds.values())), 1),
                      "log_magnitude_l1_median_max": [round(float(np.median(errors)), 4), round(float(np.max(errors)), 4)]
                      if errors else None,
                      "pack_seconds": round(packed, 1), "decode_seconds": round(decode_seconds, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
