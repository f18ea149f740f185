"""The ceiling of every offline render: the last stage before a file, so no render exceeds full scale.

Torch-free: `Generator.render` and `Generator.audio_to_audio` end here, and a tool that checks a file can
read the same ceiling.
"""

from __future__ import annotations

import numpy as np

RENDER_PEAK = 10 ** (-1.0 / 20)  # -1 dBFS


def under_peak(audio: np.ndarray, peak: float = RENDER_PEAK) -> np.ndarray:
    """An offline render scaled down as a whole when its peak is above `peak` (a loud request through the
    phase-integrating decoder can line partials up past full scale); quieter audio is returned unchanged.
    The last stage before every offline file: NaN/inf samples become silence first (one NaN would otherwise
    turn the whole scaled render into NaN), so no render can exceed full scale whatever its settings."""
    if not np.isfinite(audio).all():
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    highest = float(np.abs(audio).max()) if audio.size else 0.0
    return audio if highest <= peak else (audio * (peak / highest)).astype(np.float32)
