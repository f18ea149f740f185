"""The monitor tap: overwrite-oldest, never blocks the writer, readers never see overwritten audio."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from instrument.monitor import MonitorTap


def test_read_latest_and_read_since_follow_the_stream() -> None:
    tap = MonitorTap(4096)
    end, empty = tap.read_latest(100)
    assert end == 0 and empty.shape == (100, 2) and not empty.any()
    ramp = np.arange(3000, dtype=np.float32)
    tap.write(np.stack([ramp, -ramp]))
    tap.write(np.stack([ramp + 3000, -(ramp + 3000)]))  # wraps around the 4096-frame buffer
    end, latest = tap.read_latest(1000)
    assert end == 6000 and latest[-1, 0] == 5999 and latest[0, 0] == 5000 and latest[-1, 1] == -5999
    position, since = tap.read_since(5500, 10_000)
    assert position == 6000 and since[:, 0].tolist() == list(range(5500, 6000))
    position, since = tap.read_since(0, 10_000)  # fell behind: skips to what is still there (at most half)
    assert position == 6000 and since[0, 0] == 6000 - 2048
    assert tap.read_since(6000, 10)[1].shape == (0, 2)


def test_oversized_blocks_keep_the_newest_frames() -> None:
    tap = MonitorTap(1024)
    tap.write(np.arange(5000, dtype=np.float32)[None].repeat(2, axis=0))
    assert tap.frames_written == 5000
    assert tap.read_latest(10)[1][:, 0].tolist() == list(range(4990, 5000))
    with pytest.raises(ValueError):
        MonitorTap(10)


def test_a_concurrent_reader_sees_only_consistent_runs() -> None:
    tap = MonitorTap(8192)
    stop = threading.Event()
    bad: list[int] = []

    def writer() -> None:
        counter = 0
        while not stop.is_set():
            block = (np.arange(counter, counter + 256) % 65536).astype(np.float32)  # exact in float32
            tap.write(np.stack([block, block]))
            counter += 256

    thread = threading.Thread(target=writer)
    thread.start()
    position = 0
    reads = 0
    try:
        while reads < 2000 or position < 100_000:  # until the writer has lapped the buffer many times
            position, frames = tap.read_since(position, 4096)
            reads += 1
            if frames.shape[0] > 1 and not np.all(np.diff(frames[:, 0]) % 65536 == 1):
                bad.append(position)
    finally:
        stop.set()
        thread.join()
    assert bad == [] and position > 0
