"""A non-blocking monitor tap: the output pump writes each post-effects block here, a display or analysis
thread reads the latest frames. No Qt, no locks on the writer's side.

Why not a queue: the pump must never wait for a slow reader (the GUI may stall, or nobody may be
looking), so the tap is a preallocated overwrite-oldest ring. The writer copies the block in and then
advances `frames_written` (one int store, atomic under the GIL); a reader copies out the frames it wants
and checks afterwards whether the writer lapped it meanwhile (then it drops what it read and retries or
gives up). Audio seen by a reader is therefore never torn, only sometimes skipped.
"""

from __future__ import annotations

import numpy as np

from engine.vocabulary import SAMPLE_RATE

DEFAULT_CAPACITY_FRAMES = 1 << 17  # 3.0 s at 44.1 kHz: the analysis thread polls every ~20 ms


class MonitorTap:
    """Single writer (the pump thread), any number of readers. Frames are (channels,) float32 samples."""

    def __init__(self, capacity_frames: int = DEFAULT_CAPACITY_FRAMES, channels: int = 2,
                 sample_rate: int = SAMPLE_RATE) -> None:
        if capacity_frames < 1024 or channels < 1:
            raise ValueError(f"capacity_frames must be >= 1024 and channels >= 1, got {capacity_frames}, {channels}")
        self.capacity_frames = int(capacity_frames)
        self.channels = int(channels)
        self.sample_rate = int(sample_rate)
        self._buffer = np.zeros((self.capacity_frames, self.channels), dtype=np.float32)
        self.frames_written = 0  # total frames ever written; advanced only after the data is in place

    # --- the writer (pump thread) --------------------------------------------------------------------------

    def write(self, block: np.ndarray) -> None:
        """Copy a (channels, frames) block in (the pump's layout), overwriting the oldest frames."""
        frames = block.shape[-1]
        if frames == 0:
            return
        if frames > self.capacity_frames:  # only the newest capacity_frames can be kept anyway
            block = block[:, -self.capacity_frames:]
            self.frames_written += frames - self.capacity_frames
            frames = self.capacity_frames
        start = self.frames_written % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        self._buffer[start:start + first] = block[:, :first].T
        if first < frames:
            self._buffer[:frames - first] = block[:, first:].T
        self.frames_written += frames

    # --- readers -------------------------------------------------------------------------------------------

    def _copy(self, start_frame: int, frames: int) -> np.ndarray:
        out = np.empty((frames, self.channels), dtype=np.float32)
        start = start_frame % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        out[:first] = self._buffer[start:start + first]
        if first < frames:
            out[first:] = self._buffer[:frames - first]
        return out

    def read_latest(self, frames: int) -> tuple[int, np.ndarray]:
        """(end frame, the newest `frames` frames as (frames, channels)); zeros before anything was written."""
        frames = max(0, min(int(frames), self.capacity_frames // 2))
        for _ in range(3):
            end = self.frames_written
            start = end - frames
            if start < 0:
                out = np.zeros((frames, self.channels), dtype=np.float32)
                if end > 0:
                    out[-end:] = self._copy(0, end)
            else:
                out = self._copy(start, frames)
            # The writer may have overwritten part of what we copied only if it got a whole lap ahead.
            if self.frames_written - start <= self.capacity_frames:
                return end, out
        return end, out

    def read_since(self, position: int, max_frames: int) -> tuple[int, np.ndarray]:
        """Frames written after stream frame `position` (at most `max_frames`, the newest if more are
        waiting): returns (new position, (frames, channels)). A reader that fell behind by more than the
        capacity skips ahead instead of reading overwritten audio."""
        end = self.frames_written
        start = max(int(position), end - min(int(max_frames), self.capacity_frames // 2))
        if start >= end:
            return end, np.zeros((0, self.channels), dtype=np.float32)
        out = self._copy(start, end - start)
        if self.frames_written - start > self.capacity_frames:  # lapped while copying: drop this read
            return self.frames_written, np.zeros((0, self.channels), dtype=np.float32)
        return end, out
