"""Offline replay of a performance's chunk log (`cascade rerender`, a take's re-render): the same chunks,
spliced where they landed live, with no thread and no clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.generate import Generator
from engine.request import request_from_json
from engine.stream.dry_queue import DryAudioQueue
from engine.stream.geometry import StreamGeometry
from engine.stream.stitcher import ChunkStitcher
from engine.vocabulary import AUDIO_CHANNELS


def render_chunk_log(generator: Generator, records: Sequence[dict[str, Any]], geometry: StreamGeometry,
                     *, steps: int | None = None, end_sample: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Re-run a performance's chunk log offline: the dry stream (2, samples) float32 from sample 0.

    Each record (ChunkRecord.to_json) is replayed in order with the same request, seed, chunk index and
    geometry; `steps` overrides every chunk's step count (a re-render at higher quality). Audio is read
    out of the queue up to where each record landed live (as the pump had), so late splices and
    rollbacks land on the same samples. Rolled-back chunks are generated too: their early frames were the
    next chunk's context. `end_sample`: stop once the stream reaches it (the rest is not needed).
    """
    stitcher = ChunkStitcher(generator, geometry)
    queue = DryAudioQueue(int(60 * generator.sample_rate) + 4 * geometry.window_frames * generator.hop_frames)
    reader = _QueueReader(queue)
    for number, record in enumerate(records):
        landed = int(record.get("sample", 0))
        if end_sample is not None and landed >= end_sample:
            break
        reader.read_until(int(record.get("read_sample", landed)))
        if record.get("kind", "chunk") == "gap":
            _replay_gap(stitcher, queue, record)
        else:
            _replay_chunk(stitcher, queue, record, steps)
        if progress:
            progress(number + 1, len(records))
    reader.read_until(queue.end if end_sample is None else end_sample)
    return reader.audio()


class _QueueReader:
    """Reads the replay's queue as the pump read it live, keeping what it read."""

    def __init__(self, queue: DryAudioQueue) -> None:
        self.queue = queue
        self.parts: list[np.ndarray] = []

    def read_until(self, sample: int) -> None:
        queue = self.queue
        n = min(sample, queue.end) - queue.read_position
        if n > 0:
            block = np.empty((queue.channels, n), dtype=np.float32)
            queue.read_into(block)
            self.parts.append(block)

    def audio(self) -> np.ndarray:
        """Everything read: (channels, samples) float32."""
        if not self.parts:
            return np.zeros((AUDIO_CHANNELS, 0), dtype=np.float32)
        return np.concatenate(self.parts, axis=-1)


def _replay_gap(stitcher: ChunkStitcher, queue: DryAudioQueue, record: dict[str, Any]) -> None:
    """A failed generation live: the queued tail faded out, silence appended, the history forgotten."""
    landed = int(record.get("sample", 0))
    if stitcher.history is not None:
        queue.fade_out_from(landed)
    target_end = landed + int(record.get("gap_samples", 0))
    if target_end > queue.end:
        queue.append(np.zeros((queue.channels, target_end - queue.end), dtype=np.float32))
    stitcher.reset(queue.end // stitcher.hop)


def _replay_chunk(stitcher: ChunkStitcher, queue: DryAudioQueue, record: dict[str, Any], steps: int | None) -> None:
    """One chunk regenerated with its logged request, chunk index and splice (`steps`: override its steps)."""
    request = request_from_json(record["request"])
    chunk_steps = int(steps or record.get("steps") or request.steps)
    stitcher.chunk_index = int(record.get("index", stitcher.chunk_index))
    if record.get("fresh") or stitcher.history is None:
        stitcher.reset(int(record.get("window_start_frame", queue.end // stitcher.hop)))
        chunk = stitcher.generate(request, None, chunk_steps)
    else:
        chunk = stitcher.generate(request, int(record["crossfade_frame"]), chunk_steps)
    offset_samples = int(record.get("splice_offset", 0))
    queue.splice(chunk.start_sample + offset_samples, chunk.audio[:, offset_samples:], chunk.crossfade_samples)
    stitcher.commit(chunk)
