"""The build's worker job: one piece -> its source (composer or corpus), FluidSynth, effects, bar-aligned
clips -> loudness -> FLAC and descriptors on disk, and its manifest and paraphrase rows for the parent.

Piece `i` depends only on (seed, i) and the soundfont pool, so any worker may render it. The parent
(`builder.build_dataset`) alone writes the manifest.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile

from engine.dataset import captions, composer, corpus, descriptors, effects, render, soundfonts
from engine.dataset.chroma import score_chroma
from engine.dataset.manifest import split_for
from engine.dataset.score import Piece, estimate_key
from engine.vocabulary import SAMPLE_RATE

if TYPE_CHECKING:
    from engine.dataset.builder import BuildConfig

log = logging.getLogger(__name__)
# Notes for build.log only (e.g. a drum kit a soundfont lacks): not worth a line on the terminal.
build_notes = logging.getLogger(__name__ + ".notes")
build_notes.propagate = False
build_notes.setLevel(logging.INFO)

CORPUS_ATTEMPTS: int = 6


class _Worker:
    """Per-process state: one renderer per soundfont (each loaded at most once, when first needed), the
    corpus index."""

    renderers: dict[Path, render.FluidRenderer] = {}
    pool: list[Path] = []
    works: list[corpus.CorpusWork] | None = None
    config: BuildConfig | None = None


def init_worker(config: BuildConfig, pool: list[Path]) -> None:
    _Worker.config = config
    _Worker.pool = pool
    _Worker.renderers = {}
    _Worker.works = corpus.list_corpus_works()
    descriptors.warm_up()


def _renderer_for(path: Path) -> render.FluidRenderer:
    if path not in _Worker.renderers:
        _Worker.renderers[path] = render.FluidRenderer(path)
    return _Worker.renderers[path]


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


@dataclass(frozen=True)
class _RenderedPiece:
    """A piece rendered through its effect chain: what its clips are cut from and labelled with.

    wet: float32 (2, frames) at SAMPLE_RATE, covering the piece and its release tail.
    """

    index: int
    piece: Piece
    wet: np.ndarray
    effect_names: tuple[str, ...]
    soundfont_name: str
    split: str


@dataclass
class _PieceOutput:
    """What a piece's clips add up to: manifest and paraphrase rows, skip reasons, seconds, files written."""

    records: list[dict[str, Any]]
    paraphrases: list[dict[str, Any]]
    skipped: list[str]
    written: list[Path]
    seconds: float = 0.0


def _render_wet(renderer: render.FluidRenderer, piece: Piece, split: str, index: int,
                rng: np.random.Generator) -> _RenderedPiece:
    """Adapt the piece to the soundfont, render it dry, then through a random effect chain."""
    piece, substitutions = renderer.adapt(piece)
    for note in substitutions:
        build_notes.info("%s", note)
    dry = renderer.render(piece)
    chain = effects.random_effect_chain(piece.style, piece.tempo_bpm, rng)
    wet = effects.apply_effects(dry, chain)
    return _RenderedPiece(index=index, piece=piece, wet=wet, effect_names=tuple(choice.name for choice in chain),
                          soundfont_name=renderer.soundfont_name, split=split)


def _clip_facts(rendered: _RenderedPiece, first_bar: int, end_bar: int, start_seconds: float,
                end_seconds: float) -> captions.CaptionFacts | None:
    """The caption facts of one clip, or None when no note starts or sounds in it."""
    piece = rendered.piece
    instruments = tuple(dict.fromkeys(
        composer.instrument_name(track) for track in piece.tracks
        if any(n.start_seconds < end_seconds and n.end_seconds > start_seconds for n in track.notes)))
    if not instruments:
        return None
    key_tonic, scale = piece.key_tonic, piece.scale
    if piece.source == "corpus":
        # A corpus excerpt may sit in another key than the whole work (modulating phrases).
        key_tonic, scale = estimate_key(piece.tracks, start_seconds, end_seconds)
    return captions.CaptionFacts(
        style=piece.style, tempo_bpm=piece.tempo_bpm, key_tonic=key_tonic, scale=scale,
        instruments=instruments, mood=piece.mood, energy=_energy_word(piece.bar_energy[first_bar:end_bar]),
        effects=rendered.effect_names, beats_per_bar=piece.beats_per_bar, time_signature=piece.time_signature)


def _write_clip_files(out_dir: Path, clip_id: str, clip: np.ndarray, chroma: np.ndarray, written: list[Path]) -> None:
    """The clip's FLAC and its descriptors with the score's chroma (float16 .npz; chroma (frames, 12), see
    engine/dataset/chroma.py); each path joins `written` once it is on disk."""
    audio_path = out_dir / "audio" / f"{clip_id}.flac"
    descriptor_path = out_dir / "descriptors" / f"{clip_id}.npz"
    _write_atomic_flac(audio_path, clip, SAMPLE_RATE)
    written.append(audio_path)
    frames = descriptors.frame_descriptors(clip, SAMPLE_RATE) | {"chroma": chroma}
    with open(descriptor_path, "wb") as handle:
        np.savez(handle, **{k: v.astype(np.float16) for k, v in frames.items()})
    written.append(descriptor_path)


def _manifest_record(rendered: _RenderedPiece, facts: captions.CaptionFacts, clip_id: str, caption: str,
                     bars: tuple[int, int], start_seconds: float, duration_seconds: float,
                     loudness_lufs: float) -> dict[str, Any]:
    piece = rendered.piece
    return {
        "clip_id": clip_id,
        "path": f"audio/{clip_id}.flac",
        "descriptors": f"descriptors/{clip_id}.npz",
        "caption": caption,
        "style": piece.style,
        "tempo": piece.tempo_bpm,
        "key": facts.key_tonic,
        "scale": facts.scale,
        "key_source": "composed" if piece.source == "composer" else "excerpt analysis",
        "beats_per_bar": piece.beats_per_bar,
        "time_signature": piece.time_signature or f"{piece.beats_per_bar}/4",
        "instruments": list(facts.instruments),
        "energy": facts.energy,
        "mood": piece.mood,
        "effects": list(rendered.effect_names),
        "source": piece.source,
        "source_piece": piece.source_name,
        "soundfont": rendered.soundfont_name,
        "split": rendered.split,
        "piece_index": rendered.index,
        "bars": [bars[0], bars[1]],
        "seconds_start": round(start_seconds, 4),
        "seconds_total": round(piece.end_seconds, 4),
        "duration_seconds": round(duration_seconds, 4),
        "sample_rate": SAMPLE_RATE,
        "channels": 2,
        "loudness_lufs": round(loudness_lufs, 2),
    }


def _cut_clip(rendered: _RenderedPiece, clip_index: int, bars: tuple[int, int], config: BuildConfig,
              output: _PieceOutput) -> None:
    """Cut clip `clip_index` (bars [first, end)), normalise it, write its files and add its rows to `output`;
    a silent clip or one with no notes is skipped with its reason."""
    piece = rendered.piece
    first_bar, end_bar = bars
    start_seconds = piece.bar_starts_seconds[first_bar]
    end_seconds = piece.bar_starts_seconds[end_bar] if end_bar < len(piece.bar_starts_seconds) else piece.end_seconds
    start_frame = int(round(start_seconds * SAMPLE_RATE))
    end_frame = int(round(end_seconds * SAMPLE_RATE))
    clip, loudness_lufs = render.normalise_loudness(rendered.wet[:, start_frame:end_frame])
    if not np.isfinite(loudness_lufs):
        output.skipped.append(f"{piece.piece_id} clip {clip_index}: silent, dropped")
        return
    facts = _clip_facts(rendered, first_bar, end_bar, start_seconds, end_seconds)
    if facts is None:  # only the previous bar's release rings here: no facts to caption
        output.skipped.append(f"{piece.piece_id} clip {clip_index}: no note starts or sounds in it, dropped")
        return
    clip_rng = np.random.default_rng([config.seed, rendered.index, clip_index, 7])
    clip_id = f"{piece.piece_id}_c{clip_index:02d}"
    chroma = score_chroma(piece.tracks, start_seconds, clip.shape[1])
    _write_clip_files(config.out_dir, clip_id, clip, chroma, output.written)
    duration_seconds = (end_frame - start_frame) / SAMPLE_RATE
    output.seconds += duration_seconds
    output.records.append(_manifest_record(rendered, facts, clip_id, captions.make_caption(facts, clip_rng), bars,
                                           start_seconds, duration_seconds, loudness_lufs))
    output.paraphrases.append({"clip_id": clip_id, "split": rendered.split,
                               "prompt": captions.make_paraphrase(facts, clip_rng)})


def render_piece(index: int) -> dict[str, Any]:
    """Worker job: compose/load, render and write all clips of piece `index`.

    Returns {"index", "records", "paraphrases", "skipped", "seconds", "soundfont"}, {"index", "error", "errno"}
    or, when the piece's soundfont cannot be loaded, {"index", "fatal": the exception}.
    """
    config = _Worker.config
    assert config is not None and _Worker.pool
    soundfont_path = soundfonts.choose_soundfont(_Worker.pool, config.seed, index)
    try:
        renderer = _renderer_for(soundfont_path)
    except render.SoundfontMissingError as error:  # the file went away or cannot be parsed: stop the build
        return {"index": index, "fatal": error}
    output = _PieceOutput(records=[], paraphrases=[], skipped=[], written=[])
    try:
        rng = np.random.default_rng([config.seed, index])
        piece, split_key, skipped = _make_piece(index, config, _Worker.works or [], rng)
        output.skipped.extend(skipped)
        rendered = _render_wet(renderer, piece, split_for(split_key), index, rng)
        clips = plan_clips(rendered.piece, rng, config.min_clip_seconds, config.max_clip_seconds)
        for clip_index, bars in enumerate(clips):
            _cut_clip(rendered, clip_index, bars, config, output)
        return {"index": index, "records": output.records, "paraphrases": output.paraphrases,
                "skipped": output.skipped, "seconds": output.seconds, "soundfont": renderer.soundfont_name}
    except OSError as error:
        _remove(output.written)
        return {"index": index, "error": f"{type(error).__name__}: {error}", "errno": error.errno}
    except Exception as error:  # a bug in one piece must not kill a 30-minute build: log and skip it
        _remove(output.written)
        log.exception("piece %d failed", index)
        return {"index": index, "records": [], "paraphrases": [], "seconds": 0.0, "failed": True,
                "skipped": [f"p{index:06d}: {type(error).__name__}: {error}"]}


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
