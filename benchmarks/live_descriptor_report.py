"""A performer's brightness and loudness knobs, played live with and without the curves' own guidance: a table and a
figure.

    .venv/bin/python benchmarks/live_descriptor_report.py [--seconds 20] [--guidance 0 1]
        [--prompt "lofi hip hop beat in A minor at 85 bpm"] [--out docs/live_descriptor_guidance.png]

The prompt (its tempo and key read from the words, as the app reads them) is played through the live stitcher
(benchmarks/live_render.py: the app's default steps and CFG) while the brightness knob sweeps 700 -> 5000 Hz and back
and the loudness knob rises -30 -> -14 dBFS RMS, once per guidance scale. For each: essentia's tempo and key against
the words, the line prominence at the codec's frame rates (hops 1024 and 256), and the Pearson r of each knob's
curve with what our descriptors measure (1 s smoothing). The figure stacks, per scale, the 8192-point spectrogram
0-1.5 kHz (notes are lines that move with the music, a fixed comb would be the codec's frame rate) over the
full-band one (where brightness shows) with the brightness knob's curve drawn on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.live_render import LIVE_CFG_SCALE, LIVE_STEPS, live_path  # noqa: E402
from benchmarks.quality import SAMPLE_RATE, asked_and_measured, pearson  # noqa: E402
from benchmarks.spectra import spectrogram_db  # noqa: E402
from engine.codec.evaluation import line_prominence_table  # noqa: E402
from engine.dataset.validate import estimate_audio  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.prompt_words import read_prompt  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

HOPS = (1024, 256)


def knob_curves(frames: int) -> dict[str, np.ndarray]:
    """The knobs' curves over the performance, one value per latent frame."""
    position = np.linspace(0.0, 1.0, frames)
    sweep = np.sin(np.pi * position)  # up and back down
    return {"brightness": np.exp(np.log(700.0) + sweep * (np.log(5000.0) - np.log(700.0))),
            "loudness": -30.0 + 16.0 * position}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--prompt", default="lofi hip hop beat in A minor at 85 bpm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/live_descriptor_guidance.png"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = Generator.load(traced=True)
    words = read_prompt(args.prompt)
    frames = int(args.seconds * SAMPLE_RATE) // generator.hop_frames
    curves = knob_curves(frames)
    print(f"'{args.prompt}' (read: {words.tempo_bpm} BPM, {words.key} {words.scale}), {args.seconds:g} s live, "
          f"{LIVE_STEPS} steps, CFG {LIVE_CFG_SCALE:g}, model {generator.model_id}")
    print("| descriptor guidance | essentia tempo | essentia key | lines hop 1024 / 256 (dB) | r brightness "
          "| r loudness |")
    print("|---|---|---|---|---|---|")
    audios = []
    for guidance in args.guidance:
        request = GenerationRequest(prompts=(args.prompt,), cfg_scale=LIVE_CFG_SCALE, steps=LIVE_STEPS, seed=args.seed,
                                    tempo_bpm=words.tempo_bpm, key=words.key, scale=words.scale,
                                    descriptors=dict(curves), descriptor_guidance=guidance)
        audio = live_path(generator, request, args.seconds)[0]
        audios.append(audio)
        estimate = estimate_audio(audio)
        lines = line_prominence_table(audio, SAMPLE_RATE, HOPS)
        r = {name: pearson(*asked_and_measured(audio, name, curve, frames)) for name, curve in curves.items()}
        print(f"| {guidance:g} | {estimate['estimated_bpm']:.1f} | {estimate['estimated_key']} "
              f"{estimate['estimated_scale']} | "
              f"{lines[1024]:.2f} / {lines[256]:.2f} | {r['brightness']:.3f} | {r['loudness']:.3f} |", flush=True)
    draw(audios, args.guidance, curves["brightness"], args.seconds, args.out)
    print(f"figure: {args.out}")


def draw(audios: list[np.ndarray], scales: list[float], brightness_hz: np.ndarray, seconds: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(audios), figsize=(6 * len(audios), 7), squeeze=False)
    for column, (audio, scale) in enumerate(zip(audios, scales)):
        mono = audio.mean(axis=0)
        for row, (fft_size, hop, top_hz) in enumerate(((8192, 1024, 1500.0), (2048, 512, 11000.0))):
            freqs, times, db = spectrogram_db(mono, fft_size, hop, top_hz)
            axis = axes[row][column]
            axis.pcolormesh(times, freqs, db, cmap="magma", vmin=db.max() - 80, vmax=db.max(), shading="auto")
            axis.set_ylabel("Hz")
            if row == 0:
                axis.set_title(f"descriptor guidance {scale:g}: 8192-point FFT, 0-1.5 kHz")
            else:
                axis.plot(np.linspace(0, seconds, brightness_hz.size), brightness_hz, color="cyan", linewidth=1,
                          label="brightness knob")
                axis.legend(loc="upper right")
                axis.set_xlabel("s")
                axis.set_title("2048-point FFT, 0-11 kHz")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
