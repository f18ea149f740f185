"""The live engine's path driven offline (benchmarks/live_render.py), which quality.py's "as played live" row and
seams.py measure: whole chunks joined at the live geometry, reproducible, and the app's own defaults."""

import numpy as np


def test_live_path_plays_the_asked_seconds_in_chunks_joined_at_the_live_geometry() -> None:
    from benchmarks.live_render import LIVE_GEOMETRY, live_path
    from engine.debug_models import debug_generator
    from engine.request import GenerationRequest

    generator = debug_generator(0)
    request = GenerationRequest(prompts=("techno",), steps=2, seed=3, tempo_bpm=128.0)
    audio, joins = live_path(generator, request, 3.0)
    assert audio.shape == (2, 3 * generator.sample_rate) and np.isfinite(audio).all() and np.abs(audio).max() > 0
    # each continuation adds window - context frames; its first new frame follows the context it was shown
    assert joins and joins[0] == LIVE_GEOMETRY.new_frames + LIVE_GEOMETRY.context_frames
    assert set(np.diff(joins)) <= {LIVE_GEOMETRY.new_frames}
    again, _ = live_path(debug_generator(0), request, 3.0)
    assert np.array_equal(audio, again)  # the same seed plays the same audio: rows of a benchmark can be rerun


def test_live_defaults_are_the_apps_knobs_at_start() -> None:
    from benchmarks.live_render import LIVE_CFG_SCALE, LIVE_STEPS
    from instrument.parameters import PARAMETER_SPECS

    defaults = {spec.name: spec.default for spec in PARAMETER_SPECS}
    assert (LIVE_STEPS, LIVE_CFG_SCALE) == (defaults["steps"], defaults["cfg_scale"]) == (8, 4.0)
