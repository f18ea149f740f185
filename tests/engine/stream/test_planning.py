"""Adaptive steps, the bar grid and bar-line join planning."""

from __future__ import annotations

import pytest

from engine.stream import BarGrid, choose_steps, plan_join_sample
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE


def test_choose_steps() -> None:
    assert choose_steps(8, 1.0, None, 0.0) == 8, "unknown speed: as asked"
    assert choose_steps(8, 1.0, 0.05, 0.1) == 8
    assert choose_steps(16, 0.5, 0.05, 0.1) == 8
    assert choose_steps(16, 0.01, 0.05, 0.1, min_steps=2) == 2


def test_bar_grid_and_join_planning() -> None:
    grid = BarGrid(beat_at_zero=0.0, beats_per_sample=2.0 / SAMPLE_RATE, beats_per_bar=4)  # 120 BPM: bars every 2 s
    bar = 2 * SAMPLE_RATE
    assert grid.sample_at(grid.beat_at(12345.0)) == pytest.approx(12345.0)
    assert grid.bar_samples(0.5, 3 * bar) == pytest.approx([bar, 2 * bar, 3 * bar])
    assert grid.next_bar_sample(bar) == pytest.approx(bar) and grid.next_bar_sample(bar + 1) == pytest.approx(2 * bar)
    reach = 48 * LATENT_HOP_FRAMES
    # A bar line within reach: the join's crossfade ends exactly on it (not on a frame boundary).
    assert plan_join_sample(bar - 20000, bar - 20000 + reach, grid, min_new_samples=4 * LATENT_HOP_FRAMES) == bar
    # None within reach: the way to the next bar line in the fewest equal shares (88200 / 5 chunks of <= 20 frames).
    assert plan_join_sample(0, 20 * LATENT_HOP_FRAMES, grid, min_new_samples=4 * LATENT_HOP_FRAMES) == bar // 5
    # Short bars (two within reach): the farthest.
    fast = BarGrid(0.0, 8.0 / SAMPLE_RATE, 4)  # 480 BPM: bars every 0.5 s
    assert plan_join_sample(1000, 1000 + reach, fast, min_new_samples=4 * LATENT_HOP_FRAMES) == SAMPLE_RATE
    # A morph's target wins, however close; a bar line a few samples after the start counts as met.
    assert plan_join_sample(bar - 20000, bar - 20000 + reach, grid, min_new_samples=4 * LATENT_HOP_FRAMES,
                            target=bar - 19000) == bar - 19000
    # (then halfway to the bar line after: two chunks reach it)
    assert plan_join_sample(bar - 100, bar - 100 + reach, grid, min_new_samples=4 * LATENT_HOP_FRAMES,
                            bar_slack_samples=512) == bar - 100 + (bar + 100) // 2
    # Already at the end of reach: the normal join.
    assert plan_join_sample(bar - reach, bar, grid, min_new_samples=4 * LATENT_HOP_FRAMES) == bar
