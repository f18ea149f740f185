"""The dataset builder: MIDI sources -> FluidSynth -> effects -> bar-aligned clips -> loudness -> FLAC,
descriptors, captions and a JSON-lines manifest (the pipeline of the Stable Audio Open instrumental
fine-tune, built from what we can have offline).

Determinism and resume: piece `i` depends only on (seed, i) and the soundfont pool, so any worker may
render it and a resumed build continues at the first piece not yet logged. Each piece is rendered with
one soundfont of the pool, chosen from (seed, i) (`render.choose_soundfont`); the pool's file names are
part of the folder's settings, so a resume with another pool is refused. The parent process alone writes
the manifest, in piece order, and appends a line to `pieces.jsonl` only after that piece's manifest lines
are on disk; on resume, manifest lines of unlogged pieces and files not in the manifest are removed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from engine.dataset import captions, composer, corpus, descriptors, render
from engine.dataset.score import Piece, estimate_key

log = logging.getLogger(__name__)
# Notes for build.log only (e.g. a drum kit a soundfont lacks): not worth a line on the terminal.
build_notes = logging.getLogger(__name__ + ".notes")
build_notes.propagate = False
build_notes.setLevel(logging.INFO)

FORMAT_VERSION: int = 1
MANIFEST_NAME: str = "manifest.jsonl"
PIECES_LOG_NAME: str = "pieces.jsonl"
PARAPHRASES_NAME: str = "paraphrases.jsonl"
CONFIG_NAME: str = "dataset.json"
CORPUS_ATTEMPTS: int = 6
# A bug that fails one piece is logged and skipped; one that fails every piece must stop the build.
MAX_FAILED_PIECES_IN_A_ROW: int = 10
SPLIT_FRACTIONS: tuple[tuple[str, float], ...] = (("train", 0.90), ("valid", 0.05), ("test", 0.05))


class DiskFullError(OSError):
    """The output disk filled up; the manifest was left consistent."""


class DatasetConfigError(ValueError):
    """An existing output folder was built with incompatible settings."""


@dataclass(frozen=True)
class BuildConfig:
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
    # The training pool: "all" (every installed soundfont of render.TRAINING_SOUNDFONTS) or a comma-separated
    # list of pool names / paths. None = CASCADE_SOUNDFONT if that is set (one fixed soundfont), else "all".
    soundfonts: str | None = None
    progress: bool = True


@dataclass
class BuildSummary:
    clips: int = 0
    pieces: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    resumed_from_piece: int = 0


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


def plan_clips(piece: Piece, rng: np.random.Generator, min_seconds: float, max_seconds: float) -> list[tuple[int, int]]:
    """Cut the piece at bar lines into clips of [min_seconds, max_seconds]: (first_bar, end_bar) pairs.

    Prefers 2, 4 or 8 bars (phrase lengths) when they fit, else any bar count that does.
    """
    clips: list[tuple[int, int]] = []
    bar = 0
    n_bars = len(piece.bar_starts_seconds)
    while bar < n_bars:
        fitting: list[int] = []
        for count in range(1, n_bars - bar + 1):
            end_time = piece.bar_starts_seconds[bar + count] if bar + count < n_bars else piece.end_seconds
            duration = end_time - piece.bar_starts_seconds[bar]
            if duration > max_seconds + 1e-6:
                break
            if duration >= min_seconds - 1e-6:
                fitting.append(count)
        if not fitting:
            break
        phrase = [c for c in fitting if c in (2, 4, 8)]
        count = int(rng.choice(phrase or fitting))
        clips.append((bar, bar + count))
        bar += count
    return clips


def _energy_word(values: list[float]) -> str:
    mean = float(np.mean(values)) if values else 0.5
    return "low" if mean < 0.4 else ("high" if mean > 0.7 else "medium")


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
    return render.resolve_soundfont_pool(config.soundfonts)


def _wants_every_soundfont(config: BuildConfig) -> bool:
    if config.soundfont:
        return False
    if config.soundfonts is None:
        return not os.environ.get("CASCADE_SOUNDFONT")
    return config.soundfonts.strip().lower() in ("", "all")


class _Worker:
    """Per-process state: one renderer per soundfont (each loaded at most once, when first needed), the
    corpus index."""

    renderers: dict[Path, render.FluidRenderer] = {}
    pool: list[Path] = []
    works: list[corpus.CorpusWork] | None = None
    config: BuildConfig | None = None


def _init_worker(config: BuildConfig, pool: list[Path]) -> None:
    _Worker.config = config
    _Worker.pool = pool
    _Worker.renderers = {}
    _Worker.works = corpus.list_corpus_works()
    descriptors.warm_up()


def _renderer_for(path: Path) -> render.FluidRenderer:
    if path not in _Worker.renderers:
        _Worker.renderers[path] = render.FluidRenderer(path)
    return _Worker.renderers[path]


def _make_piece(index: int, config: BuildConfig, works: list[corpus.CorpusWork],
                rng: np.random.Generator) -> tuple[Piece, str, list[str]]:
    """Choose the source for piece `index`; returns (piece, split key, skip reasons)."""
    piece_id = f"p{index:06d}"
    skipped: list[str] = []
    if works and rng.random() >= config.composer_fraction:
        # Many corpus tunes are in compound or changing meters; draw again a few times before
        # falling back to the composer. Every refusal is logged with its reason.
        for _ in range(CORPUS_ATTEMPTS):
            work = corpus.choose_work(works, rng)
            try:
                piece = corpus.corpus_piece(work, rng, piece_id)
                # The same work may be drawn again in another key: split by the work, not the draw.
                return piece, piece.source_name, skipped
            except corpus.CorpusParseError as error:
                skipped.append(str(error))
    style = sorted(composer.STYLES)[int(rng.integers(len(composer.STYLES)))]
    piece = composer.compose(style, rng, piece_id)
    return piece, piece.source_name, skipped


def _write_atomic_flac(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Encode in memory, then write with plain file I/O: a full disk then raises OSError(ENOSPC)
    (libsndfile would report it as a generic RuntimeError), and a crash never leaves a torn .flac."""
    encoded = io.BytesIO()
    soundfile.write(encoded, audio.T, sample_rate, subtype="PCM_16", format="FLAC")
    tmp = path.with_suffix(".tmp.flac")
    try:
        tmp.write_bytes(encoded.getbuffer())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def render_piece(index: int) -> dict[str, Any]:
    """Worker job: compose/load, render and write all clips of piece `index`.

    Returns {"index", "records", "paraphrases", "skipped", "seconds", "soundfont"}, {"index", "error", "errno"}
    or, when the piece's soundfont cannot be loaded, {"index", "fatal": the exception}.
    """
    config = _Worker.config
    assert config is not None and _Worker.pool
    out_dir = config.out_dir
    written: list[Path] = []
    soundfont_path = render.choose_soundfont(_Worker.pool, config.seed, index)
    try:
        renderer = _renderer_for(soundfont_path)
    except render.SoundfontMissingError as error:  # the file went away or cannot be parsed: stop the build
        return {"index": index, "fatal": error}
    try:
        rng = np.random.default_rng([config.seed, index])
        piece, split_key, skipped = _make_piece(index, config, _Worker.works or [], rng)
        split = split_for(split_key)
        piece, substitutions = renderer.adapt(piece)
        for note in substitutions:
            build_notes.info("%s", note)
        dry = renderer.render(piece)
        chain = render.random_effect_chain(piece.style, piece.tempo_bpm, rng)
        wet = render.apply_effects(dry, chain)
        effect_names = tuple(choice.name for choice in chain)
        sample_rate = render.SAMPLE_RATE
        records: list[dict[str, Any]] = []
        paraphrases: list[dict[str, Any]] = []
        total_seconds = 0.0
        for clip_index, (first_bar, end_bar) in enumerate(plan_clips(piece, rng, config.min_clip_seconds,
                                                                     config.max_clip_seconds)):
            start_seconds = piece.bar_starts_seconds[first_bar]
            end_seconds = piece.bar_starts_seconds[end_bar] if end_bar < len(piece.bar_starts_seconds) else piece.end_seconds
            start_frame = int(round(start_seconds * sample_rate))
            end_frame = int(round(end_seconds * sample_rate))
            clip, loudness_lufs = render.normalise_loudness(wet[:, start_frame:end_frame])
            if not np.isfinite(loudness_lufs):
                skipped.append(f"{piece.piece_id} clip {clip_index}: silent, dropped")
                continue
            instruments = tuple(dict.fromkeys(
                composer.instrument_name(track) for track in piece.tracks
                if any(n.start_seconds < end_seconds and n.end_seconds > start_seconds for n in track.notes)))
            if not instruments:  # only the previous bar's release rings here: no facts to caption
                skipped.append(f"{piece.piece_id} clip {clip_index}: no note starts or sounds in it, dropped")
                continue
            energy = _energy_word(piece.bar_energy[first_bar:end_bar])
            key_tonic, scale = piece.key_tonic, piece.scale
            if piece.source == "corpus":
                # A corpus excerpt may sit in another key than the whole work (modulating phrases).
                key_tonic, scale = estimate_key(piece.tracks, start_seconds, end_seconds)
            facts = captions.CaptionFacts(
                style=piece.style, tempo_bpm=piece.tempo_bpm, key_tonic=key_tonic, scale=scale,
                instruments=instruments, mood=piece.mood, energy=energy, effects=effect_names,
                beats_per_bar=piece.beats_per_bar)
            clip_rng = np.random.default_rng([config.seed, index, clip_index, 7])
            clip_id = f"{piece.piece_id}_c{clip_index:02d}"
            audio_path = out_dir / "audio" / f"{clip_id}.flac"
            descriptor_path = out_dir / "descriptors" / f"{clip_id}.npz"
            _write_atomic_flac(audio_path, clip, sample_rate)
            written.append(audio_path)
            frames = descriptors.frame_descriptors(clip, sample_rate)
            with open(descriptor_path, "wb") as handle:
                np.savez(handle, **{k: v.astype(np.float16) for k, v in frames.items()})
            written.append(descriptor_path)
            duration = (end_frame - start_frame) / sample_rate
            total_seconds += duration
            records.append({
                "clip_id": clip_id,
                "path": f"audio/{clip_id}.flac",
                "descriptors": f"descriptors/{clip_id}.npz",
                "caption": captions.make_caption(facts, clip_rng),
                "style": piece.style,
                "tempo": piece.tempo_bpm,
                "key": key_tonic,
                "scale": scale,
                "key_source": "composed" if piece.source == "composer" else "excerpt analysis",
                "beats_per_bar": piece.beats_per_bar,
                "instruments": list(instruments),
                "energy": energy,
                "mood": piece.mood,
                "effects": list(effect_names),
                "source": piece.source,
                "source_piece": piece.source_name,
                "soundfont": renderer.soundfont_name,
                "split": split,
                "piece_index": index,
                "bars": [first_bar, end_bar],
                "seconds_start": round(start_seconds, 4),
                "seconds_total": round(piece.end_seconds, 4),
                "duration_seconds": round(duration, 4),
                "sample_rate": sample_rate,
                "channels": 2,
                "loudness_lufs": round(loudness_lufs, 2),
            })
            paraphrases.append({"clip_id": clip_id, "split": split,
                                "prompt": captions.make_paraphrase(facts, clip_rng)})
        return {"index": index, "records": records, "paraphrases": paraphrases, "skipped": skipped,
                "seconds": total_seconds, "soundfont": renderer.soundfont_name}
    except OSError as error:
        for path in written:
            path.unlink(missing_ok=True)
        return {"index": index, "error": f"{type(error).__name__}: {error}", "errno": error.errno}
    except Exception as error:  # a bug in one piece must not kill a 30-minute build: log and skip it
        for path in written:
            path.unlink(missing_ok=True)
        log.exception("piece %d failed", index)
        return {"index": index, "records": [], "paraphrases": [], "seconds": 0.0, "failed": True,
                "skipped": [f"p{index:06d}: {type(error).__name__}: {error}"]}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
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


def _rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _append_lines(path: Path, rows: list[dict[str, Any]]) -> None:
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

    pieces = _read_jsonl(out / PIECES_LOG_NAME)
    done = {row["index"] for row in pieces}
    # Keep only manifest lines of logged pieces (a crash between the two appends leaves extras).
    for name in (MANIFEST_NAME, PARAPHRASES_NAME):
        rows = _read_jsonl(out / name)
        _rewrite_jsonl(out / name, [row for row in rows if int(row["clip_id"][1:7]) in done])
    _rewrite_jsonl(out / PIECES_LOG_NAME, pieces)
    _remove_orphans(out)
    return pieces, done


def _remove_orphans(out: Path) -> None:
    """Delete audio/descriptor files no manifest line refers to (left by an interrupted piece)."""
    listed = {row["clip_id"] for row in _read_jsonl(out / MANIFEST_NAME)}
    for folder in ("audio", "descriptors"):
        for path in (out / folder).iterdir():
            if path.name.split(".")[0] not in listed or ".tmp" in path.name:
                path.unlink(missing_ok=True)


def _indexes_from(start: int) -> Iterator[int]:
    index = start
    while True:
        yield index
        index += 1


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
    next_index = max(done) + 1 if done else 0
    if any(i not in done for i in range(next_index)):
        raise DatasetConfigError(f"{config.out_dir / PIECES_LOG_NAME} has gaps; the folder was edited by hand")
    log_handler = logging.FileHandler(config.out_dir / "build.log", encoding="utf-8")
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("engine.dataset").addHandler(log_handler)
    build_notes.addHandler(log_handler)
    missing = render.missing_training_soundfonts() if _wants_every_soundfont(config) else []
    if missing:  # the same seed then builds another dataset than on a machine that has them all
        log.warning("soundfont pool %s; not installed, so not used: %s", [p.name for p in pool],
                    ", ".join(f"{f.name} (Debian package {f.package})" for f in missing))
    build_notes.info("soundfont pool: %s", ", ".join(str(path) for path in pool))
    bar = tqdm(total=round(target_seconds), initial=min(round(summary.seconds), round(target_seconds)),
               unit="s", desc="audio", disable=not config.progress, dynamic_ncols=True)
    context = multiprocessing.get_context("fork")
    workers = context.Pool(config.workers, initializer=_init_worker, initargs=(config, pool))
    try:
        failed_in_a_row = 0
        if summary.seconds < target_seconds:
            for result in workers.imap(render_piece, _indexes_from(next_index), chunksize=1):
                if "fatal" in result:
                    raise result["fatal"]
                if "error" in result:
                    if result.get("errno") in (errno.ENOSPC, errno.EDQUOT):
                        raise DiskFullError(errno.ENOSPC, f"disk full while writing piece {result['index']}; "
                                            f"the manifest holds the {summary.clips} clips completed before it. "
                                            "Free space and run the same command again to resume.")
                    raise OSError(result.get("errno") or errno.EIO, result["error"])
                for reason in result["skipped"]:
                    log.warning("skipped: %s", reason)
                    summary.skipped.append(reason)
                failed_in_a_row = failed_in_a_row + 1 if result.get("failed") else 0
                if failed_in_a_row >= MAX_FAILED_PIECES_IN_A_ROW:
                    raise RuntimeError(f"{failed_in_a_row} pieces in a row failed (last: {result['skipped'][-1]}); "
                                       f"stopping. See {config.out_dir / 'build.log'}")
                try:
                    _append_lines(config.out_dir / MANIFEST_NAME, result["records"])
                    _append_lines(config.out_dir / PARAPHRASES_NAME, result["paraphrases"])
                    _append_lines(config.out_dir / PIECES_LOG_NAME, [{
                        "index": result["index"], "clips": len(result["records"]),
                        "seconds": round(result["seconds"], 4), "soundfont": result.get("soundfont")}])
                except OSError as error:
                    if error.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise DiskFullError(errno.ENOSPC, "disk full while writing the manifest; it was cut back "
                                            "to the last complete piece. Free space and resume.") from error
                    raise
                summary.pieces += 1
                summary.clips += len(result["records"])
                summary.seconds += result["seconds"]
                bar.update(min(round(summary.seconds), round(target_seconds)) - bar.n)
                if summary.seconds >= target_seconds:
                    break
    except BaseException:
        workers.terminate()
        workers.join()
        # Files of pieces rendered ahead but never logged must not linger (they may be half written).
        _prepare_out_dir(config, pool)
        raise
    else:
        workers.terminate()
        workers.join()
        _remove_orphans(config.out_dir)
    finally:
        bar.close()
        logging.getLogger("engine.dataset").removeHandler(log_handler)
        build_notes.removeHandler(log_handler)
        log_handler.close()
    summary.wall_seconds = time.monotonic() - started
    return summary


def validate_manifest(out_dir: Path) -> list[dict[str, Any]]:
    """Check the manifest's schema and that every clip file exists; returns the rows or raises ValueError."""
    required = {"path": str, "caption": str, "tempo": (int, float), "key": str, "scale": str, "style": str,
                "instruments": list, "split": str, "duration_seconds": (int, float), "descriptors": str}
    rows = _read_jsonl(Path(out_dir) / MANIFEST_NAME)
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


def summary_dict(summary: BuildSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["hours"] = round(summary.seconds / 3600.0, 3)
    data["skipped"] = len(summary.skipped)
    return data


def disk_usage_bytes(out_dir: Path) -> int:
    return sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file())


__all__ = ["BuildConfig", "BuildSummary", "DiskFullError", "DatasetConfigError", "build_dataset", "soundfont_pool",
           "validate_manifest", "plan_clips", "split_for", "disk_usage_bytes", "summary_dict"]
