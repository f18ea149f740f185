"""The dataset builder: MIDI sources -> FluidSynth -> effects -> bar-aligned clips -> loudness -> FLAC,
descriptors, captions and a JSON-lines manifest (the pipeline of the Stable Audio Open instrumental
fine-tune, built from what we can have offline).

Determinism and resume: piece `i` depends only on (seed, i) and the soundfont pool, so any worker may
render it and a resumed build continues at the first piece not yet logged. Each piece is rendered with
one soundfont of the pool, chosen from (seed, i) (`soundfonts.choose_soundfont`); the pool's file names are
part of the folder's settings, so a resume with another pool is refused. The parent process alone writes
the manifest (the workers run `piece_job.render_piece`), in piece order, and appends a line to `pieces.jsonl` only after that piece's manifest lines
are on disk; on resume, manifest lines of unlogged pieces and files not in the manifest are removed.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.dataset import render, soundfonts
from engine.dataset.manifest import (
    CONFIG_NAME, MANIFEST_NAME, PARAPHRASES_NAME, PIECES_LOG_NAME, append_lines, read_jsonl, remove_orphans,
    rewrite_jsonl,
)
from engine.dataset.piece_job import build_notes, init_worker, render_piece

log = logging.getLogger(__name__)

FORMAT_VERSION: int = 2  # 2: compound and 2/2 meters from the corpus, time_signature in the manifest
# A bug that fails one piece is logged and skipped; one that fails every piece must stop the build.
MAX_FAILED_PIECES_IN_A_ROW: int = 10


class DiskFullError(OSError):
    """The output disk filled up; the manifest was left consistent."""


class DatasetConfigError(ValueError):
    """An existing output folder was built with incompatible settings."""


@dataclass(frozen=True)
class BuildConfig:
    """One build's settings; those that shape the data go into dataset.json, and a resume must match them."""

    out_dir: Path
    hours: float
    seed: int = 0
    workers: int = max(1, os.cpu_count() or 1)
    composer_fraction: float = 0.75  # the rest comes from music21's corpus
    min_clip_seconds: float = 6.0
    max_clip_seconds: float = 12.0
    # One fixed soundfont (a path) for every piece; overrides `soundfonts`. It is the only way to render with a
    # held-out soundfont (benchmarks/autoencoder.py builds its unseen-soundfont clips with TimGM6mb this way).
    soundfont: str | None = None
    # The training pool: "all" (every installed soundfont of soundfonts.TRAINING_SOUNDFONTS) or a comma-separated
    # list of pool names / paths. None = CASCADE_SOUNDFONT if that is set (one fixed soundfont), else "all".
    soundfonts: str | None = None
    progress: bool = True


@dataclass
class BuildSummary:
    """What a build (or a resume) holds and did: clips, pieces, seconds of audio, skip reasons."""

    clips: int = 0
    pieces: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    resumed_from_piece: int = 0


# What dataset.json implied before it recorded the pool: the single default soundfont.
_LEGACY_SOUNDFONTS: list[str] = ["FluidR3_GM.sf2"]


def soundfont_pool(config: BuildConfig) -> list[Path]:
    """The soundfonts this build renders with, sorted by file name. Raises render.SoundfontMissingError
    (naming the Debian package) or its subclass HeldOutSoundfontError."""
    if config.soundfont:
        path = render.find_soundfont(config.soundfont)
        if render.is_held_out(path):
            log.warning("rendering every piece with the held-out soundfont %s: evaluation data, not training data",
                        path.name)
        return [path]
    if config.soundfonts is None and os.environ.get("CASCADE_SOUNDFONT"):
        path = render.find_soundfont()
        render.refuse_held_out(path)
        return [path]
    return soundfonts.resolve_soundfont_pool(config.soundfonts)


def _wants_every_soundfont(config: BuildConfig) -> bool:
    if config.soundfont:
        return False
    if config.soundfonts is None:
        return not os.environ.get("CASCADE_SOUNDFONT")
    return config.soundfonts.strip().lower() in ("", "all")


def _prepare_out_dir(config: BuildConfig, pool: list[Path]) -> tuple[list[dict[str, Any]], set[int]]:
    """Create or validate the output folder and recover a consistent state.

    Returns (pieces already logged, their indexes).
    """
    out = config.out_dir
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "descriptors").mkdir(parents=True, exist_ok=True)
    config_path = out / CONFIG_NAME
    identity = {"format_version": FORMAT_VERSION, "seed": config.seed,
                "composer_fraction": config.composer_fraction,
                "min_clip_seconds": config.min_clip_seconds, "max_clip_seconds": config.max_clip_seconds,
                "soundfonts": [path.name for path in pool]}
    if config_path.exists():
        existing = json.loads(config_path.read_text(encoding="utf-8"))
        existing.setdefault("soundfonts", _LEGACY_SOUNDFONTS)
        mismatched = {k: (existing.get(k), v) for k, v in identity.items() if existing.get(k) != v}
        if mismatched:
            raise DatasetConfigError(
                f"{out} holds a dataset built with other settings {mismatched} (existing, requested); "
                "use a new --out folder or the same settings to resume"
                + (f" (--soundfonts {','.join(existing['soundfonts'])})" if "soundfonts" in mismatched else ""))
    else:
        config_path.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")

    pieces = read_jsonl(out / PIECES_LOG_NAME)
    done = {row["index"] for row in pieces}
    # Keep only manifest lines of logged pieces (a crash between the two appends leaves extras).
    for name in (MANIFEST_NAME, PARAPHRASES_NAME):
        rows = read_jsonl(out / name)
        rewrite_jsonl(out / name, [row for row in rows if int(row["clip_id"][1:7]) in done])
    rewrite_jsonl(out / PIECES_LOG_NAME, pieces)
    remove_orphans(out)
    return pieces, done


def _indexes_from(start: int) -> Iterator[int]:
    index = start
    while True:
        yield index
        index += 1


def _resume_point(config: BuildConfig, done: set[int]) -> int:
    """The first piece index not yet logged; a log with gaps was edited by hand."""
    next_index = max(done) + 1 if done else 0
    if any(i not in done for i in range(next_index)):
        raise DatasetConfigError(f"{config.out_dir / PIECES_LOG_NAME} has gaps; the folder was edited by hand")
    return next_index


def _open_build_log(config: BuildConfig, pool: list[Path]) -> logging.FileHandler:
    """build.log in the folder gets the package's log and the build notes; it states the pool first."""
    log_handler = logging.FileHandler(config.out_dir / "build.log", encoding="utf-8")
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("engine.dataset").addHandler(log_handler)
    build_notes.addHandler(log_handler)
    missing = soundfonts.missing_training_soundfonts() if _wants_every_soundfont(config) else []
    if missing:  # the same seed then builds another dataset than on a machine that has them all
        log.warning("soundfont pool %s; not installed, so not used: %s", [p.name for p in pool],
                    ", ".join(f"{f.name} (Debian package {f.package})" for f in missing))
    build_notes.info("soundfont pool: %s", ", ".join(str(path) for path in pool))
    return log_handler


def _close_build_log(log_handler: logging.FileHandler) -> None:
    logging.getLogger("engine.dataset").removeHandler(log_handler)
    build_notes.removeHandler(log_handler)
    log_handler.close()


def _raise_for_error(result: dict[str, Any], summary: BuildSummary) -> None:
    """A piece that could not load its soundfont or write its files stops the build."""
    if "fatal" in result:
        raise result["fatal"]
    if "error" in result:
        if result.get("errno") in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(errno.ENOSPC, f"disk full while writing piece {result['index']}; "
                                f"the manifest holds the {summary.clips} clips completed before it. "
                                "Free space and run the same command again to resume.")
        raise OSError(result.get("errno") or errno.EIO, result["error"])


def _log_piece(out_dir: Path, result: dict[str, Any]) -> None:
    """Append the piece's manifest and paraphrase rows, then its pieces.jsonl line (the commit point)."""
    try:
        append_lines(out_dir / MANIFEST_NAME, result["records"])
        append_lines(out_dir / PARAPHRASES_NAME, result["paraphrases"])
        append_lines(out_dir / PIECES_LOG_NAME, [{
            "index": result["index"], "clips": len(result["records"]),
            "seconds": round(result["seconds"], 4), "soundfont": result.get("soundfont")}])
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(errno.ENOSPC, "disk full while writing the manifest; it was cut back "
                                "to the last complete piece. Free space and resume.") from error
        raise


def _collect(results: Iterable[dict[str, Any]], config: BuildConfig, summary: BuildSummary,
             target_seconds: float, bar: Any) -> None:  # bar: the tqdm progress bar
    """Log the workers' pieces in order until the folder holds `target_seconds` of clips."""
    failed_in_a_row = 0
    for result in results:
        _raise_for_error(result, summary)
        for reason in result["skipped"]:
            log.warning("skipped: %s", reason)
            summary.skipped.append(reason)
        failed_in_a_row = failed_in_a_row + 1 if result.get("failed") else 0
        if failed_in_a_row >= MAX_FAILED_PIECES_IN_A_ROW:
            raise RuntimeError(f"{failed_in_a_row} pieces in a row failed (last: {result['skipped'][-1]}); "
                               f"stopping. See {config.out_dir / 'build.log'}")
        _log_piece(config.out_dir, result)
        summary.pieces += 1
        summary.clips += len(result["records"])
        summary.seconds += result["seconds"]
        bar.update(min(round(summary.seconds), round(target_seconds)) - bar.n)
        if summary.seconds >= target_seconds:
            break


def build_dataset(config: BuildConfig) -> BuildSummary:
    """Build (or resume) the dataset until it holds at least `config.hours` of clips."""
    from tqdm import tqdm

    started = time.monotonic()
    # Fail before forking workers if a soundfont is missing, held out or unreadable (headers only: ms).
    pool = soundfont_pool(config)
    for path in pool:
        render.check_soundfont_loads(path)
    pieces, done = _prepare_out_dir(config, pool)
    summary = BuildSummary(pieces=len(pieces), resumed_from_piece=len(pieces))
    summary.seconds = sum(row["seconds"] for row in pieces)
    summary.clips = sum(row["clips"] for row in pieces)
    target_seconds = config.hours * 3600.0
    next_index = _resume_point(config, done)
    log_handler = _open_build_log(config, pool)
    bar = tqdm(total=round(target_seconds), initial=min(round(summary.seconds), round(target_seconds)),
               unit="s", desc="audio", disable=not config.progress, dynamic_ncols=True)
    context = multiprocessing.get_context("fork")
    workers = context.Pool(config.workers, initializer=init_worker, initargs=(config, pool))
    try:
        if summary.seconds < target_seconds:
            _collect(workers.imap(render_piece, _indexes_from(next_index), chunksize=1), config, summary,
                     target_seconds, bar)
    except BaseException:
        workers.terminate()
        workers.join()
        # Files of pieces rendered ahead but never logged must not linger (they may be half written).
        _prepare_out_dir(config, pool)
        raise
    else:
        workers.terminate()
        workers.join()
        remove_orphans(config.out_dir)
    finally:
        bar.close()
        _close_build_log(log_handler)
    summary.wall_seconds = time.monotonic() - started
    return summary


def summary_dict(summary: BuildSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["hours"] = round(summary.seconds / 3600.0, 3)
    data["skipped"] = len(summary.skipped)
    return data


def disk_usage_bytes(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file())


__all__ = ["BuildConfig", "BuildSummary", "DiskFullError", "DatasetConfigError", "build_dataset", "soundfont_pool",
           "disk_usage_bytes", "summary_dict"]
