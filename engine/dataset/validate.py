"""Independent check of the dataset's labels: essentia's RhythmExtractor2013 (tempo) and KeyExtractor
(key and scale) on a random sample of clips, compared with the manifest; plus the label distributions.

Tempo agreement follows Gouyon et al. (as the SAO instrumental fine-tune reports it) with our 4%
tolerance: Acc1 = within 4% of the stated tempo; octave = within 4% of double or half; Acc2 also admits
x3 and x1/3. Key agreement counts only tonal clips (major/minor); modal clips are reported apart.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from engine.dataset.corpus import COMPOUND_TIME_SIGNATURES
from engine.dataset.manifest import validate_manifest
from engine.dataset.score import PITCH_CLASS_NAMES, TONAL_SCALES
from engine.vocabulary import SAMPLE_RATE

TEMPO_TOLERANCE: float = 0.04
_ESSENTIA_PITCH_CLASS = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
                         "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}


def tempo_relation(stated_bpm: float, estimated_bpm: float, tolerance: float = TEMPO_TOLERANCE,
                   compound: bool = False) -> str:
    """'exact' (within tolerance), 'octave' (x2 or x1/2), 'third' (x3 or x1/3), for a compound meter 'pulse' (the
    dotted quarter, x2/3, or its double x4/3: Cascade states quarter notes, a 6/8 tune is felt in dotted quarters)
    or 'wrong'."""
    if estimated_bpm <= 0:
        return "wrong"
    relations = [("exact", (1.0,)), ("octave", (2.0, 0.5)), ("third", (3.0, 1.0 / 3.0))]
    if compound:
        relations.append(("pulse", (2.0 / 3.0, 4.0 / 3.0)))
    for name, factors in relations:
        if any(abs(estimated_bpm - stated_bpm * f) <= tolerance * stated_bpm * f for f in factors):
            return name
    return "wrong"


def estimate_clip(path: str) -> dict[str, Any]:
    """Run essentia on one FLAC file (mono mix at its own rate, 44.1 kHz here)."""
    audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{path}: expected {SAMPLE_RATE} Hz, got {sample_rate}")
    return estimate_audio(audio.T)


def _mono(audio: np.ndarray) -> np.ndarray:
    """(channels, samples) or (samples,) float -> the float32 mono mix essentia reads."""
    x = np.asarray(audio, dtype=np.float32)
    return np.ascontiguousarray(x.reshape(-1, x.shape[-1]).mean(axis=0))


def essentia_key(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[str, str, float]:
    """essentia's KeyExtractor (default profile) on the mono mix of `audio` ((channels, samples) or
    (samples,) float): (tonic name as essentia spells it, e.g. "Eb"; "major" or "minor"; strength 0-1)."""
    import essentia.standard as es

    key, scale, strength = es.KeyExtractor(sampleRate=float(sample_rate))(_mono(audio))
    return str(key), str(scale), float(strength)


def estimate_audio(audio: np.ndarray) -> dict[str, Any]:
    """essentia's tempo and key of (channels, samples) float audio at 44.1 kHz (mono mix)."""
    import essentia.standard as es

    mono = _mono(audio)
    bpm, _, confidence, _, _ = es.RhythmExtractor2013(method="multifeature")(mono)
    key, scale, strength = essentia_key(mono)
    return {"estimated_bpm": float(bpm), "tempo_confidence": float(confidence), "estimated_key": str(key),
            "estimated_scale": str(scale), "key_strength": float(strength)}


def check_dataset(out_dir: Path, sample_size: int = 200, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Estimate tempo/key for a random sample and compare; returns agreement figures and per-clip rows."""
    rows = validate_manifest(out_dir)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(rows), size=min(sample_size, len(rows)), replace=False).tolist())
    sample = [rows[i] for i in chosen]
    paths = [str(Path(out_dir) / row["path"]) for row in sample]
    with multiprocessing.get_context("fork").Pool(max(1, workers)) as pool:
        estimates = pool.map(estimate_clip, paths, chunksize=4)
    per_clip: list[dict[str, Any]] = []
    for row, estimate in zip(sample, estimates):
        relation = tempo_relation(float(row["tempo"]), estimate["estimated_bpm"],
                                  compound=row.get("time_signature") in COMPOUND_TIME_SIGNATURES)
        tonal = row["scale"] in TONAL_SCALES
        tonic_match = _ESSENTIA_PITCH_CLASS.get(estimate["estimated_key"]) == PITCH_CLASS_NAMES.index(row["key"])
        key_match = tonal and tonic_match and estimate["estimated_scale"] == row["scale"]
        per_clip.append({"clip_id": row["clip_id"], "style": row["style"], "source": row["source"],
                         "tempo": row["tempo"], "key": row["key"], "scale": row["scale"], **estimate,
                         "tempo_relation": relation, "tonal": tonal, "key_scale_match": bool(key_match),
                         "tonic_match": bool(tonic_match)})
    n = len(per_clip)
    tonal_rows = [r for r in per_clip if r["tonal"]]
    relations = Counter(r["tempo_relation"] for r in per_clip)
    agreement = {
        "clips_checked": n,
        "tempo_acc1": relations["exact"] / n,
        "tempo_octave_errors": relations["octave"] / n,
        "tempo_acc1_or_octave": (relations["exact"] + relations["octave"]) / n,
        "tempo_acc2": (relations["exact"] + relations["octave"] + relations["third"] + relations["pulse"]) / n,
        "tempo_compound_pulse": relations["pulse"] / n,  # 6/8 and 12/8 clips heard in dotted quarters
        "tonal_clips": len(tonal_rows),
        "key_scale_acc": sum(r["key_scale_match"] for r in tonal_rows) / max(1, len(tonal_rows)),
        "tonic_acc": sum(r["tonic_match"] for r in tonal_rows) / max(1, len(tonal_rows)),
    }
    by_style: dict[str, dict[str, float]] = {}
    for style in sorted({r["style"] for r in per_clip}):
        group = [r for r in per_clip if r["style"] == style]
        tonal_group = [r for r in group if r["tonal"]]
        by_style[style] = {
            "clips": len(group),
            "tempo_acc1": sum(r["tempo_relation"] == "exact" for r in group) / len(group),
            "tempo_acc1_or_octave": sum(r["tempo_relation"] in ("exact", "octave") for r in group) / len(group),
            "key_scale_acc": (sum(r["key_scale_match"] for r in tonal_group) / len(tonal_group)) if tonal_group else float("nan"),
        }
    return {"agreement": agreement, "by_style": by_style, "per_clip": per_clip, "all_rows": rows}


def distributions(rows: list[dict[str, Any]]) -> dict[str, Counter]:
    """Counts of style, tempo (10-BPM bins), key, scale, instruments, source and split over all clips."""
    return {
        "style": Counter(r["style"] for r in rows),
        "tempo_bin": Counter(f"{int(r['tempo'] // 10 * 10)}-{int(r['tempo'] // 10 * 10 + 9)}" for r in rows),
        "key": Counter(f"{r['key']} {r['scale']}" for r in rows),
        "tonic": Counter(r["key"] for r in rows),
        "scale": Counter(r["scale"] for r in rows),
        "instrument": Counter(i for r in rows for i in r["instruments"]),
        "source": Counter(r["source"] for r in rows),
        "split": Counter(r["split"] for r in rows),
        "effects": Counter(e for r in rows for e in r.get("effects", [])),
    }


def write_report(report: dict[str, Any], path: Path, dataset_dir: Path) -> None:
    """Write the agreement figures and distributions as Markdown, a JSON dump and a PNG plot beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = report["all_rows"]
    dist = distributions(rows)
    hours = sum(r["duration_seconds"] for r in rows) / 3600.0
    a = report["agreement"]
    lines = [
        f"Clips: {len(rows)}, {hours:.2f} h, dataset `{dataset_dir}`.",
        "",
        f"Essentia agreement on a random sample of {a['clips_checked']} clips:",
        "",
        "| measure | value |",
        "|---|---|",
        f"| tempo within 4% (Acc1) | {a['tempo_acc1']:.3f} |",
        f"| tempo octave errors (x2, x1/2) | {a['tempo_octave_errors']:.3f} |",
        f"| tempo within 4% or an octave | {a['tempo_acc1_or_octave']:.3f} |",
        f"| tempo Acc2 (also x3, x1/3) | {a['tempo_acc2']:.3f} |",
        f"| key and scale (tonal clips, n={a['tonal_clips']}) | {a['key_scale_acc']:.3f} |",
        f"| tonic only (tonal clips) | {a['tonic_acc']:.3f} |",
        "",
        "By style:",
        "",
        "| style | clips | tempo Acc1 | Acc1 or octave | key+scale |",
        "|---|---|---|---|---|",
    ]
    for style, s in report["by_style"].items():
        lines.append(f"| {style} | {s['clips']} | {s['tempo_acc1']:.2f} | {s['tempo_acc1_or_octave']:.2f} | "
                     f"{s['key_scale_acc']:.2f} |")
    for name in ("style", "source", "split", "scale", "tempo_bin", "tonic", "instrument", "effects"):
        counter = dist[name]
        items = sorted(counter.items()) if name in ("tempo_bin", "tonic") else counter.most_common(30)
        lines += ["", f"Distribution of {name} (clips):", "", "| value | clips |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    per_clip_path = path.with_suffix(".per_clip.json")
    per_clip_path.write_text(json.dumps(report["per_clip"], indent=1) + "\n", encoding="utf-8")
    _plot(dist, rows, path.with_suffix(".png"))


def _plot(dist: dict[str, Counter], rows: list[dict[str, Any]], png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    styles = dist["style"].most_common()
    axes[0, 0].barh([s for s, _ in styles], [c for _, c in styles], color="#4c9be8")
    axes[0, 0].set_title("clips per style")
    axes[0, 1].hist([r["tempo"] for r in rows], bins=40, color="#e8914c")
    axes[0, 1].set_title("tempo (BPM)")
    tonics = list(PITCH_CLASS_NAMES)
    for offset, scale in enumerate(("major", "minor", "dorian", "mixolydian")):
        counts = [dist["key"].get(f"{t} {scale}", 0) for t in tonics]
        axes[1, 0].bar(np.arange(12) + offset * 0.2 - 0.3, counts, width=0.2, label=scale)
    axes[1, 0].set_xticks(range(12), tonics)
    axes[1, 0].legend()
    axes[1, 0].set_title("key and scale")
    instruments = dist["instrument"].most_common(20)
    axes[1, 1].barh([i for i, _ in instruments], [c for _, c in instruments], color="#6cc08b")
    axes[1, 1].set_title("top 20 instruments (clips)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)
