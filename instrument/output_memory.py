"""The output's shared memory: one anonymous mapping that the session and the output process both map.

Layout, in order: a status block of float64 slots (start/stop requests, master gain, counters, the play anchor;
the slot names below), the effects pump's block (instrument.effects_pump.shared), then four AudioRingBuffers:
the output ring (the pump writes, the PortAudio callback reads and only copies), the shadow ring (the pump's
shadow chain writes further ahead; the callback plays from it what the output ring lacks), the dry ring (the
session's feeder writes dry audio, the pump reads) and the return ring (the pump writes the wet audio back for
the take and the monitor). Also the states and exit code the two processes agree on.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from typing import Any

import numpy as np

from instrument.effects_pump import PUMP_BYTES, PumpShared, read_pair_under_sequence
from instrument.ringbuffer import AudioRingBuffer

STATUS_SLOTS = 32
STATUS_BYTES = 8 * STATUS_SLOTS  # a multiple of 64: the ring's counters stay cache-line aligned after it
(HEARTBEAT, STATE, START_REQUEST, STOP_REQUEST, GAIN, CALLBACKS, UNDERRUNS, PORTAUDIO_UNDERFLOWS, NONFINITE_BLOCKS,
 PEAK, ANCHOR_SEQUENCE, ANCHOR_TIME_S, ANCHOR_FRAME, SHADOW_CALLBACKS, SHADOW_FRAMES) = range(15)
STATE_OPENING, STATE_READY, STATE_RUNNING, STATE_STOPPED, STATE_LOST, STATE_FAILED = range(6)
EXIT_LOST = 3  # the output process's exit code when its stream died under it (server or device gone)


def _anonymous_fd(size_bytes: int) -> int:
    """A file descriptor of `size_bytes` of zeroed memory that a child can map: memfd on Linux, else an
    unlinked temporary file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("cascade-output")
    else:  # pragma: no cover - macOS/BSD
        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    os.ftruncate(fd, size_bytes)
    return fd


DRY_RING_FRAMES = 1 << 14  # 0.37 s: the feeder's lead is at most 4096 frames
RETURN_RING_FRAMES = 1 << 19  # 11.9 s of wet audio for the take: the session may fall seconds behind


def memory_size_bytes(ring_frames: int, channels: int) -> int:
    return (STATUS_BYTES + PUMP_BYTES + 2 * AudioRingBuffer.nbytes(ring_frames, channels)
            + AudioRingBuffer.nbytes(DRY_RING_FRAMES, channels) + AudioRingBuffer.nbytes(RETURN_RING_FRAMES, channels))


class MemoryLayout:
    """The views over one mapping, the same in the session and in the output process."""

    def __init__(self, buffer: Any, ring_frames: int, channels: int) -> None:
        view = memoryview(buffer)
        self.status = np.frombuffer(buffer, dtype=np.float64, count=STATUS_SLOTS)
        self.pump = PumpShared(view[STATUS_BYTES:STATUS_BYTES + PUMP_BYTES])
        offset = STATUS_BYTES + PUMP_BYTES
        self.ring = AudioRingBuffer(ring_frames, channels, buffer=view[offset:])
        offset += AudioRingBuffer.nbytes(ring_frames, channels)
        self.shadow_ring = AudioRingBuffer(ring_frames, channels, buffer=view[offset:])
        offset += AudioRingBuffer.nbytes(ring_frames, channels)
        self.dry_ring = AudioRingBuffer(DRY_RING_FRAMES, channels, buffer=view[offset:])
        offset += AudioRingBuffer.nbytes(DRY_RING_FRAMES, channels)
        self.return_ring = AudioRingBuffer(RETURN_RING_FRAMES, channels, buffer=view[offset:])


class SharedOutputMemory:
    """The status block, the effects pump's block and the three rings (output, dry, return), in memory the
    output process maps too. Owned by the session; outlives any one output process (a restarted output
    continues the same rings)."""

    def __init__(self, ring_frames: int, channels: int = 2) -> None:
        self.ring_frames = ring_frames
        self.channels = channels
        self.size_bytes = memory_size_bytes(ring_frames, channels)
        self.fd = _anonymous_fd(self.size_bytes)
        self._map = mmap.mmap(self.fd, self.size_bytes)
        layout = MemoryLayout(self._map, ring_frames, channels)
        self.status = layout.status
        self.pump = layout.pump
        self.ring = layout.ring
        self.shadow_ring = layout.shadow_ring
        self.dry_ring = layout.dry_ring
        self.return_ring = layout.return_ring

    def reset_status(self, gain: float = 1.0) -> None:
        """Before a new output process starts: zero its counters and requests."""
        self.status[:] = 0.0
        self.status[GAIN] = gain

    def close(self) -> None:
        """Drop the descriptor (the mapping stays valid while anything still uses the ring)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_anchor(status: np.ndarray) -> tuple[float, int] | None:
    """The play anchor under its sequence counter (the child writes it from one thread)."""
    pair = read_pair_under_sequence(status, ANCHOR_SEQUENCE, ANCHOR_TIME_S, ANCHOR_FRAME)
    return None if pair is None else (pair[0], int(pair[1]))
