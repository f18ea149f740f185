"""How closely renders follow a loudness or brightness curve at each descriptor guidance scale. Prints a table.

    .venv/bin/python benchmarks/descriptor_guidance.py --dataset DS [--trials 5] [--scales 0 0.5 1 2] [--live]

Gestures shaped as in benchmarks/quality.py on its first --trials prompts (rises, falls and swells over 8 s,
loudness -32..-14 dBFS RMS, brightness 700..5000 Hz), rendered as `cascade render PROMPT --loudness ...` would
with `--descriptor-guidance S` (CFG 3, 16 steps), measured by our numba descriptors (engine/dataset/descriptors.py)
and smoothed over 1 s. Per scale: Pearson r between the asked and measured curve (the issue's measure); the slope
of measured on asked (1 = the gesture's range comes out as asked; 2 = twice as wide: overshoot); the mean offset
(dB; octaves for brightness) and the mean absolute error. r alone rewards overshoot, hence the slope.
--live: played as the live engine plays (benchmarks/live_render.py: the stitcher, windows of 64 frames, the app's
default steps and CFG scale) instead of rendered, the curve drawn over the performance as a knob would draw it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.live_render import LIVE_CFG_SCALE, LIVE_STEPS, live_path  # noqa: E402
from benchmarks.quality import (DESCRIPTOR_GESTURES, SAMPLE_RATE, asked_and_measured,  # noqa: E402
                                evaluation_prompts, gesture_curve, load_rows, pearson)
from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

SECONDS = 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--live", action="store_true", help="play through the live stitcher instead of rendering")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = Generator.load(DEFAULT_DIFFUSION_WEIGHTS, traced=True)
    rows, paraphrases = load_rows(args.dataset)
    prompts = evaluation_prompts(rows, paraphrases, max(args.trials, 1), 0)
    frames = int(SECONDS * SAMPLE_RATE) // generator.hop_frames
    rng = np.random.default_rng(1)  # the gesture shapes of quality.py (not its exact draws)
    cfg_scale, steps = (LIVE_CFG_SCALE, LIVE_STEPS) if args.live else (3.0, 16)
    found: dict[tuple[str, float], dict[str, list[float]]] = {}
    for trial in range(args.trials):
        (_, loudness_db), (_, brightness_hz) = DESCRIPTOR_GESTURES["loudness"], DESCRIPTOR_GESTURES["brightness"]
        curves = {"loudness": gesture_curve(rng, frames, *loudness_db),
                  "brightness": np.exp(gesture_curve(rng, frames, *(math.log(hz) for hz in brightness_hz)))}
        for scale in args.scales:
            for name, curve in curves.items():
                request = GenerationRequest(prompts=(prompts[trial]["prompt"],), cfg_scale=cfg_scale, steps=steps,
                                            seed=1000 + trial, descriptors={name: curve}, descriptor_guidance=scale)
                audio = live_path(generator, request, SECONDS)[0] if args.live else generator.render(request, SECONDS)
                asked, measured = asked_and_measured(audio, name, curve, frames)
                if name == "brightness":  # ln Hz -> octaves
                    asked, measured = asked / math.log(2.0), measured / math.log(2.0)
                row = found.setdefault((name, scale), {"r": [], "slope": [], "offset": [], "error": []})
                row["r"].append(pearson(asked, measured))
                row["slope"].append(float(np.polyfit(asked, measured, 1)[0]))
                row["offset"].append(float(np.mean(measured - asked)))
                row["error"].append(float(np.mean(np.abs(measured - asked))))
        print(f"trial {trial + 1}/{args.trials} done", flush=True)
    print()
    how = "played live (the stitcher, window 64)" if args.live else "renders"
    print(f"Descriptor guidance, {args.trials} gestures each, 8 s {how}, CFG {cfg_scale:g}, {steps} steps, "
          f"model {generator.model_id}")
    print("| curve | descriptor guidance | r | slope (1 = as asked) | mean offset | mean abs error |")
    print("|---|---|---|---|---|---|")
    for (name, scale), row in found.items():
        unit = "dB" if name == "loudness" else "oct"
        print(f"| {name} | {scale:g} | {np.mean(row['r']):.3f} | {np.mean(row['slope']):.2f} | "
              f"{np.mean(row['offset']):+.2f} {unit} | {np.mean(row['error']):.2f} {unit} |")


if __name__ == "__main__":
    main()
