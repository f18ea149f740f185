"""What the live engine plays, driven offline: the ChunkStitcher chunk after chunk at the normal join, spliced into
the dry queue as the output process does (window 64, context 16, 4 frames crossfaded in the audio), with the app's
default steps and CFG scale. Shared by benchmarks/seams.py and benchmarks/quality.py ("as played live").
"""

from __future__ import annotations

import numpy as np

from engine.generate import Generator
from engine.request import GenerationRequest
from engine.stream.dry_queue import DryAudioQueue
from engine.stream.geometry import StreamGeometry
from engine.stream.stitcher import ChunkStitcher
from instrument.parameters import PARAMETER_SPECS

LIVE_GEOMETRY = StreamGeometry(64, 16, 4)
_DEFAULTS = {spec.name: spec.default for spec in PARAMETER_SPECS}
LIVE_STEPS = int(_DEFAULTS["steps"])  # the app's steps knob at start (8)
LIVE_CFG_SCALE = float(_DEFAULTS["cfg_scale"])  # the app's CFG knob at start


def live_path(generator: Generator, request: GenerationRequest, seconds: float,
              geometry: StreamGeometry = LIVE_GEOMETRY) -> tuple[np.ndarray, list[int]]:
    """(audio (channels, samples), joins: the first new latent frame of each continuation) of `seconds` played
    live with `request` held throughout."""
    samples = int(round(seconds * generator.sample_rate))
    stitcher = ChunkStitcher(generator, geometry)
    queue = DryAudioQueue(samples + 8 * geometry.window_frames * generator.hop_frames)
    joins: list[int] = []
    while queue.end < samples + geometry.window_frames * generator.hop_frames:
        chunk = stitcher.generate(request)
        if stitcher.history is not None:
            joins.append(chunk.window_start_frame + geometry.context_frames)
        queue.splice(chunk.start_sample, chunk.audio, chunk.crossfade_samples)
        stitcher.commit(chunk)
    audio = np.empty((queue.channels, samples), dtype=np.float32)
    queue.read_into(audio)
    return audio, joins
