"""Input vs reconstruction, at a frequency resolution that shows where every partial is: a figure.

    .venv/bin/python benchmarks/codec_spectrogram.py [--weights engine/weights/autoencoder.safetensors]
        [--out docs/codec_spectrogram.png]   (one command line)

Two pieces rendered with FluidSynth (engine/codec/evaluation.py): a C-major I-IV-V7-I cadence (piano and
bass, ~10 s) and an A-minor / F / C / G arpeggio of moving eighth notes (8 s). Rows 1-2: spectrograms of the
mono mix, 8192-point Hann FFT (5.4 Hz bins), hop 1024, 0-1500 Hz, dB relative to the input's peak; input
left, decode(encode(input)) right. Row 3: the long-term spectrum of each piece (Welch, 65536-point
Blackman-Harris segments, 0.67 Hz bins), input and output, with the multiples of 44100 / 1024 = 43.07 Hz
marked: a decoder whose output repeats every 1024 samples puts all its energy on those lines (the title
gives the line prominence in dB, input -> output, at hops 1024 and 256). Row 4: the same, 0-400 Hz.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.spectra import MAX_HZ, SAMPLE_RATE, long_term_db, spectrogram_db  # noqa: E402
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.evaluation import arpeggio_piece, cadence_piece, frame_line_prominence_db, render_piece  # noqa: E402

LINE_HZ = SAMPLE_RATE / 1024
ZOOM_HZ = 400.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--out", type=Path, default=Path("docs/codec_spectrogram.png"))
    parser.add_argument("--soundfont", default=None, help="default FluidR3_GM")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = load_autoencoder(args.weights)
    pieces = {"cadence, C major (I-IV-V7-I)": render_piece(cadence_piece(0, "major"), args.soundfont),
              "arpeggio, Am-F-C-G eighth notes": render_piece(arpeggio_piece(), args.soundfont)}
    fig, axes = plt.subplots(4, 2, figsize=(16, 17))
    for row, (name, audio) in enumerate(pieces.items()):
        with torch.no_grad():
            decoded = model.decode(model.encode(torch.from_numpy(audio)[None]))[0].float().numpy()
        _, _, reference_db = spectrogram_db(audio.mean(axis=0))
        top = float(reference_db.max())
        for column, (label, signal) in enumerate((("input", audio), ("decode(encode(input))", decoded))):
            freqs, times, level = spectrogram_db(signal.mean(axis=0))
            image = axes[row, column].pcolormesh(times, freqs, level - top, vmin=-80.0, vmax=0.0, cmap="magma",
                                                 shading="auto")
            axes[row, column].set_title(f"{name}: {label}")
            axes[row, column].set_ylabel("Hz")
            axes[row, column].set_xlabel("s")
            fig.colorbar(image, ax=axes[row, column], label="dB re input peak")
        freqs, level_in = long_term_db(audio)
        _, level_out = long_term_db(decoded)
        peak = float(level_in.max())
        prominence = ", ".join(
            f"hop {hop}: {frame_line_prominence_db(audio, SAMPLE_RATE, SAMPLE_RATE / hop):.1f} -> "
            f"{frame_line_prominence_db(decoded, SAMPLE_RATE, SAMPLE_RATE / hop):.1f} dB" for hop in (1024, 256))
        for ax, high_hz, title in ((axes[2, row], MAX_HZ, f"{name}: long-term spectrum, green = multiples of "
                                    f"43.07 Hz\nline prominence {prominence}"),
                                   (axes[3, row], ZOOM_HZ, f"{name}: the same, 0-{ZOOM_HZ:.0f} Hz")):
            for m in range(1, int(high_hz / LINE_HZ) + 1):
                ax.axvline(m * LINE_HZ, color="#2ca02c", alpha=0.35 if high_hz > ZOOM_HZ else 0.6, linewidth=0.8)
            ax.plot(freqs, level_in - peak, color="#1f77b4", linewidth=0.7, label="input")
            ax.plot(freqs, level_out - peak, color="#d62728", linewidth=0.7, alpha=0.85, label="output")
            ax.set_title(title, fontsize=10)
            ax.set_xlim(0, high_hz)
            ax.set_ylim(-90, 5)
            ax.set_xlabel("Hz")
            ax.set_ylabel("dB re input peak")
            ax.legend(loc="upper right")
    fig.suptitle(f"Codec round trip, {args.weights.name}: 8192-point spectrograms (5.4 Hz bins) and long-term spectra")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.98))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
