"""A bass line through codecs, where the low notes are: a figure and a table.

    .venv/bin/python benchmarks/codec_bass_spectrogram.py --weights A.safetensors B.safetensors
        [--out docs/codec_bass_spectrogram.png]

A walking bass line (finger bass, E1-D3, quarter notes at 96 BPM, 8 bars) over sustained low piano chords,
rendered with TimGM6mb (never trained on). Row 1: the bass alone, row 2: bass and piano; columns: the input and
each codec's decode(encode(input)); 8192-point spectrograms (5.4 Hz bins), 0-400 Hz, dB re the input's peak:
each note's partials should sit where the input's do. Printed: each bass note's f0 error in cents per codec
(the estimator's own bias cancels: the output's f0 is measured against the input's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.spectra import spectrogram_db  # noqa: E402
from engine.codec.checkpoint import load_autoencoder  # noqa: E402
from engine.codec.evaluation import cents, estimate_f0_hz, render_piece  # noqa: E402
from engine.dataset.score import Note, Piece, Track  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402

TEMPO_BPM = 96.0
BASS_LINE = (28, 31, 33, 35, 36, 35, 33, 31, 29, 33, 36, 40, 38, 36, 35, 31,
             28, 32, 35, 38, 40, 38, 35, 32, 33, 36, 40, 43, 45, 43, 40, 38)  # E1 .. A2 .. D3
CHORDS = ((52, 55, 59), (53, 57, 60), (52, 56, 59), (57, 60, 64), (52, 55, 59), (52, 56, 59), (57, 60, 64), (50, 53, 57))
ZOOM_HZ = 400.0


def pieces() -> dict[str, Piece]:
    beat = 60.0 / TEMPO_BPM
    bass = [Note(p, i * beat, (i + 0.95) * beat, 100) for i, p in enumerate(BASS_LINE)]
    piano = [Note(p, bar * 4 * beat, (bar + 1) * 4 * beat, 70) for bar, chord in enumerate(CHORDS) for p in chord]
    end = len(BASS_LINE) * beat

    def piece(tracks: list[Track]) -> Piece:
        return Piece(piece_id="bass-line", source="composer", source_name="benchmark", style="test",
                     tempo_bpm=TEMPO_BPM, key_tonic="E", scale="minor", beats_per_bar=4,
                     bar_starts_seconds=[i * 4 * beat for i in range(8)], end_seconds=end, tracks=tracks,
                     bar_energy=[0.5] * 8)
    return {"bass alone": piece([Track("bass", 33, False, "bass", bass)]),
            "bass + piano": piece([Track("bass", 33, False, "bass", bass), Track("piano", 0, False, "chords", piano)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/codec_bass_spectrogram.png"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soundfont = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    models = {path.name: load_autoencoder(path).float().eval() for path in args.weights}
    rendered = {name: render_piece(piece, soundfont) for name, piece in pieces().items()}
    fig, axes = plt.subplots(2, 1 + len(models), figsize=(6 * (1 + len(models)), 10), squeeze=False)
    beat_samples = int(60.0 / TEMPO_BPM * SAMPLE_RATE)
    errors: dict[str, list[float]] = {name: [] for name in models}
    for row, (name, audio) in enumerate(rendered.items()):
        audio = np.ascontiguousarray(audio[:, :audio.shape[1] // 1024 * 1024])
        outputs = {"input": audio}
        for model_name, model in models.items():
            with torch.no_grad():
                outputs[model_name] = model.decode(model.encode(torch.from_numpy(audio)[None]))[0].numpy()
        top = float(spectrogram_db(audio.mean(axis=0))[2].max())
        for column, (label, signal) in enumerate(outputs.items()):
            freqs, times, level = spectrogram_db(signal.mean(axis=0))
            keep = freqs <= ZOOM_HZ
            axes[row, column].pcolormesh(times, freqs[keep], level[keep] - top, vmin=-70.0, vmax=0.0, cmap="magma",
                                         shading="auto")
            axes[row, column].set_title(f"{name}: {label}", fontsize=10)
            axes[row, column].set_ylabel("Hz")
            axes[row, column].set_xlabel("s")
        if name == "bass alone":
            for i, pitch in enumerate(BASS_LINE):  # the middle half of each note: steady, away from the onsets
                part = slice(i * beat_samples + beat_samples // 4, i * beat_samples + 3 * beat_samples // 4)
                nominal = 440.0 * 2 ** ((pitch - 69) / 12)
                f_in = estimate_f0_hz(audio[:, part], SAMPLE_RATE, nominal)
                for model_name in models:
                    errors[model_name].append(cents(estimate_f0_hz(outputs[model_name][:, part], SAMPLE_RATE, f_in),
                                                    f_in))
    fig.suptitle("A walking bass line (TimGM6mb, never trained on) through the codecs: 8192-point spectrograms, 0-400 Hz")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    plt.close(fig)
    print(f"wrote {args.out}")
    print("| codec | bass notes | median abs (cents) | within 10 c | within 25 c | worst |")
    print("|---|---|---|---|---|---|")
    for model_name, values in errors.items():
        e = np.abs(np.array(values))
        print(f"| {model_name} | {e.size} | {np.median(e):.1f} | {int((e <= 10).sum())} | {int((e <= 25).sum())} | "
              f"{e.max():.0f} |")
    names = " ".join(pretty_midi.note_number_to_name(p) for p in BASS_LINE)
    print(f"\nnotes: {names}")
    for model_name, values in errors.items():
        print(f"{model_name}: " + " ".join(f"{v:+.0f}" for v in values))


if __name__ == "__main__":
    main()
