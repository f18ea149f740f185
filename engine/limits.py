"""The value ranges a generation request accepts, in one place and free of torch: `GenerationRequest.validated`
enforces them, and the `cascade` command line checks its options against them while it parses (before any
model loads), so a bad value costs the user no render time."""

from __future__ import annotations

CFG_SCALE_RANGE: tuple[float, float] = (0.0, 30.0)  # 0: guidance off; past ~30 a guided step only overshoots
DESCRIPTOR_GUIDANCE_RANGE: tuple[float, float] = (0.0, 10.0)  # the descriptor curves' own guidance scale
NEGATIVE_SCALE_RANGE: tuple[float, float] = (0.0, 30.0)  # the negative prompt's guidance: the same scale as CFG
STEPS_RANGE: tuple[int, int] = (1, 200)  # sampler steps per chunk
TEMPO_BPM_RANGE: tuple[float, float] = (20.0, 400.0)
VARIATION_RANGE: tuple[float, float] = (0.0, 1.0)
BEATS_PER_BAR_RANGE: tuple[int, int] = (1, 16)  # the bars chords and the key's chord changes fall on
RENDER_SECONDS_MAX: float = 3600.0  # one offline render (any length above 0 up to this)
PROMPT_WEIGHT_MAX: float = 1000.0  # blend weights are normalised by their sum; this only keeps them sane
