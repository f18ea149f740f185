"""Does a render play the tempo the knob or --tempo asks for across the fast end of the range? Prints a table.

    .venv/bin/python benchmarks/tempo_range.py [--tempi 140 150 160 170 180] [--seconds 12] [--steps 16]

Six prompts of fast styles (no tempo in their words), each rendered at every tempo with the tempo given as a
control (as `cascade render PROMPT --tempo T`; seed = the prompt's row), the shipped model; essentia's tempo of
each render and its relation to the asked one (exact: within 4 %; octave: x2 or /2; else the ratio).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.dataset.validate import estimate_audio, tempo_relation  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

PROMPTS = ("energetic techno with a driving kick", "punk rock band, fast and loud",
           "drum and bass with a rolling bassline", "hyperpop with bright synths", "bebop jazz quartet",
           "happy hardcore rave")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tempi", type=float, nargs="+", default=[140.0, 150.0, 160.0, 170.0, 180.0])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--cfg", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator = Generator.load(traced=True)
    print(f"shipped diffusion model ({generator.model_id}), {args.steps} steps, CFG {args.cfg:g}, "
          f"{args.seconds:g} s renders, seed = row; essentia's BPM (relation to the asked tempo)")
    print("| prompt | " + " | ".join(f"{t:g} BPM" for t in args.tempi) + " |")
    print("|---|" + "---|" * len(args.tempi))
    exact = {t: 0 for t in args.tempi}
    for row, prompt in enumerate(PROMPTS):
        cells = []
        for tempo in args.tempi:
            request = GenerationRequest(prompts=(prompt,), steps=args.steps, cfg_scale=args.cfg, seed=row,
                                        tempo_bpm=tempo)
            heard = estimate_audio(generator.render(request, args.seconds))["estimated_bpm"]
            relation = tempo_relation(tempo, heard)
            exact[tempo] += relation == "exact"
            cells.append(f"{heard:.1f} ({relation})")
        print(f"| {prompt} | " + " | ".join(cells) + " |", flush=True)
    print("| at the asked tempo (Acc1) | " + " | ".join(f"{exact[t]} / {len(PROMPTS)}" for t in args.tempi) + " |")


if __name__ == "__main__":
    main()
