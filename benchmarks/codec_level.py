"""Does the codec keep the level? Frame loudness of real clips before and after encode + decode. Prints a table.

    .venv/bin/python benchmarks/codec_level.py --dataset DS [--clips 16] [--seconds 8]

The first --clips test-split clips of DS (their first --seconds), through the shipped codec (Generator.encode then
decode, as a render's latent is decoded), measured by our loudness descriptor (engine/dataset/descriptors.py,
dBFS RMS per 1024-sample frame, the quantity `--loudness` asks for): the mean over frames before and after,
and their difference. A render asked for a loudness curve can only land where the decoder puts the model's latent,
so a level the codec loses shows as an offset in every descriptor benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402

from engine.dataset.descriptors import frame_descriptors  # noqa: E402
from engine.generate import Generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = Generator.load(traced=False)
    rows = [json.loads(line) for line in (args.dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "test"][:args.clips]
    print(f"codec level: {len(rows)} test clips of {args.dataset}, first {args.seconds:g} s, model {generator.model_id}")
    print("| clip | style | loudness in (dB) | through the codec (dB) | difference (dB) |")
    print("|---|---|---|---|---|")
    differences = []
    for row in rows:
        audio, rate = soundfile.read(args.dataset / row["path"], dtype="float32", always_2d=True,
                                     frames=int(args.seconds * 44100))
        audio = audio.T
        coded = generator.decode(generator.encode(audio))[:, :audio.shape[1]]
        before = frame_descriptors(audio, rate)["loudness_db"]
        after = frame_descriptors(coded, rate)["loudness_db"][:before.size]
        differences.append(float(np.mean(after - before[:after.size])))
        print(f"| {Path(row['path']).stem} | {row['style']} | {np.mean(before):.1f} | {np.mean(after):.1f} | "
              f"{differences[-1]:+.2f} |")
    print(f"| mean over {len(rows)} | | | | {np.mean(differences):+.2f} (min {min(differences):+.2f}, "
          f"max {max(differences):+.2f}) |")


if __name__ == "__main__":
    main()
