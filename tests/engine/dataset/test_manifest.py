"""The dataset folder's files: the split of a source piece."""

from __future__ import annotations

from engine.dataset import manifest


def test_splits_are_by_source_piece() -> None:
    assert manifest.split_for("corpus/bach/bwv66.6") == manifest.split_for("corpus/bach/bwv66.6")
    counts: dict[str, int] = {}
    for i in range(4000):
        split = manifest.split_for(f"composer/house/p{i:06d}")
        counts[split] = counts.get(split, 0) + 1
    assert 0.87 < counts["train"] / 4000 < 0.93 and counts["test"] > 120 and counts["valid"] > 120
