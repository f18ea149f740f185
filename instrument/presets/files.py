"""Preset files: read one (size-limited, UTF-8, JSON errors with line and column) and write one atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from instrument.presets.format import PresetError, validate_preset

MAX_PRESET_BYTES = 1024 * 1024  # a real preset is ~2 kB; anything huge is not a preset


def _line_column(data: bytes, position: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, position) + 1
    column = position - (data.rfind(b"\n", 0, position) + 1) + 1
    return line, column


def load_preset_file(path: str | os.PathLike[str]) -> tuple[dict, list[str]]:
    """(clean preset, warnings) from a file; PresetError naming the file for anything unusable."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PRESET_BYTES + 1)  # read no more than the limit, whatever the file says
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset ({exc.strerror or exc})") from exc
    if len(data) > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: larger than {MAX_PRESET_BYTES // 1024} KiB; not a preset")
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        line, column = _line_column(data, exc.start + offset)
        raise PresetError(f"{path}: not valid UTF-8 at line {line}, column {column} ({exc.reason})") from exc
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise PresetError(f"{path}: JSON nested too deeply") from exc
    return validate_preset(parsed, str(path))


def save_preset_file(path: str | os.PathLike[str], preset: dict) -> None:
    """Validate `preset` and write it atomically (temporary file + os.replace) as pretty UTF-8 JSON.

    A crash mid-write leaves either the old file or the new one, never half of each.
    """
    path = Path(path)
    clean, _ = validate_preset(preset, str(path))
    text = json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
