"""Seams between generated chunks, in offline renders and on the live path. Prints a table.

    .venv/bin/python benchmarks/seams.py [--prompts 12] [--seconds 30] [--seed 3000] [--paths render live]

Each prompt (tempo and key in its words, read as `cascade render` reads them) is rendered for --seconds:
  render: `Generator.render` (window 128, context 32, the last 8 context frames crossfaded in the latent, 16 steps);
  live:   the live engine's ChunkStitcher driven offline (window 64, context 16, 4 frames crossfaded in the audio
          with the stream's phase state, 8 steps), chunk after chunk at the normal join, as the engine thread
          splices them when nothing is changed.
Measured on the audio with benchmarks/quality.py's flux and joins: positive log-spectral flux (2048-point frames, hop 1024 = one
latent frame) at the joins (the frames j-2, j-1, j around the first new frame j) over the flux elsewhere
(`seam_ratio`; issue 16's bar: <= 1.2), the same over the whole crossfade and join (j-K-2 .. j+1: a seam that
moves within the overlap is still counted), the mean flux profile around the joins (over the render's median),
and the level over each crossfade against the frames either side (a blend that sags dips).
Uses public APIs only, so the same script measures any earlier tree.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.live_render import LIVE_GEOMETRY, LIVE_STEPS, live_path  # noqa: E402
from benchmarks.quality import JOIN_OFFSETS, join_mask, spectral_flux  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.prompt_words import read_prompt  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

PROMPTS = (
    "solo piano ballad in Eb major at 72 bpm",
    "deep house groove at 124 bpm in F minor",
    "jazz trio in D minor at 140 bpm",
    "slow ambient strings in C major at 60 bpm",
    "acoustic guitar folk song in G major at 96 bpm",
    "funk band at 110 bpm in E minor",
    "lofi hip hop beat in A minor at 85 bpm",
    "string quartet in D major at 100 bpm",
    "synthwave at 118 bpm in C minor",
    "solo harp arpeggios in F major at 66 bpm",
    "latin jazz in G minor at 132 bpm",
    "marimba and flute in Bb major at 92 bpm",
)
RENDER_WINDOW, RENDER_CONTEXT, RENDER_CROSSFADE, RENDER_STEPS = 128, 32, 8, 16
PROFILE_OFFSETS = tuple(range(-6, 7))


def seam_ratio(flux: np.ndarray, joins: list[int], offsets: tuple[int, ...]) -> float:
    """Mean flux at the joins' offsets over the mean flux everywhere else."""
    at_join = join_mask(flux.size, joins, offsets)
    return float(flux[at_join].mean() / flux[~at_join].mean())


LEVEL_NEIGHBOUR_FRAMES = 8


def frame_levels_db(audio: np.ndarray, hop: int = 1024) -> np.ndarray:
    """Mean-square level of each latent frame (hop samples) of (channels, samples), in dB."""
    frames = audio.shape[1] // hop
    power = np.mean(audio[:, :frames * hop].reshape(audio.shape[0], frames, hop) ** 2, axis=(0, 2))
    return 10 * np.log10(power + 1e-12)


def crossfade_level_db(audio: np.ndarray, joins: list[int], crossfade_frames: int) -> float:
    """Mean level over each crossfade (frames j-K..j-1) minus the mean over the LEVEL_NEIGHBOUR_FRAMES frames on
    either side, averaged over the joins: negative is a dip; NaN when no join has neighbours on both sides."""
    levels = frame_levels_db(audio)
    k, n = crossfade_frames, LEVEL_NEIGHBOUR_FRAMES
    dips = [levels[j - k:j].mean() - np.r_[levels[j - k - n:j - k], levels[j:j + n]].mean()
            for j in joins if j - k - n >= 0 and j + n <= levels.size]
    return float(np.mean(dips)) if dips else float("nan")


def render_path(generator: Generator, request: GenerationRequest, seconds: float) -> tuple[np.ndarray, list[int]]:
    """Generator.render, and its joins (the first new frame of each continuation)."""
    audio = generator.render(request, seconds, window_frames=RENDER_WINDOW, context_frames=RENDER_CONTEXT,
                             crossfade_frames=RENDER_CROSSFADE)
    total = audio.shape[1] // generator.hop_frames
    return audio, list(range(RENDER_WINDOW, total, RENDER_WINDOW - RENDER_CONTEXT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help=f"how many of the {len(PROMPTS)} prompts")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=3000, help="prompt i renders with seed + i")
    parser.add_argument("--paths", nargs="+", choices=("render", "live"), default=["render", "live"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = Generator.load(traced=True)
    rows = []
    started = time.monotonic()
    for path in args.paths:
        crossfade = RENDER_CROSSFADE if path == "render" else LIVE_GEOMETRY.crossfade_frames
        steps = RENDER_STEPS if path == "render" else LIVE_STEPS
        narrow, wide, profiles, level_dips = [], [], [], []
        for index, prompt in enumerate(PROMPTS[:args.prompts]):
            words = read_prompt(prompt)
            request = GenerationRequest(prompts=(prompt,), cfg_scale=3.0, steps=steps, tempo_bpm=words.tempo_bpm,
                                        key=words.key, scale=words.scale, seed=args.seed + index,
                                        seconds_total=args.seconds)
            with torch.no_grad():
                audio, joins = (render_path if path == "render" else live_path)(generator, request, args.seconds)
            flux = spectral_flux(audio)
            narrow.append(seam_ratio(flux, joins, JOIN_OFFSETS))
            level_dips.append(crossfade_level_db(audio, joins, crossfade))
            wide.append(seam_ratio(flux, joins, tuple(range(-crossfade - 2, 2))))
            median = float(np.median(flux))
            profile = [[flux[j + o] / median for o in PROFILE_OFFSETS] for j in joins
                       if 0 <= j + PROFILE_OFFSETS[0] and j + PROFILE_OFFSETS[-1] < flux.size]
            profiles.append(np.mean(profile, axis=0))
            print(f"[{time.monotonic() - started:.0f} s] {path} {index + 1}/{args.prompts}: {narrow[-1]:.3f}", flush=True)
        rows.append((path, narrow, wide, np.mean(profiles, axis=0), level_dips))
    print()
    print(f"Seams, {args.prompts} prompts x {args.seconds:.0f} s, seeds {args.seed}.., model {generator.model_id}, "
          f"{platform.machine()} {args.threads} threads")
    print("| path | seam ratio (j-2..j): mean | max | renders > 1.2 | over crossfade + join (j-K-2..j+1): mean | target "
          f"| level over the crossfade vs {LEVEL_NEIGHBOUR_FRAMES} frames either side (dB): mean | lowest render |")
    print("|---|---|---|---|---|---|---|---|")
    for path, narrow, wide, _, dips in rows:
        print(f"| {path} | {np.mean(narrow):.3f} | {np.max(narrow):.3f} | {sum(r > 1.2 for r in narrow)} of "
              f"{len(narrow)} | {np.mean(wide):.3f} | <= 1.2 | {np.mean(dips):+.2f} | {np.min(dips):+.2f} |")
    print()
    print("| path | flux / median at join offsets " + " ".join(f"{o:+d}" for o in PROFILE_OFFSETS) + " |")
    print("|---|---|")
    for path, _, _, profile, _ in rows:
        print(f"| {path} | " + " ".join(f"{x:.2f}" for x in profile) + " |")
    print("\nper render (seam ratio): " + "; ".join(
        f"{path}: " + " ".join(f"{r:.2f}" for r in narrow) for path, narrow, _, _, _ in rows))
    print("per render (level over the crossfade, dB): " + "; ".join(
        f"{path}: " + " ".join(f"{d:+.2f}" for d in dips) for path, _, _, _, dips in rows))


if __name__ == "__main__":
    main()
