"""The chunk layout of a stream, in latent frames: how much each chunk generates, takes from the stream so far,
pins, and crossfades.

Chunk geometry (latent frames, hop 1024 samples = 23.2 ms at 44.1 kHz): a window of W frames starts with C
context frames copied from the stream so far. The first C - K are pinned (shown to the model, and the sampler
lands on them exactly); the last K are generated afresh without being shown (Generator.generate_chunk says why),
and their audio is crossfaded with the audio already queued for those frames (engine.stream.crossfade). A chunk
so adds W - C frames to the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.request import GenerationError


@dataclass(frozen=True)
class StreamGeometry:
    """Chunk layout in latent frames. window_frames must be a multiple of the U-Net's frame multiple."""

    window_frames: int = 64  # W: frames generated per chunk (1.49 s)
    context_frames: int = 16  # C: leading frames taken from the stream so far
    crossfade_frames: int = 4  # K: the last K context frames are regenerated and crossfaded (93 ms)

    @property
    def pin_frames(self) -> int:
        return self.context_frames - self.crossfade_frames

    @property
    def new_frames(self) -> int:
        """Frames a chunk adds to the stream (W - C)."""
        return self.window_frames - self.context_frames

    def validate(self, frame_multiple: int) -> "StreamGeometry":
        if self.window_frames <= 0 or self.window_frames % frame_multiple:
            raise GenerationError(f"window_frames must be a positive multiple of {frame_multiple}")
        if not 0 < self.crossfade_frames < self.context_frames < self.window_frames:
            raise GenerationError("need 0 < crossfade_frames < context_frames < window_frames")
        return self
