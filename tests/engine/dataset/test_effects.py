"""The randomised effect chain: seeded, varied, shape-preserving."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dataset import effects, render
from tests.engine.dataset.test_render import small_piece


@pytest.fixture(scope="module")
def renderer() -> render.FluidRenderer:
    return render.FluidRenderer()


def test_effect_chain_is_seeded_and_keeps_shape(renderer: render.FluidRenderer) -> None:
    audio = renderer.render(small_piece())
    names_a = [c.name for c in effects.random_effect_chain("rock", 120.0, np.random.default_rng(3))]
    names_b = [c.name for c in effects.random_effect_chain("rock", 120.0, np.random.default_rng(3))]
    assert names_a == names_b
    seen: set[str] = set()
    for seed in range(40):
        chain = effects.random_effect_chain("rock", 120.0, np.random.default_rng(seed))
        seen.update(c.name for c in chain)
    assert {"reverb", "delay", "chorus", "distortion", "compression"} <= seen
    chain = effects.random_effect_chain("rock", 120.0, np.random.default_rng(1))
    wet = effects.apply_effects(audio, chain)
    assert wet.shape == audio.shape and np.all(np.isfinite(wet))
