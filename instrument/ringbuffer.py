"""A single-producer / single-consumer audio ring buffer, preallocated, lock-free.

The engine thread writes; the PortAudio callback reads. Each side only advances its own counter, and a
Python int assignment is atomic under the GIL, so no lock is needed and the callback never blocks or
allocates: `read_into` copies into the caller's preallocated output array with at most two slice copies.
"""

from __future__ import annotations

import numpy as np


class AudioRingBuffer:
    """float32 frames, shape (capacity_frames, channels) (PortAudio's interleaved layout).

    Counters grow without wrapping (Python ints); positions are taken modulo the capacity.
    """

    def __init__(self, capacity_frames: int, channels: int = 2) -> None:
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError("capacity_frames and channels must be positive")
        self.capacity_frames = capacity_frames
        self.channels = channels
        self._data = np.zeros((capacity_frames, channels), dtype=np.float32)
        self._written = 0  # owned by the producer
        self._read = 0  # owned by the consumer

    @property
    def fill_frames(self) -> int:
        """Frames written and not yet read (a snapshot: either side may move on right after)."""
        return self._written - self._read

    @property
    def free_frames(self) -> int:
        return self.capacity_frames - self.fill_frames

    @property
    def frames_read(self) -> int:
        """Total frames the consumer has taken: the playhead, in samples since start."""
        return self._read

    @property
    def frames_written(self) -> int:
        return self._written

    def write(self, frames: np.ndarray) -> int:
        """Producer: copy (n, channels) frames in; returns how many fit (the rest is for the caller to retry)."""
        if frames.ndim != 2 or frames.shape[1] != self.channels:
            raise ValueError(f"expected (frames, {self.channels}), got {frames.shape}")
        count = min(len(frames), self.free_frames)
        if count == 0:
            return 0
        start = self._written % self.capacity_frames
        first = min(count, self.capacity_frames - start)
        self._data[start:start + first] = frames[:first]
        if count > first:
            self._data[:count - first] = frames[first:count]
        self._written += count  # publish after the copy
        return count

    def read_into(self, out: np.ndarray) -> int:
        """Consumer: fill `out` (frames, channels) in place; returns frames read. A shortfall is zero-filled
        (silence) so the caller can count it as an underrun. Allocates nothing."""
        wanted = out.shape[0]
        count = min(wanted, self.fill_frames)
        start = self._read % self.capacity_frames
        first = min(count, self.capacity_frames - start)
        out[:first] = self._data[start:start + first]
        if count > first:
            out[first:count] = self._data[:count - first]
        if count < wanted:
            out[count:] = 0.0
        self._read += count  # release the space after the copy
        return count

    def clear(self) -> None:
        """Consumer side: drop everything buffered (e.g. on a hard stop)."""
        self._read = self._written
