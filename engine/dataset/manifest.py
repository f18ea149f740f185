"""The dataset folder's JSON-lines files: their names, the train/valid/test split of a source piece, torn-line
tolerant reading, durable appends, orphan removal and the manifest's validation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST_NAME: str = "manifest.jsonl"
PIECES_LOG_NAME: str = "pieces.jsonl"
PARAPHRASES_NAME: str = "paraphrases.jsonl"
CONFIG_NAME: str = "dataset.json"
SPLIT_FRACTIONS: tuple[tuple[str, float], ...] = (("train", 0.90), ("valid", 0.05), ("test", 0.05))


def split_for(source_key: str) -> str:
    """train/valid/test by a stable hash of the source piece, so no piece straddles splits."""
    digest = hashlib.sha256(source_key.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for name, fraction in SPLIT_FRACTIONS:
        cumulative += fraction
        if position < cumulative:
            return name
    return SPLIT_FRACTIONS[-1][0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read complete JSON lines; a torn last line (crash mid-write) is ignored."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def append_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows durably; on failure cut the file back so no half line stays behind."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    size_before = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        with open(path, "r+b") as handle:
            handle.truncate(size_before)
        raise


def remove_orphans(out: Path) -> None:
    """Delete audio/descriptor files no manifest line refers to (left by an interrupted piece)."""
    listed = {row["clip_id"] for row in read_jsonl(out / MANIFEST_NAME)}
    for folder in ("audio", "descriptors"):
        for path in (out / folder).iterdir():
            if path.name.split(".")[0] not in listed or ".tmp" in path.name:
                path.unlink(missing_ok=True)


def validate_manifest(out_dir: Path) -> list[dict[str, Any]]:
    """Check the manifest's schema and that every clip file exists; returns the rows or raises ValueError."""
    required = {"path": str, "caption": str, "tempo": (int, float), "key": str, "scale": str, "style": str,
                "instruments": list, "split": str, "duration_seconds": (int, float), "descriptors": str}
    rows = read_jsonl(Path(out_dir) / MANIFEST_NAME)
    if not rows:
        raise ValueError(f"{out_dir}: empty or missing manifest")
    for number, row in enumerate(rows, 1):
        for key, kind in required.items():
            if not isinstance(row.get(key), kind):
                raise ValueError(f"manifest line {number}: field {key!r} missing or of the wrong type")
        if row["split"] not in {name for name, _ in SPLIT_FRACTIONS}:
            raise ValueError(f"manifest line {number}: unknown split {row['split']!r}")
        if not (Path(out_dir) / row["path"]).is_file():
            raise ValueError(f"manifest line {number}: {row['path']} does not exist")
    pieces_by_split: dict[str, str] = {}
    for row in rows:
        if pieces_by_split.setdefault(row["source_piece"], row["split"]) != row["split"]:
            raise ValueError(f"source piece {row['source_piece']} appears in more than one split")
    return rows
