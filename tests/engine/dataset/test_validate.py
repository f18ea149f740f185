"""engine/dataset/validate.py: how a stated tempo and an estimator's relate."""

from __future__ import annotations

import pytest

from engine.dataset.validate import tempo_relation


@pytest.mark.parametrize("stated, estimated, compound, relation", [
    (120.0, 121.0, False, "exact"), (120.0, 240.0, False, "octave"), (120.0, 60.5, False, "octave"),
    (120.0, 40.0, False, "third"), (120.0, 80.0, False, "wrong"), (120.0, 0.0, False, "wrong"),
    # a 6/8 jig stated at 141 quarters a minute is felt in dotted quarters: 94, or their double 188
    (141.0, 94.0, True, "pulse"), (141.0, 188.0, True, "pulse"), (141.0, 94.0, False, "wrong"),
    (141.0, 141.5, True, "exact"), (141.0, 110.0, True, "wrong"),
])
def test_tempo_relation(stated: float, estimated: float, compound: bool, relation: str) -> None:
    assert tempo_relation(stated, estimated, compound=compound) == relation
