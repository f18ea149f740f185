"""The dry queue's splices, markers, fades and overflow."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stream import DryAudioQueue
from engine.vocabulary import SAMPLE_RATE
from tests.engine.stream.support import max_jump, sine


def test_splice_crossfades_phase_jumps_away() -> None:
    queue = DryAudioQueue(SAMPLE_RATE * 4)
    queue.append(sine(1.0))
    join = SAMPLE_RATE // 2
    other = sine(1.0, phase=np.pi / 2)[:, join:]  # a quarter-cycle jump at the join
    result = queue.splice(join, other, crossfade_samples=4096)
    assert result is not None and result.position == join and result.crossfade_samples == 4096
    out = np.zeros((2, queue.end), np.float32)
    queue.read_into(out)
    assert queue.end == SAMPLE_RATE
    smooth = max_jump(sine(1.0))
    assert max_jump(out) <= 1.05 * smooth, "crossfaded: no step bigger than the sine's own"
    hard = np.concatenate([sine(1.0)[:, :join], other], axis=1)
    assert max_jump(hard) > 10 * smooth


def test_late_splice_lands_after_the_read_position_and_markers_follow() -> None:
    queue = DryAudioQueue(SAMPLE_RATE * 4)
    queue.append(sine(1.0))
    queue.splice(SAMPLE_RATE // 2, sine(0.5, phase=1.0), 4096, marker_time_s=10.0)
    block = np.zeros((2, SAMPLE_RATE // 2 + 1000), np.float32)
    got, markers = queue.read_into(block)
    assert got == block.shape[1] and markers == [(SAMPLE_RATE // 2, 10.0)]
    # A chunk meant for 0.25 s arrives when the consumer is already at 0.52 s: it lands at the read position.
    result = queue.splice(SAMPLE_RATE // 4, sine(1.0, phase=2.0), 4096, marker_time_s=11.0)
    assert result is not None and result.position == queue.read_position and result.late_samples > 0
    assert queue.end == SAMPLE_RATE // 4 + SAMPLE_RATE
    # A rollback over a queued marker keeps the earliest change time (it is heard with the new chunk).
    queue.splice(SAMPLE_RATE, sine(0.5), 2048, marker_time_s=12.0)
    queue.splice(SAMPLE_RATE - 5000, sine(0.5), 2048, marker_time_s=13.0)
    rest = np.zeros((2, queue.end - queue.read_position), np.float32)
    _, markers = queue.read_into(rest)
    assert [t for _, t in markers] == [11.0, 12.0]
    assert queue.splice(0, sine(0.1), 100) is None, "entirely in the past"


def test_fade_out_and_overflow() -> None:
    queue = DryAudioQueue(SAMPLE_RATE)
    queue.append(sine(0.5))
    queue.fade_out_from(SAMPLE_RATE // 4)
    out = np.zeros((2, SAMPLE_RATE // 2), np.float32)
    queue.read_into(out)
    assert np.abs(out[:, -200:]).max() < 0.01 and max_jump(out) <= 1.05 * max_jump(sine(0.5))
    with pytest.raises(OverflowError):
        queue.append(sine(1.5))
